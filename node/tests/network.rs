//! Three daemons on loopback (two providers and an auditor): replication, catch-up after
//! downtime, and self-repair from peers of a store tampered with while its node was stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;

fn write(node: &Node, token: &str, patient: &str, n: u32) -> String {
    let body = format!(
        r#"{{"kind":"create","patient":"{patient}","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["record"].as_str().unwrap().to_owned()
}

/// Polls (bounded) until `node` holds `record` with its sealed payload (as its history shows:
/// every node holds every payload; only the author holds the key that reads it).
fn eventually_held(node: &Node, token: &str, record: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let path = format!("/v1/records/{record}/history");
        let (status, text) = node.http("GET", &path, token, None);
        if status == 200 && payloads_held(&text, record) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "record {record} not held within {limit:?}: {status} {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether a history answer shows `record` with every payload held.
fn payloads_held(history: &str, record: &str) -> bool {
    let history: serde_json::Value = serde_json::from_str(history).unwrap_or_default();
    let Some(node) = history["records"]
        .as_array()
        .and_then(|r| r.iter().find(|n| n["record"] == record))
    else {
        return false;
    };
    let versions = node["versions"].as_array().cloned().unwrap_or_default();
    !versions.is_empty()
        && versions
            .iter()
            .all(|v| v["payload"].is_null() || v["payload_held"] == true)
}

/// `record`'s payload as its author reads it; another node holding it answers 403.
fn readable_only_by_author(author: (&Node, &str), other: (&Node, &str), record: &str) {
    let path = format!("/v1/records/{record}");
    let (status, text) = author.0.http("GET", &path, author.1, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"resourceType\":\"Observation\""), "{text}");
    let (status, text) = other.0.http("GET", &path, other.1, None);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("holds no key"), "{text}");
}

fn chains(node: &Node, token: &str) -> serde_json::Value {
    let (status, text) = node.http("GET", "/v1/chains", token, None);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn records_replicate_and_a_restarted_node_catches_up() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let c_setup = ca.node("c", "auditor", "Auditors", std::slice::from_ref(&a.p2p));
    let b = start(&b_setup);
    let c = start(&c_setup);
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);

    let from_a = write(&a, &a_setup.token, "MRN-1", 1);
    let from_b = write(&b, &b_setup.token, "MRN-2", 2);
    for (node, token) in [
        (&a, &a_setup.token),
        (&b, &b_setup.token),
        (&c, &c_setup.token),
    ] {
        eventually_held(node, token, &from_a, Duration::from_secs(30));
        eventually_held(node, token, &from_b, Duration::from_secs(30));
    }
    // Every node holds both payloads sealed; each is read by its author only, an auditor
    // included among those who cannot.
    readable_only_by_author((&a, &a_setup.token), (&b, &b_setup.token), &from_a);
    readable_only_by_author((&b, &b_setup.token), (&c, &c_setup.token), &from_b);
    readable_only_by_author((&a, &a_setup.token), (&c, &c_setup.token), &from_a);
    // Acknowledged only when replicated: both other nodes hold A's block.
    let body = r#"{"kind":"create","patient":"MRN-4","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#;
    let (status, text) = a.http(
        "POST",
        "/v1/records?ack=replicated&min=2",
        &a_setup.token,
        Some(body),
    );
    assert_eq!(status, 201, "{text}");
    assert!(text.contains("\"replicated_to\":2"), "{text}");
    // More peers than exist: accepted (202), saying the record is safe locally and how many
    // peers confirmed it.
    let (status, text) = a.http(
        "POST",
        "/v1/records?ack=replicated&min=5&timeout_ms=300",
        &a_setup.token,
        Some(body),
    );
    assert_eq!(status, 202, "{text}");
    assert!(text.contains("stored and flushed locally"), "{text}");
    assert!(text.contains("\"replicated_to\":2"), "{text}");
    let (status, peers) = c.http("GET", "/v1/peers", &c_setup.token, None);
    assert_eq!(status, 200);
    assert!(peers.contains("provider"), "{peers}");
    let (_, metrics) = c.http("GET", "/metrics", &c_setup.token, None);
    let accepted = metrics
        .lines()
        .find(|l| l.starts_with("medchain_blocks_accepted_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(accepted >= 2, "{metrics}");
    assert!(
        metrics.contains("medchain_libp2p_gossipsub"),
        "libp2p's own metrics are missing:\n{metrics}"
    );

    // The auditor is killed (SIGKILL); the providers keep writing; it comes back and catches up
    // by anti-entropy alone (nothing new is gossiped after it returns).
    let mut c = c;
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    drop(c);
    let later: Vec<String> = (10..15)
        .map(|n| write(&a, &a_setup.token, "MRN-3", n))
        .collect();
    let c = start(&c_setup);
    a.writable(&a_setup.token);
    for record in &later {
        eventually_held(&c, &c_setup.token, record, Duration::from_secs(30));
    }
    // The auditor holds both providers' chains and wrote none of its own.
    assert_eq!(chains(&c, &c_setup.token).as_array().unwrap().len(), 2);
    drop((a, b, c));
}

#[test]
fn a_store_tampered_while_stopped_is_repaired_from_peers() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);
    let records: Vec<String> = (0..4)
        .map(|n| write(&a, &a_setup.token, "MRN-7", n))
        .collect();
    for record in &records {
        eventually_held(&b, &b_setup.token, record, Duration::from_secs(30));
    }
    assert_eq!(b.terminate(), 0);
    let a_chain: medchain_protocol::ChainId = chains(&a, &a_setup.token)
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "Hospital A")
        .and_then(|c| c["chain"].as_str())
        .unwrap()
        .parse()
        .unwrap();

    // An attacker edits B's copy of A's chain at height 2 while B is down (the documented
    // attack-simulation subcommand).
    tamper_block(&b_setup, &a_chain.to_hex(), 2);

    let mut b = spawn(&b_setup);
    let violation = b.wait_for("integrity violation detected", Duration::from_secs(30));
    assert!(violation.contains("\"height\":2"), "{violation}");
    let erase = b.wait_for("erase completed", Duration::from_secs(10));
    // Only the damaged block is moved aside: the block above it stays, so the hole is fetched.
    assert!(erase.contains("\"to_height\":2"), "{erase}");
    let request = b.wait_for(
        "request quarantined range from peer",
        Duration::from_secs(60),
    );
    assert!(request.contains("\"from\":2,\"to\":2"), "{request}");
    let restored = b.wait_for("chain restored from peers", Duration::from_secs(60));
    assert!(restored.contains("\"from_height\":2"), "{restored}");
    b.wait_ready();
    for record in &records {
        eventually_held(&b, &b_setup.token, record, Duration::from_secs(30));
    }
    let (_, metrics) = b.http("GET", "/metrics", &b_setup.token, None);
    assert!(metrics.contains("medchain_repairs_total 1"), "{metrics}");
    assert!(
        metrics.contains("medchain_quarantines_total 1"),
        "{metrics}"
    );
    let (status, text) = b.http("POST", "/v1/verify", &b_setup.token, None);
    assert_eq!(status, 200);
    assert!(text.contains("\"violations\":[]"), "{text}");
    drop(a);
}

#[test]
fn an_unopenable_store_is_moved_aside_and_rebuilt_from_peers() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);
    let own: Vec<String> = (0..3)
        .map(|n| write(&b, &b_setup.token, "MRN-8", n))
        .collect();
    for record in &own {
        eventually_held(&a, &a_setup.token, record, Duration::from_secs(30));
    }
    assert_eq!(b.terminate(), 0);

    // Raw corruption of every file of B's store: sled cannot open it any more.
    let store_dir = b_setup.data.join("store");
    for entry in walk(&store_dir) {
        let len = std::fs::metadata(&entry).unwrap().len() as usize;
        std::fs::write(&entry, vec![0xA5; len.max(64)]).unwrap();
    }

    let mut b = spawn(&b_setup);
    b.wait_for("store cannot be opened", Duration::from_secs(30));
    b.wait_for("damaged store moved aside", Duration::from_secs(10));
    b.wait_ready();
    let aside: Vec<_> = std::fs::read_dir(&b_setup.data)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("store.unopenable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the damaged store is kept");
    // B's own chain comes back from A, then B writes again (at the next height, not over it).
    b.wait_for("writes resume", Duration::from_secs(30));
    for record in &own {
        eventually_held(&b, &b_setup.token, record, Duration::from_secs(30));
    }
    let next = write(&b, &b_setup.token, "MRN-8", 9);
    eventually_held(&a, &a_setup.token, &next, Duration::from_secs(30));
    // Its data keys were only in the store that no longer opens: it says so, and its old
    // records stay sealed (verified, held, unreadable) while the new one reads.
    assert!(
        b.seen
            .iter()
            .any(|l| l.contains("data keys of the store moved aside cannot be read")),
        "the lost keys are reported"
    );
    let (status, text) = b.http(
        "GET",
        &format!("/v1/records/{}", own[0]),
        &b_setup.token,
        None,
    );
    assert_eq!(status, 403, "{text}");
    let (status, text) = b.http("GET", &format!("/v1/records/{next}"), &b_setup.token, None);
    assert_eq!(status, 200, "{text}");
    let (_, evidence) = a.http("GET", "/v1/evidence", &a_setup.token, None);
    assert_eq!(
        evidence, r#"{"evidence":[],"next":null}"#,
        "the rebuilt node must not equivocate"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Evidence made while a node is down reaches it by anti-entropy when it comes back (gossip
/// alone would have lost it: the node was not there to hear it).
#[test]
fn evidence_reaches_a_node_that_was_down() {
    use medchain_protocol::identity::{MemberKey, pem_to_der_cert};
    use medchain_protocol::message::WireMessage;
    use medchain_protocol::{BlockDraft, BlockMessage};

    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);
    let record = write(&a, &a_setup.token, "MRN-7", 7);
    eventually_held(&b, &b_setup.token, &record, Duration::from_secs(30));
    assert_eq!(b.terminate(), 0);

    // The insider: A's own key re-signs a modified copy of A's block 0, handed to A.
    // A holds B's chain too (B's audited reads wrote access entries): take A's own.
    let held = chains(&a, &a_setup.token);
    let chain = held
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["org"] == "Hospital A")
        .unwrap()["chain"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent = ureq::agent();
    let auth = format!("Bearer {}", a_setup.token);
    let mut answer = agent
        .get(format!("http://{}/v1/chains/{chain}/blocks/0/wire", a.api))
        .header("Authorization", &auth)
        .call()
        .unwrap();
    let original = BlockMessage::from_wire(&answer.body_mut().read_to_vec().unwrap())
        .unwrap()
        .block;
    let member = ca.tmp.path().join("a-member");
    let key =
        MemberKey::from_pkcs8_pem(&std::fs::read_to_string(member.join("member.key")).unwrap())
            .unwrap();
    let certificate =
        pem_to_der_cert(&std::fs::read_to_string(member.join("member.pem")).unwrap()).unwrap();
    let mut entries = original.entries.clone();
    entries[0].actor = "dr-mallory".into();
    let h = &original.header;
    let forged = BlockDraft {
        chain: h.chain,
        height: h.height,
        prev: h.prev,
        time_ms: h.time_ms,
        certificate,
        carry_certificate: original.certificate.is_some(),
        witnesses: h.witnesses.clone(),
        entries,
    }
    .seal(&key);
    let wire = BlockMessage {
        block: forged,
        payloads: vec![],
    }
    .to_wire();
    let response = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("http://{}/v1/blocks", a.api))
        .header("Authorization", &auth)
        .header("Content-Type", "application/octet-stream")
        .send(&wire[..])
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);

    let mut b = start(&b_setup);
    b.wait_for(
        "received from a peer by anti-entropy and kept",
        Duration::from_secs(30),
    );
    let (status, text) = b.http("GET", "/v1/evidence", &b_setup.token, None);
    assert_eq!(status, 200);
    let evidence: serde_json::Value = serde_json::from_str(&text).unwrap();
    let evidence = &evidence["evidence"];
    assert_eq!(evidence.as_array().unwrap().len(), 1, "{evidence}");
    assert_eq!(evidence[0]["chain"], chain.as_str());
    assert_eq!(evidence[0]["first"], original.hash().to_hex().as_str());
    assert_eq!(b.terminate(), 0);
    assert_eq!(a.terminate(), 0);
}

/// Every file under `dir`, recursively.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn no_plaintext_payload_or_identifier_reaches_any_disk_or_log() {
    const MARKER: &str = "PLAINTEXT-MARKER-7f3a9c";
    const PATIENT: &str = "MRN-SECRET-55310";
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let c_setup = ca.node("c", "auditor", "Auditors", std::slice::from_ref(&a.p2p));
    let (mut b, mut c) = (start(&b_setup), start(&c_setup));
    let mut a = a;
    a.writable(&a_setup.token);
    // One payload small enough to travel inline with its block, one fetched by hash.
    let large = "x".repeat(100 * 1024);
    let mut records = Vec::new();
    for note in [MARKER.to_owned(), format!("{large}{MARKER}")] {
        let body = format!(
            r#"{{"kind":"create","patient":"{PATIENT}","payload":{{"resourceType":"Observation","note":"{note}"}},"actor":"dr-1"}}"#
        );
        let (status, text) = a.http("POST", "/v1/records", &a_setup.token, Some(&body));
        assert_eq!(status, 201, "{}", &text[..text.len().min(300)]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        records.push(json["record"].as_str().unwrap().to_owned());
    }
    for record in &records {
        for (node, token) in [(&b, &b_setup.token), (&c, &c_setup.token)] {
            eventually_held(node, token, record, Duration::from_secs(30));
        }
        // The author reads it (a read audited on its chain); the others hold it sealed.
        let path = format!("/v1/records/{record}");
        let (status, text) = a.http("GET", &path, &a_setup.token, None);
        assert_eq!(status, 200);
        assert!(text.contains(MARKER));
        for (node, token) in [(&b, &b_setup.token), (&c, &c_setup.token)] {
            assert_eq!(node.http("GET", &path, token, None).0, 403);
        }
    }
    // Lookups by patient identifier work at the provider, and are audited, without the
    // identifier stored; the auditor holds no pseudonym key and cannot look anyone up.
    let query = format!(r#"{{"patient":"{PATIENT}"}}"#);
    let (status, text) = a.http("POST", "/v1/patients/records", &a_setup.token, Some(&query));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(&records[0]), "{text}");
    let (status, text) = c.http("POST", "/v1/patients/records", &c_setup.token, Some(&query));
    assert_eq!(status, 403, "{text}");
    // Nor can another provider: its own key gives another pseudonym, which names nothing here.
    let (status, text) = b.http("POST", "/v1/patients/records", &b_setup.token, Some(&query));
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, "[]");
    let mut logs = Vec::new();
    for node in [&mut a, &mut b, &mut c] {
        let (code, lines) = node.terminate_with_log();
        assert_eq!(code, 0);
        logs.extend(lines);
    }
    for line in &logs {
        assert!(
            !line.contains(MARKER),
            "a log line holds the payload: {line}"
        );
        assert!(
            !line.contains(PATIENT),
            "a log line holds the identifier: {line}"
        );
    }
    for setup in [&a_setup, &b_setup, &c_setup] {
        let files = files_under(&setup.data);
        assert!(files.len() > 3, "{files:?}");
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            for needle in [MARKER, PATIENT] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{} holds {needle} in plaintext",
                    file.display()
                );
            }
        }
    }
}
