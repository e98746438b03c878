//! `GET /v1/records/{id}/proof`: the answer is a proof's one byte form, which verifies offline
//! under the consortium root; it proves the latest version by default or the entry asked for;
//! the request is audited; bad requests are refused with JSON errors.

use medchain_protocol::proof::{self, Invalid, ProofError};
use medchain_protocol::{EntryKind, EntryRef};

use super::*;

fn entry_of(written: &Value) -> EntryRef {
    serde_json::from_value(written["entry"].clone()).unwrap()
}

#[tokio::test]
async fn a_record_s_proof_verifies_offline_and_the_request_is_audited() {
    let ca = consortium();
    let app = app_in(&ca, Role::Provider);
    let body = json!({"kind": "create", "patient": "MRN-77", "payload": {"resourceType": "Observation"}, "actor": "dr-1"});
    let (status, text) = call(&app, "POST", "/v1/records", Some(body), true).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let created = json_of(&text);
    let record = created["record"].as_str().unwrap().to_owned();
    let amend = json!({"kind": "amend", "patient": "MRN-77", "record": record, "parents": [entry_of(&created).to_string()], "payload": {"resourceType": "Observation", "v": 2}, "actor": "dr-2"});
    let (status, text) = call(&app, "POST", "/v1/records", Some(amend), true).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let amended = entry_of(&json_of(&text));

    // By default, the latest version.
    let (status, text) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/proof"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let proven = proof::verify(text.as_bytes(), &ca.consortium).unwrap();
    assert_eq!(proven.position, amended);
    assert_eq!(proven.entry.kind, EntryKind::Amend);
    assert_eq!(proven.entry.actor, "machine client on behalf of dr-2");
    assert_eq!(proven.signer.org, "Hospital A");
    assert!(!text.contains("MRN-77"));

    // The creating entry, by position; a changed byte no longer verifies.
    let uri = format!("/v1/records/{record}/proof?entry={}", entry_of(&created));
    let (status, text) = call(&app, "GET", &uri, None, true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let proven = proof::verify(text.as_bytes(), &ca.consortium).unwrap();
    assert_eq!(proven.entry.kind, EntryKind::Create);
    let changed = text.replacen("\"index\": 0", "\"index\": 1", 1);
    assert!(matches!(
        proof::verify(changed.as_bytes(), &ca.consortium),
        Err(ProofError::Invalid(
            Invalid::LeafCount { .. } | Invalid::NotInBlock
        ))
    ));

    // Both proofs were reads of the record, by the actor named.
    let page = accesses_of(&app, &record).await;
    assert_eq!(page["total"], 2, "{page}");
    assert_eq!(
        page["accesses"][0]["actor"],
        "machine client on behalf of nurse-7"
    );
}

#[tokio::test]
async fn bad_proof_requests_get_json_errors() {
    let app = app(Role::Provider);
    let body = json!({"kind": "create", "patient": "MRN-78", "payload": {"resourceType": "Observation"}, "actor": "dr-1"});
    let (_, text) = call(&app, "POST", "/v1/records", Some(body), true).await;
    let written = json_of(&text);
    let record = written["record"].as_str().unwrap().to_owned();
    let entry = entry_of(&written);
    let unknown = "00112233445566778899aabbccddeeff";
    let beyond = EntryRef {
        height: entry.height + 5,
        ..entry
    };
    let cases = [
        (
            format!("/v1/records/{unknown}/proof"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/records/{record}/proof?entry=not-an-entry"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/v1/records/{record}/proof?entry={beyond}"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/v1/records/{unknown}/proof?entry={entry}"),
            StatusCode::NOT_FOUND,
        ),
        ("/v1/records/xyz/proof".to_owned(), StatusCode::BAD_REQUEST),
    ];
    for (uri, expected) in cases {
        let (status, text) = call(&app, "GET", &uri, None, true).await;
        assert_eq!(status, expected, "{uri}: {text}");
        assert!(json_of(&text)["error"].is_string(), "{uri}: {text}");
    }
    let (status, _) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/proof"),
        None,
        false,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
