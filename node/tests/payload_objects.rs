//! A node whose payloads are in S3-compatible object storage (a SeaweedFS server on loopback)
//! and whose bucket stops answering: writes fail with 503 and nothing is committed, a scan
//! cannot complete and says so, and nothing is taken for damage (no payload repaired, no
//! store rebuilt); once the bucket answers again, everything is as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use common::*;
use medchain_testkit::seaweed::Seaweed;

const RECORD: &str = r#"{"kind":"create","patient":"MRN-1","payload":{"resourceType":"Observation","note":"kept in the bucket"},"actor":"dr-1"}"#;

#[test]
fn an_unreachable_bucket_fails_closed_and_is_never_taken_for_damage() {
    let Some(mut server) = Seaweed::start() else {
        return;
    };
    let ca = Ca::new(BIN);
    let credentials = server.credentials_file(&ca.dir);
    let mut args = vec!["--api-plain-http".to_owned()];
    args.extend(server.init_args("a/", &credentials));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let setup = ca.node_with("a", "provider", "Hospital A", &[], &args);
    let mut a = start(&setup);
    a.resume_alone(&setup.token);
    a.writable(&setup.token);
    let (status, text) = a.http("POST", "/v1/records", &setup.token, Some(RECORD));
    assert_eq!(status, 201, "{text}");
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let record = record["record"].as_str().unwrap().to_owned();
    let (_, blocks_before) = a.http("GET", "/v1/status", &setup.token, None);

    server.stop();
    // A write cannot store its payload: refused as unavailable, and no block is committed.
    let (status, text) = a.http("POST", "/v1/records", &setup.token, Some(RECORD));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("payload object store"), "{text}");
    // A scan cannot read the payloads: it fails, and says so; no damage is reported.
    let (status, _) = a.http("POST", "/v1/verify", &setup.token, None);
    assert_eq!(status, 500);
    a.wait_for(
        "integrity check could not complete",
        Duration::from_secs(30),
    );

    server.restart();
    let (status, report) = a.http("POST", "/v1/verify", &setup.token, None);
    assert_eq!(status, 200, "{report}");
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(report["damaged_payloads"], serde_json::json!([]));
    let (_, blocks_after) = a.http("GET", "/v1/status", &setup.token, None);
    let blocks =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).unwrap()["blocks"].clone();
    // The refused write left no block behind.
    assert_eq!(blocks(&blocks_before), blocks(&blocks_after));
    let (status, text) = a.http("GET", &format!("/v1/records/{record}"), &setup.token, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("kept in the bucket"), "{text}");
    let (code, lines) = a.terminate_with_log();
    assert_eq!(code, 0);
    for line in &lines {
        assert!(
            !line.contains("damaged payloads found") && !line.contains("store marked damaged"),
            "{line}"
        );
    }
}
