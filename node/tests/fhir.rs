//! The FHIR R4 endpoints of a running node: Provenance of a record's entries, AuditEvents of its
//! reads (IHE BALP PatientRead), the CapabilityStatement, and OperationOutcome errors. Every
//! resource is validated by an independent FHIR R4 (4.0.1) implementation (PyPI fhir.resources,
//! installed by `scripts/install-fhir-validator.sh`); the BALP elements are asserted here.
//!
//! Without the validator the test skips, saying so, unless `MEDCHAIN_REQUIRE_FHIR_VALIDATOR=1`
//! (CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;

/// The validator's python, or `None` (skip).
fn validator() -> Option<PathBuf> {
    match std::env::var_os("MEDCHAIN_FHIR_PYTHON").map(PathBuf::from) {
        Some(python) if python.exists() => Some(python),
        _ if std::env::var("MEDCHAIN_REQUIRE_FHIR_VALIDATOR").as_deref() == Ok("1") => {
            panic!(
                "MEDCHAIN_FHIR_PYTHON must name the python scripts/install-fhir-validator.sh prints"
            )
        }
        _ => {
            eprintln!(
                "skipped: set MEDCHAIN_FHIR_PYTHON (scripts/install-fhir-validator.sh) to run it"
            );
            None
        }
    }
}

fn get(node: &Node, path: &str, token: &str) -> (u16, Value) {
    let (status, text) = node.http("GET", path, token, None);
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {text}")),
    )
}

fn resources(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| e["resource"].clone()).collect())
        .unwrap_or_default()
}

#[test]
fn provenance_and_audit_events_are_valid_fhir_r4_and_follow_balp() {
    let Some(python) = validator() else { return };
    let s = setup();
    let node = start(&s);
    node.resume_alone(&s.token);
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(r#"{"kind":"create","patient":"MRN-1","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#));
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let record = created["record"].as_str().unwrap().to_owned();
    let chain = created["entry"]["chain"].as_str().unwrap().to_owned();
    let amend = format!(
        r#"{{"kind":"amend","record":"{record}","parents":["{record}"],"patient":"MRN-1","payload":{{"resourceType":"Observation","status":"amended"}},"actor":"dr-2"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(&amend));
    assert_eq!(status, 201, "{text}");
    for _ in 0..2 {
        let (status, text) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
        assert_eq!(status, 200, "{text}");
    }
    let (status, text) = node.http(
        "POST",
        &format!("/v1/records/{record}/erase"),
        &s.token,
        Some("{}"),
    );
    assert_eq!(status, 201, "{text}");

    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut keep = |name: &str, value: &Value| {
        let file = dir.path().join(name);
        std::fs::write(&file, serde_json::to_vec_pretty(value).unwrap()).unwrap();
        files.push(file);
    };

    // Provenance: one per entry (create, amend, erase), signed by Hospital A.
    let (status, bundle) = get(
        &node,
        &format!("/fhir/r4/Provenance?target={record}"),
        &s.token,
    );
    assert_eq!(status, 200, "{bundle}");
    keep("provenance.json", &bundle);
    let provenances = resources(&bundle);
    let kinds: Vec<&str> = provenances
        .iter()
        .map(|p| p["activity"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["create", "amend", "erase"], "{bundle}");
    for p in &provenances {
        assert_eq!(p["agent"][0]["onBehalfOf"]["display"], "Hospital A");
        assert_eq!(p["target"][0]["identifier"]["value"], record.as_str());
        let signature = &p["signature"][0];
        assert_eq!(
            signature["data"].as_str().unwrap().len(),
            88,
            "64 bytes in base64"
        );
        assert_eq!(
            signature["extension"][0]["url"],
            "urn:medchain:signed-block-hash"
        );
    }
    assert_eq!(provenances[1]["entity"][0]["role"], "revision");
    assert_eq!(
        provenances[0]["agent"][0]["who"]["display"],
        "machine client on behalf of dr-1"
    );

    // AuditEvents: one per read (the two reads and the Provenance search), paged.
    let (status, first) = get(
        &node,
        &format!("/fhir/r4/AuditEvent?entity={record}&_count=2"),
        &s.token,
    );
    assert_eq!(status, 200, "{first}");
    keep("audit-page-1.json", &first);
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .map(|l| l["url"].as_str().unwrap().to_owned())
        .expect("a next page");
    let (status, second) = get(&node, &format!("/fhir/r4/{next}"), &s.token);
    assert_eq!(status, 200, "{second}");
    keep("audit-page-2.json", &second);
    // A page that is not the whole answer claims no total; nor does the last page.
    assert!(
        first.get("total").is_none() && second.get("total").is_none(),
        "{second}"
    );
    let events: Vec<Value> = resources(&first)
        .into_iter()
        .chain(resources(&second))
        .collect();
    assert_eq!(events.len(), 3, "{first}\n{second}");
    for event in &events {
        // IHE BALP PatientRead.
        assert_eq!(
            event["meta"]["profile"][0],
            "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"
        );
        assert_eq!(event["type"]["code"], "rest");
        assert_eq!(event["subtype"][0]["code"], "read");
        assert_eq!(event["action"], "R");
        assert_eq!(event["outcome"], "0");
        let agents = event["agent"].as_array().unwrap();
        let typed = |code: &str| {
            agents
                .iter()
                .find(|a| a["type"]["coding"][0]["code"] == code)
                .unwrap_or_else(|| panic!("no {code} agent: {event}"))
        };
        assert_eq!(typed("IRCP")["requestor"], true);
        assert_eq!(
            typed("IRCP")["who"]["display"],
            "machine client on behalf of nurse-7"
        );
        assert_eq!(typed("110153")["requestor"], false);
        assert_eq!(
            typed("110152")["who"]["identifier"]["value"],
            chain.as_str()
        );
        assert_eq!(event["source"]["type"][0]["code"], "4");
        let entities = event["entity"].as_array().unwrap();
        let role = |code: &str| {
            entities
                .iter()
                .find(|e| e["role"]["code"] == code)
                .unwrap_or_else(|| panic!("no role {code}: {event}"))
        };
        assert_eq!(role("4")["what"]["identifier"]["value"], record.as_str());
        assert_eq!(role("1")["type"]["code"], "1");
        assert!(
            !event.to_string().contains("MRN-1"),
            "no patient identifier: {event}"
        );
    }

    // The CapabilityStatement (open), and errors as OperationOutcome.
    let (status, statement) = get(&node, "/fhir/r4/metadata", "");
    assert_eq!(status, 200);
    assert_eq!(statement["fhirVersion"], "4.0.1");
    keep("metadata.json", &statement);
    for (path, token, expected) in [
        (
            "/fhir/r4/Provenance?target=not-a-record",
            s.token.as_str(),
            400,
        ),
        (
            "/fhir/r4/Provenance?target=00112233445566778899aabbccddeeff",
            s.token.as_str(),
            404,
        ),
        (
            &*format!("/fhir/r4/AuditEvent?entity={record}"),
            "wrong-token",
            401,
        ),
        (
            "/fhir/r4/AuditEvent?entity=x&_count=0",
            s.token.as_str(),
            400,
        ),
    ] {
        let (status, outcome) = get(&node, path, token);
        assert_eq!(status, expected, "{path}: {outcome}");
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}");
        keep(&format!("outcome-{expected}.json"), &outcome);
    }

    let mut command = Command::new(python);
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fhir_validate.py"
        ))
        .args(&files);
    let output = command.output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fhir.resources refuses:\n{said}");
    assert_eq!(said.matches("valid R4").count(), files.len(), "{said}");
}
