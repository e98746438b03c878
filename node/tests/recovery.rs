//! The key backup drill (docs/operations.md): a provider with a recovery key loses its whole
//! data directory; it is set up again with its configuration, rebuilds its chain and fetches
//! its key backups from peers, and `medchain recovery restore` makes its records readable again
//! (an erased one stays erased).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;

const MARKER: &str = "RECOVERED-MARKER-0c41";

fn write(node: &Node, token: &str, n: u32) -> String {
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-9","payload":{{"resourceType":"Observation","note":"{MARKER}","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["record"].as_str().unwrap().to_owned()
}

/// Polls `node`'s chain listing (bounded) until `org`'s chain is at `height` at least with at
/// least `backups` key backups held.
fn holds(node: &Node, token: &str, org: &str, height: u64, backups: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = node.http("GET", "/v1/chains", token, None);
        assert_eq!(status, 200, "{text}");
        let chains: serde_json::Value = serde_json::from_str(&text).unwrap();
        let done = chains.as_array().unwrap().iter().any(|c| {
            c["org"] == org
                && c["height"].as_u64() >= Some(height)
                && c["key_backups"].as_u64() >= Some(backups)
        });
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{org}'s chain not held to {height} with {backups} backups: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Polls (bounded) until `node` holds the sealed payload of `record`'s first version.
fn payload_held(node: &Node, token: &str, record: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = format!("/v1/records/{record}/history");
        let (status, text) = node.http("GET", &path, token, None);
        let history: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status == 200 && history["records"][0]["versions"][0]["payload_held"] == true {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "payload of {record} not held: {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn status_of(node: &Node, token: &str, record: &str) -> u16 {
    node.http("GET", &format!("/v1/records/{record}"), token, None)
        .0
}

#[test]
fn a_provider_that_lost_its_data_directory_reads_its_records_again_after_a_restore() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let recovery = ca.tmp.path().join("b-recovery");
    medchain(&["recovery", "init", "--out", p(&recovery)]);
    let config = std::fs::read_to_string(&b_setup.config).unwrap();
    let public = recovery.join("recovery.pub");
    let config = config.replacen(
        "[keys]\n",
        &format!("[keys]\nrecovery_public = {:?}\n", p(&public)),
        1,
    );
    std::fs::write(&b_setup.config, &config).unwrap();
    let b = start(&b_setup);
    b.writable(&b_setup.token);
    let (ta, tb) = (&a_setup.token, &b_setup.token);
    let records: Vec<String> = (0..3).map(|n| write(&b, tb, n)).collect();
    let erase = format!("/v1/records/{}/erase", records[2]);
    let (status, text) = b.http("POST", &erase, tb, Some("{}"));
    assert_eq!(status, 201, "{text}");
    let (status, text) = b.http("GET", "/v1/chains", tb, None);
    assert_eq!(status, 200, "{text}");
    let own = serde_json::from_str::<serde_json::Value>(&text)
        .unwrap()
        .as_array()
        .and_then(|c| c.iter().find(|c| c["org"] == "Hospital B").cloned())
        .unwrap();
    let (height, backups) = (
        own["height"].as_u64().unwrap(),
        own["key_backups"].as_u64().unwrap(),
    );
    assert!(backups >= 1, "{own}");
    // A keeps B's backups (one per block with payloads: three writes, maybe batched).
    holds(&a, ta, "Hospital B", height, backups);

    // B loses its whole data directory; its operator restores the configuration and token.
    let token_text = std::fs::read_to_string(b_setup.data.join("api.token")).unwrap();
    assert_eq!(b.terminate(), 0);
    std::fs::remove_dir_all(&b_setup.data).unwrap();
    std::fs::create_dir_all(&b_setup.data).unwrap();
    std::fs::write(&b_setup.config, &config).unwrap();
    std::fs::write(b_setup.data.join("api.token"), token_text).unwrap();
    let restore = |expect_ok: bool| {
        let output = std::process::Command::new(BIN)
            .args(["recovery", "restore", "--config", p(&b_setup.config)])
            .args(["--recovery-key", p(&recovery.join("recovery.key"))])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.status.success(), expect_ok, "{text}");
        text
    };
    // A restore before the node rebuilt anything says what to do first.
    let text = restore(false);
    assert!(text.contains("start the node first"), "{text}");

    // The node rebuilds its chain from its peers, with its backups; its records stay sealed to
    // it until the restore.
    let b = start(&b_setup);
    holds(&b, tb, "Hospital B", height, backups);
    for record in &records[..2] {
        payload_held(&b, tb, record);
    }
    assert_eq!(status_of(&b, tb, &records[0]), 403);
    assert_eq!(b.terminate(), 0);
    let text = restore(true);
    assert!(text.contains("data keys restored"), "{text}");
    assert!(text.contains("0 refused"), "{text}");
    assert!(text.contains("0 waiting"), "{text}");
    assert!(
        text.contains("0 blocks with payloads have no backup"),
        "{text}"
    );
    let b = start(&b_setup);
    // Reads are audited on B's own chain: once its peers confirm its head.
    b.writable(tb);
    for record in &records[..2] {
        let (status, text) = b.http("GET", &format!("/v1/records/{record}"), tb, None);
        assert_eq!(status, 200, "{text}");
        assert!(text.contains(MARKER), "{text}");
    }
    assert_eq!(status_of(&b, tb, &records[2]), 410, "erased stays erased");
    assert_eq!(a.terminate(), 0);
}
