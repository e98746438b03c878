//! A payload damaged on disk is fetched by hash from a peer and put back, whatever its size,
//! without quarantining the block that references it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;
use medchain_protocol::PayloadHash;

/// A record whose payload is too large to travel inline with its block (over 64 KiB): peers
/// fetch it by hash.
fn write_large(node: &Node, token: &str) -> (String, PayloadHash) {
    let note = "x".repeat(200 * 1024);
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-1","payload":{{"resourceType":"Observation","note":"{note}"}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{}", &text[..text.len().min(300)]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let record = json["record"].as_str().unwrap().to_owned();
    let chain = json["entry"]["chain"].as_str().unwrap();
    let (_, blocks) = node.http(
        "GET",
        &format!("/v1/chains/{chain}/blocks?from=0&limit=4"),
        token,
        None,
    );
    let blocks: serde_json::Value = serde_json::from_str(&blocks).unwrap();
    let hash = blocks[0]["entries"][0]["payload"]["hash"].as_str().unwrap();
    (record, hash.parse().unwrap())
}

#[test]
fn a_damaged_large_payload_is_fetched_by_hash_and_its_block_stays() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "auditor", "Auditors", std::slice::from_ref(&a.p2p));
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    let (record, hash) = write_large(&a, &a_setup.token);
    // The auditor holds the sealed payload (fetched by hash after the block).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !b
        .http(
            "GET",
            &format!("/v1/records/{record}/history"),
            &b_setup.token,
            None,
        )
        .1
        .contains("\"payload_held\":true")
    {
        assert!(
            Instant::now() < deadline,
            "the payload never reached the auditor"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(b.terminate(), 0);
    // Its stored copy is damaged while it is stopped.
    {
        let mut store = medchain_store::Store::open(&b_setup.data.join("store")).unwrap();
        let mut bytes = store.payload(&hash).unwrap().unwrap();
        bytes[100] ^= 0x01;
        medchain_store::tamper::overwrite_payload(&mut store, &hash, &bytes).unwrap();
    }
    let mut b = start(&b_setup);
    b.wait_for("damaged payloads found", Duration::from_secs(30));
    b.wait_for("payload restored from a peer", Duration::from_secs(30));
    let (status, text) = b.http(
        "GET",
        &format!("/v1/records/{record}/history"),
        &b_setup.token,
        None,
    );
    assert_eq!(status, 200);
    assert!(text.contains("\"payload_held\":true"), "{text}");
    // Restored exactly: the author still reads its payload; the auditor holds it sealed.
    let (status, text) = a.http(
        "GET",
        &format!("/v1/records/{record}"),
        &a_setup.token,
        None,
    );
    assert_eq!(status, 200);
    assert!(text.contains("xxxx"), "{}", &text[..text.len().min(300)]);
    // No block was quarantined for it, and a fresh scan is clean.
    assert!(!b.seen.iter().any(|l| l.contains("erase completed")));
    let (_, report) = b.http("POST", "/v1/verify", &b_setup.token, None);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(report["damaged_payloads"], serde_json::json!([]));
    assert_eq!(b.terminate(), 0);
    assert_eq!(a.terminate(), 0);
}
