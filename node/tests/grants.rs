//! Grants, revokes and erasure, end to end on three daemons (two providers and an auditor):
//! a record is read by its author only, by a grantee once a grant reaches it (the key released
//! over the network, HPKE-wrapped to the grantee), by nobody else after a revoke, and by
//! nobody at all after an erase, while every node's chains still verify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::time::{Duration, Instant};

use common::*;

const MARKER: &str = "GRANTED-MARKER-51c2";

fn write(node: &Node, token: &str, patient: &str, n: u32) -> String {
    let body = format!(
        r#"{{"kind":"create","patient":"{patient}","payload":{{"resourceType":"Observation","note":"{MARKER}","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["record"].as_str().unwrap().to_owned()
}

/// Polls `GET /v1/records/{record}` on `node` (bounded) until it answers `status`.
fn eventually_reads(node: &Node, token: &str, record: &str, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    let path = format!("/v1/records/{record}");
    loop {
        let (got, text) = node.http("GET", &path, token, None);
        if got == status {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{record} did not read {status} in time: {got} {text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn reads(node: &Node, token: &str, record: &str) -> u16 {
    node.http("GET", &format!("/v1/records/{record}"), token, None)
        .0
}

/// The records `GET /v1/grants` on `node` lists under record grants (not patient grants).
fn record_grants(node: &Node, token: &str) -> Vec<String> {
    let (status, text) = node.http("GET", "/v1/grants", token, None);
    assert_eq!(status, 200, "{text}");
    let received: serde_json::Value = serde_json::from_str(&text).unwrap();
    received["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["whole_patient"] == false)
        .flat_map(|g| g["records"].as_array().unwrap().clone())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

fn post(node: &Node, token: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, text) = node.http("POST", path, token, Some(body));
    (status, serde_json::from_str(&text).unwrap_or_default())
}

#[test]
fn grants_open_records_to_one_member_until_revoked_and_erase_closes_them_for_all() {
    let ca = Ca::new(BIN);
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let mut a = start(&a_setup);
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let c_setup = ca.node("c", "auditor", "Auditors", std::slice::from_ref(&a.p2p));
    let (mut b, mut c) = (start(&b_setup), start(&c_setup));
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);
    let (ta, tb, tc) = (&a_setup.token, &b_setup.token, &c_setup.token);
    let first = write(&a, ta, "MRN-1", 1);
    let second = write(&a, ta, "MRN-1", 2);
    let other_patient = write(&a, ta, "MRN-2", 3);
    for record in [&first, &second, &other_patient] {
        eventually_reads(&b, tb, record, 403);
        eventually_reads(&c, tc, record, 403);
    }

    // Only the record's own provider grants, and only to a member it knows, not itself.
    let grants = format!("/v1/records/{first}/grants");
    assert_eq!(post(&b, tb, &grants, r#"{"to":"Hospital B"}"#).0, 403);
    assert_eq!(post(&c, tc, &grants, r#"{"to":"Auditors"}"#).0, 403);
    let (status, body) = post(&a, ta, &grants, r#"{"to":"Hospital Z"}"#);
    assert_eq!(status, 400, "{body}");
    assert_eq!(post(&a, ta, &grants, r#"{"to":"Hospital A"}"#).0, 400);
    let unknown = "/v1/records/00000000000000000000000000000000/grants";
    assert_eq!(post(&a, ta, unknown, r#"{"to":"Hospital B"}"#).0, 404);
    assert_eq!(post(&a, ta, &grants, r#"{"to":"Hospital B","x":1}"#).0, 400);

    // A record grant: B reads that record, and only that one; C still reads nothing.
    let (status, body) = post(&a, ta, &grants, r#"{"to":"Hospital B"}"#);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["kind"], "grant");
    let text = eventually_reads(&b, tb, &first, 200);
    assert!(text.contains(MARKER), "{text}");
    assert_eq!(reads(&b, tb, &second), 403);
    assert_eq!(reads(&c, tc, &first), 403);
    // Every node lists the grant in force, from the owner's chain.
    for (node, token) in [(&a, ta), (&b, tb), (&c, tc)] {
        let (status, text) = node.http("GET", &grants, token, None);
        assert_eq!(status, 200, "{text}");
        let view: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(view["in_force"][0]["to"], "Hospital B", "{text}");
    }

    // A revoke: B deletes its key when the entry reaches it, and is refused again.
    let revoke = format!("/v1/records/{first}/grants/Hospital%20B");
    let (status, text) = a.http("DELETE", &revoke, ta, None);
    assert_eq!(status, 200, "{text}");
    eventually_reads(&b, tb, &first, 403);
    let (status, _) = a.http("DELETE", &revoke, ta, None);
    assert_eq!(status, 404, "no grant to revoke any more");

    // A patient grant to the auditor: every record of that patient, present and future.
    let (status, body) = post(&a, ta, &grants, r#"{"to":"Auditors","patient":true}"#);
    assert_eq!(status, 201, "{body}");
    eventually_reads(&c, tc, &first, 200);
    eventually_reads(&c, tc, &second, 200);
    let later = write(&a, ta, "MRN-1", 4);
    eventually_reads(&c, tc, &later, 200);
    assert_eq!(reads(&c, tc, &other_patient), 403);
    assert_eq!(reads(&b, tb, &later), 403);
    // The auditor finds that patient's records at A through the grant (it cannot look the
    // patient up by identifier: it holds no pseudonym key).
    let (status, text) = c.http("GET", "/v1/grants", tc, None);
    assert_eq!(status, 200, "{text}");
    let received: serde_json::Value = serde_json::from_str(&text).unwrap();
    let patient_grant = received["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["whole_patient"] == true)
        .expect("the patient grant is listed");
    let listed: Vec<&str> = patient_grant["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    for record in [&first, &second, &later] {
        assert!(listed.contains(&record.as_str()), "{text}");
    }
    assert!(!listed.contains(&other_patient.as_str()), "{text}");
    let (status, text) = c.http(
        "POST",
        "/v1/patients/records",
        tc,
        Some(r#"{"patient":"MRN-1"}"#),
    );
    assert_eq!(status, 403, "{text}");

    // A record grant to the auditor as well: listed until the record is erased.
    let (status, body) = post(&a, ta, &grants, r#"{"to":"Auditors"}"#);
    assert_eq!(status, 201, "{body}");
    let deadline = Instant::now() + Duration::from_secs(45);
    while !record_grants(&c, tc).contains(&first) {
        assert!(Instant::now() < deadline, "record grant never listed");
        std::thread::sleep(Duration::from_millis(250));
    }

    // Erase: nobody reads it any more, the author included; the chains still verify.
    let erase = format!("/v1/records/{first}/erase");
    assert_eq!(post(&b, tb, &erase, "{}").0, 403);
    let (status, body) = post(&a, ta, &erase, "{}");
    assert_eq!(status, 201, "{body}");
    assert_eq!(reads(&a, ta, &first), 410);
    eventually_reads(&c, tc, &first, 410);
    assert!(
        !record_grants(&c, tc).contains(&first),
        "an erased record's grant is not listed"
    );
    eventually_reads(&b, tb, &first, 410);
    assert_eq!(post(&a, ta, &erase, "{}").0, 410, "erased already");
    assert_eq!(post(&a, ta, &grants, r#"{"to":"Hospital B"}"#).0, 410);
    assert_eq!(reads(&c, tc, &second), 200, "only that record is erased");
    // The same from the command line.
    let token_file = ca.tmp.path().join("a-token");
    std::fs::write(&token_file, ta).unwrap();
    let api = format!("http://{}", a.api);
    let connect = ["--api", &api, "--token-file", p(&token_file)];
    let cli = |args: &[&str]| medchain(&[&["record"], args, &connect[..]].concat());
    cli(&[
        "grant",
        &second,
        "--to",
        "Hospital B",
        "--actor",
        "privacy-officer",
    ]);
    eventually_reads(&b, tb, &second, 200);
    cli(&["grants", &second]);
    cli(&[
        "revoke",
        &second,
        "--org",
        "Hospital B",
        "--actor",
        "privacy-officer",
    ]);
    eventually_reads(&b, tb, &second, 403);
    cli(&["erase", &second, "--actor", "privacy-officer"]);
    assert_eq!(reads(&a, ta, &second), 410);
    eventually_reads(&c, tc, &second, 410);
    // Every node's scan drops the erased ciphertext (only erased entries name it), and the
    // next one neither misses it nor fetches it: absent by design.
    for (node, token) in [(&a, ta), (&b, tb), (&c, tc)] {
        for _ in 0..2 {
            let (status, text) = node.http("POST", "/v1/verify", token, Some("{}"));
            assert_eq!(status, 200, "{text}");
            assert!(text.contains("\"violations\":[]"), "{text}");
            assert!(text.contains("\"missing_payloads\":[]"), "{text}");
        }
        for record in [&first, &second] {
            let path = format!("/v1/records/{record}/history");
            let (status, text) = node.http("GET", &path, token, None);
            assert_eq!(status, 200, "{text}");
            let history: serde_json::Value = serde_json::from_str(&text).unwrap();
            let held = &history["records"][0]["versions"][0]["payload_held"];
            assert_eq!(held, false, "erased payload still held: {text}");
        }
    }
    for node in [&mut a, &mut b, &mut c] {
        let (code, lines) = node.terminate_with_log();
        assert_eq!(code, 0);
        assert!(!lines.iter().any(|l| l.contains(MARKER)));
    }
}
