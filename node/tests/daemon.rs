//! The daemon as an operator runs it: `ca init`, `ca issue`, `init`, `run`, then HTTP on loopback,
//! SIGTERM, kill -9, and a store tampered with while the node was stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Writes a create record on `node`; returns its record ID.
pub fn write_record(node: &Node, token: &str, n: u32) -> String {
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-{n}","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["record"].as_str().unwrap().to_owned()
}

#[test]
fn serves_records_and_stops_cleanly_on_sigterm() {
    let s = setup();
    let node = start(&s);
    // A new node pauses its writes until its peers confirm its chain; alone, its operator
    // lifts the pause.
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(r#"{"kind":"create","patient":"MRN-0","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("never had a chain"), "{text}");
    node.resume_alone(&s.token);
    let record = write_record(&node, &s.token, 1);
    let (status, text) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"resourceType\":\"Observation\""), "{text}");
    let (status, _) = node.http("GET", "/v1/chains", "wrong-token", None);
    assert_eq!(status, 401);
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some("{not json"));
    assert_eq!(status, 400, "{text}");
    assert_eq!(node.terminate(), 0);
}

/// Every acknowledged record is in the store after kill -9. The restarted node has no peer to
/// confirm its head, so its writes (and its audited reads, which write an access entry) stay
/// paused until an operator lifts the pause, which is recorded.
#[test]
fn acknowledged_records_survive_kill_9() {
    let s = setup();
    let mut node = start(&s);
    node.resume_alone(&s.token);
    let records: Vec<String> = (0..5).map(|n| write_record(&node, &s.token, n)).collect();
    node.child.kill().unwrap(); // SIGKILL right after the acknowledgements
    node.child.wait().unwrap();
    drop(node);
    let node = start(&s);
    // Every acknowledged record's entry is in a block the node holds (an unaudited read).
    let (status, chains) = node.http("GET", "/v1/chains", &s.token, None);
    assert_eq!(status, 200, "{chains}");
    let chain = serde_json::from_str::<serde_json::Value>(&chains).unwrap()[0]["chain"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, blocks) = node.http(
        "GET",
        &format!("/v1/chains/{chain}/blocks?from=0&limit=256"),
        &s.token,
        None,
    );
    for record in &records {
        assert!(
            blocks.contains(record.as_str()),
            "record {record} lost after kill -9"
        );
    }
    // Paused at start, said so in the status, the metric and a 503 with the reason.
    let (_, status_text) = node.http("GET", "/v1/status", &s.token, None);
    assert!(
        status_text.contains("\"kind\":\"started\""),
        "{status_text}"
    );
    let (_, metrics) = node.http("GET", "/metrics", &s.token, None);
    assert!(metrics.contains("medchain_writes_paused 1"), "{metrics}");
    // What the node depends on, and when it expires: the member certificate (a year), the
    // root (ten years), the revocation list (30 days); plain HTTP here, so no API certificate.
    let status: serde_json::Value = serde_json::from_str(&status_text).unwrap();
    let expiry = |key: &str| status["certificates"][key].as_i64();
    assert!(
        expiry("member_not_after").is_some() && expiry("ca_not_after") > expiry("member_not_after"),
        "{status_text}"
    );
    assert!(
        expiry("crl_next_update").is_some() && expiry("api_tls_not_after").is_none(),
        "{status_text}"
    );
    let gauge = |line: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("no {line} in {metrics}"))
    };
    let day = 86_400;
    assert!(gauge("medchain_certificate_expiry_seconds{cert=\"member\"}") > 300 * day);
    assert!(gauge("medchain_certificate_expiry_seconds{cert=\"ca\"}") > 3000 * day);
    assert!((29 * day..=30 * day).contains(&gauge("medchain_crl_next_update_seconds")));
    let body = r#"{"kind":"create","patient":"MRN-9","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#;
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(body));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("writes are paused"), "{text}");
    // The operator lifts it by hand (no peer holds this chain), with who and why.
    let api = format!("http://{}", node.api);
    let token = s.data.join("api.token");
    let (code, out, err) = cli(&[
        "writes",
        "resume",
        "--api",
        &api,
        "--token-file",
        p(&token),
        "--actor",
        "ops-1",
        "--reason",
        "single-node test: no peer holds this chain",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"started\""), "{out}");
    let record = write_record(&node, &s.token, 6);
    let (status, _) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
    assert_eq!(status, 200);
    let signing = std::fs::read_to_string(s.data.join("signing.json")).unwrap();
    assert!(
        signing.contains("ops-1") && signing.contains("single-node test"),
        "{signing}"
    );
    assert_eq!(node.terminate(), 0);
}

#[test]
fn tampering_while_stopped_is_found_at_start() {
    let s = setup();
    let node = start(&s);
    node.resume_alone(&s.token);
    for n in 0..4 {
        write_record(&node, &s.token, n);
    }
    assert_eq!(node.terminate(), 0);

    // The attacker edits the repository while the node is down: height 2 of the only chain.
    {
        let mut store = medchain_store::Store::open(&s.data.join("store")).unwrap();
        let head = store.heads().unwrap()[0];
        let hash = store.block_hash_at(&head.chain, 2).unwrap().unwrap();
        let mut bytes = store.raw_block_bytes(&hash).unwrap().unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        medchain_store::tamper::overwrite_block_bytes(&mut store, &hash, &bytes).unwrap();
    }

    let (node, erase) = start_expecting_violation(&s);
    assert!(erase.contains("\"from_height\":2"), "{erase}");
    // Our own chain is quarantined: writing now would equivocate, so writes wait.
    let body = r#"{"kind":"create","patient":"MRN-9","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#;
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(body));
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("writes are paused (own_chain_quarantined)"),
        "{text}"
    );
    let (_, reports) = node.http("GET", "/v1/verify/reports", &s.token, None);
    assert!(reports.contains("\"height\":2"), "{reports}");
}

/// Starts a node whose start-up scan must report a violation before it is ready; returns it
/// with the "erase completed" log line.
fn start_expecting_violation(s: &Setup) -> (Node, String) {
    let mut node = spawn(s);
    let violation = node.wait_for("integrity violation detected", Duration::from_secs(30));
    assert!(violation.contains("\"height\":2"), "{violation}");
    assert!(
        violation.contains("entries_root_mismatch") || violation.contains("undecodable"),
        "{violation}"
    );
    let erase = node.wait_for("erase completed", Duration::from_secs(10));
    node.wait_ready();
    (node, erase)
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_client_commands_talk_to_the_node() {
    let s = setup();
    let node = start(&s);
    node.resume_alone(&s.token);
    // The node listens on an ephemeral port, so the client is told the address directly
    // (with a fixed api.listen, `--config FILE` alone is enough).
    let api = format!("http://{}", node.api);
    let token = s.data.join("api.token");
    let conn = ["--api", api.as_str(), "--token-file", p(&token)];
    let payload = s.data.join("obs.json");
    std::fs::write(
        &payload,
        r#"{"resourceType":"Observation","status":"final"}"#,
    )
    .unwrap();
    let (code, out, err) = cli(&[
        "record",
        "add",
        conn[0],
        conn[1],
        conn[2],
        conn[3],
        "--patient",
        "MRN-77",
        "--payload",
        p(&payload),
        "--actor",
        "dr-1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let written: serde_json::Value = serde_json::from_str(&out).unwrap();
    let record = written["record"].as_str().unwrap();

    let (code, out, _) = cli(&[
        "record", "get", record, conn[0], conn[1], conn[2], conn[3], "--actor", "nurse-1",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("\"status\": \"final\""), "{out}");
    let (code, out, _) = cli(&[
        "record", "history", record, conn[0], conn[1], conn[2], conn[3], "--actor", "nurse-1",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("record {record} at Hospital A")),
        "{out}"
    );
    let (code, out, _) = cli(&["chain", "list", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0);
    assert!(out.contains("\"org\": \"Hospital A\""), "{out}");
    let (code, out, _) = cli(&["chain", "verify", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&["status", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0);
    assert!(out.contains("\"role\": \"provider\""), "{out}");
    let (code, out, err) = cli(&["peers", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"peers\": []"), "{out}");
    // Refusals come back with the node's reason and status 1.
    let (code, _, err) = cli(&[
        "record",
        "add",
        conn[0],
        conn[1],
        conn[2],
        conn[3],
        "--kind",
        "amend",
        "--patient",
        "MRN-77",
        "--payload",
        p(&payload),
        "--actor",
        "dr-1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused (400)"), "{err}");
    assert!(!err.contains("MRN-77"), "{err}");
    let (code, _, err) = cli(&["status"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(node.terminate(), 0);
}

/// A revocation list older (lower cRLNumber) than one the node has taken would lift
/// revocations: the node refuses it, at start and when it is copied over the file while it
/// runs, and the newest number it has taken survives restarts.
#[test]
fn an_older_revocation_list_is_refused() {
    let ca = Ca::new(BIN);
    let s = ca.node("a", "provider", "Hospital A", &[]);
    let crl = ca.dir.join("crl.pem");
    let old = std::fs::read(&crl).unwrap();
    medchain(&["ca", "crl", "--ca", p(&ca.dir)]);
    let node = start(&s);
    assert_eq!(node.terminate(), 0);
    assert_eq!(
        std::fs::read_to_string(s.data.join("crl.number"))
            .unwrap()
            .trim(),
        "2"
    );
    // The older list copied back while the node is stopped: it will not start with it.
    let newer = std::fs::read(&crl).unwrap();
    std::fs::write(&crl, &old).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config", p(&s.config)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("older than number 2"), "{stderr}");
    // With the newest list back it starts; the older one copied in while it runs is not taken.
    std::fs::write(&crl, &newer).unwrap();
    let mut node = start(&s);
    std::fs::write(&crl, &old).unwrap();
    node.wait_for("new revocation list not applied", Duration::from_secs(20));
    assert_eq!(node.terminate(), 0);
}

/// The node key is replaced on a stopped node: every record still reads after the restart, the
/// key file holds the next generation, and the old key's bytes are gone from it. A node key
/// readable by others, or kept inside the data directory, stops the start.
#[test]
fn the_node_key_rotates_offline_and_a_careless_one_is_refused() {
    let s = setup();
    let node = start(&s);
    node.resume_alone(&s.token);
    let records: Vec<String> = (0..3).map(|n| write_record(&node, &s.token, n)).collect();
    assert_eq!(node.terminate(), 0);
    let config: toml::Value = toml::from_str(&std::fs::read_to_string(&s.config).unwrap()).unwrap();
    let key_path = std::path::PathBuf::from(config["keys"]["node_key"].as_str().unwrap());
    let before = std::fs::read_to_string(&key_path).unwrap();
    assert!(before.starts_with("medchain node key v1\n1 "), "{before}");
    medchain(&["maintenance", "rotate-node-key", "--config", p(&s.config)]);
    let after = std::fs::read_to_string(&key_path).unwrap();
    assert!(after.starts_with("medchain node key v1\n2 "), "{after}");
    assert_ne!(before.lines().nth(1), after.lines().nth(1));

    let node = start(&s);
    node.resume_alone(&s.token);
    for record in &records {
        let (status, text) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\"resourceType\":\"Observation\""), "{text}");
    }
    assert_eq!(node.terminate(), 0);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let out = Command::new(BIN)
            .args(["run", "--config", p(&s.config)])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("chmod 600"), "{stderr}");
    }
}
