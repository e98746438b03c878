//! A member certificate renewed for the same key (`ca request --key`, `ca issue --csr`) and
//! copied over the configured file is taken by the running node: the next block of its chain
//! carries it, the status and gauges show its expiry, and a certificate for another key is not
//! taken. No restart.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::Duration;

use common::*;
use medchain_protocol::CertHash;
use medchain_protocol::identity::pem_to_der_cert;

/// The value of `key = "..."` in the node's configuration.
fn configured(config: &std::path::Path, key: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key} =")))
        .unwrap_or_else(|| panic!("no {key} in {text}"));
    line.split('"').nth(1).unwrap().into()
}

#[test]
fn a_renewed_certificate_is_taken_without_a_restart() {
    let ca = Ca::new(BIN);
    let s = ca.node("a", "provider", "Hospital A", &[]);
    let mut node = start(&s);
    node.resume_alone(&s.token);
    let body = r#"{"kind":"create","patient":"MRN-1","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#;
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(body));
    assert_eq!(status, 201, "{text}");
    let chain = serde_json::from_str::<serde_json::Value>(&text).unwrap()["entry"]["chain"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_of = |node: &Node| {
        let (_, text) = node.http("GET", "/v1/status", &s.token, None);
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["certificates"]["member_not_after"]
            .as_i64()
            .unwrap()
    };
    let before = status_of(&node);

    // A certificate for another key is reported and not taken.
    let member_cert = configured(&s.config, "member_cert");
    let original = std::fs::read(&member_cert).unwrap();
    let stranger = ca.member("stranger", "provider", "Hospital A");
    std::fs::copy(stranger.join("member.pem"), &member_cert).unwrap();
    node.wait_for("another signing key", Duration::from_secs(30));
    assert_eq!(status_of(&node), before, "the certificate in force stays");

    // A certificate for the node's signing key but another encryption key is not taken either:
    // grants would release keys to one this node does not hold.
    let tmp = tempfile::tempdir().unwrap();
    let (wrong, wrong_issued) = (tmp.path().join("wrong"), tmp.path().join("wrong-issued"));
    let key = configured(&s.config, "member_key");
    request_for_keys(&wrong, &key, &stranger.join("encryption.key"));
    issue_request(&ca.dir, &wrong, &wrong_issued, &["--days", "400"]);
    std::fs::copy(wrong_issued.join("member.pem"), &member_cert).unwrap();
    node.wait_for("another encryption key", Duration::from_secs(30));
    assert_eq!(status_of(&node), before, "the certificate in force stays");

    // The renewal: a request for the node's own keys, issued for 400 days.
    let (request, issued) = (tmp.path().join("request"), tmp.path().join("issued"));
    request_for_keys(&request, &key, &configured(&s.config, "encryption_key"));
    issue_request(&ca.dir, &request, &issued, &["--days", "400"]);
    let renewed_pem = std::fs::read_to_string(issued.join("member.pem")).unwrap();
    assert_ne!(renewed_pem.as_bytes(), &original[..]);
    std::fs::write(&member_cert, &renewed_pem).unwrap();
    node.wait_for("renewed member certificate taken", Duration::from_secs(30));
    assert!(
        status_of(&node) > before,
        "the status shows the renewal's expiry"
    );

    // The next block carries it; the chain goes on.
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(body));
    assert_eq!(status, 201, "{text}");
    let height = serde_json::from_str::<serde_json::Value>(&text).unwrap()["entry"]["height"]
        .as_u64()
        .unwrap();
    let (_, blocks) = node.http(
        "GET",
        &format!("/v1/chains/{chain}/blocks?from={height}&limit=1"),
        &s.token,
        None,
    );
    let block = &serde_json::from_str::<serde_json::Value>(&blocks).unwrap()[0];
    let renewed = pem_to_der_cert(&renewed_pem).unwrap();
    assert_eq!(block["certificate_carried"], true, "{block}");
    assert_eq!(
        block["certificate"],
        CertHash::of(&renewed).to_hex(),
        "{block}"
    );
    let (status, report) = node.http("POST", "/v1/verify", &s.token, None);
    assert_eq!(status, 200, "{report}");
    assert!(report.contains("\"violations\":[]"), "{report}");
}
