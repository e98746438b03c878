//! The request checks refuse what the API must refuse, with the message the client gets, and
//! accept what it must accept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use medchain_protocol::{EntryKind, Parent, PseudonymKey};
use medchain_requests::{
    MAX_RECORDS_PER_BATCH, NewRecord, NewRecords, PatientQuery, RequestError, Resume, parse_parent,
};
use serde_json::json;

fn key() -> PseudonymKey {
    PseudonymKey::from_bytes([9; 32])
}

fn request(body: serde_json::Value) -> NewRecord {
    serde_json::from_value(body).unwrap()
}

fn refused(body: serde_json::Value) -> String {
    request(body).into_draft(&key()).unwrap_err().to_string()
}

#[test]
fn a_create_becomes_a_draft_with_the_patient_pseudonymised() {
    let draft = request(json!({"kind": "create", "patient": "MRN-1", "actor": "a",
        "payload": {"resourceType": "Observation"}}))
    .into_draft(&key())
    .unwrap();
    assert_eq!(draft.kind, EntryKind::Create);
    let pseudonym = PatientQuery {
        patient: "MRN-1".into(),
    }
    .pseudonym(&key())
    .unwrap();
    assert_eq!(draft.patient, pseudonym);
    let payload = draft.payload.unwrap();
    assert_eq!(payload.content_type, "application/fhir+json");
    assert!(
        !String::from_utf8(payload.bytes.to_vec())
            .unwrap()
            .contains("MRN-1")
    );
}

#[test]
fn payload_rules() {
    assert_eq!(
        refused(json!({"kind": "create", "patient": "p", "actor": "a"})),
        "create needs a payload"
    );
    assert_eq!(
        refused(
            json!({"kind": "dispose", "record": "0123456789abcdef0123456789abcdef",
            "patient": "p", "actor": "a", "payload": {}})
        ),
        "dispose takes no payload"
    );
    assert!(
        refused(json!({"kind": "create", "patient": "p", "actor": "a",
            "content_type": "text/plain", "payload": {}}))
        .contains("JSON payloads")
    );
    assert!(
        refused(json!({"kind": "create", "patient": "p", "actor": "a",
            "payload": {"resourceType": 7}}))
        .contains("string resourceType")
    );
    assert_eq!(
        refused(json!({"kind": "access", "patient": "p", "actor": "a"})),
        RequestError::AccessSubmitted.to_string()
    );
    // Any JSON is fine under application/json.
    request(json!({"kind": "create", "patient": "p", "actor": "a",
        "content_type": "application/json", "payload": [1, 2]}))
    .into_draft(&key())
    .unwrap();
}

#[test]
fn an_empty_patient_is_refused_without_echoing_anything() {
    let message = refused(json!({"kind": "create", "patient": "", "actor": "a",
        "payload": {"resourceType": "Observation"}}));
    assert!(message.starts_with("patient: "), "{message}");
}

#[test]
fn parents_are_entries_or_records() {
    let chain = "11".repeat(32);
    assert!(matches!(
        parse_parent(&format!("{chain}/3/1")).unwrap(),
        Parent::Entry(e) if e.height == 3 && e.index == 1
    ));
    assert!(matches!(
        parse_parent("0123456789abcdef0123456789abcdef").unwrap(),
        Parent::Record(_)
    ));
    for bad in ["", "xyz", "0123", &format!("{chain}/x/1"), "a/b/c"] {
        assert!(
            matches!(parse_parent(bad), Err(RequestError::Parent { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn a_batch_holds_one_to_the_limit() {
    let one = json!({"kind": "create", "patient": "p", "actor": "a",
        "payload": {"resourceType": "Observation"}});
    let batch = |n: usize| -> NewRecords {
        serde_json::from_value(json!({ "records": vec![one.clone(); n] })).unwrap()
    };
    assert_eq!(
        batch(0).into_records().unwrap_err(),
        RequestError::BatchSize
    );
    assert_eq!(batch(1).into_records().unwrap().len(), 1);
    assert_eq!(
        batch(MAX_RECORDS_PER_BATCH).into_records().unwrap().len(),
        MAX_RECORDS_PER_BATCH
    );
    assert_eq!(
        batch(MAX_RECORDS_PER_BATCH + 1).into_records().unwrap_err(),
        RequestError::BatchSize
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(
        serde_json::from_value::<NewRecord>(
            json!({"kind": "create", "patient": "p", "actor": "a", "extra": 1})
        )
        .is_err()
    );
    assert!(serde_json::from_value::<PatientQuery>(json!({"patient": "p", "x": 1})).is_err());
}

#[test]
fn a_resume_names_who_and_why_in_printable_text() {
    let resume = |actor: &str, reason: &str| Resume {
        actor: actor.into(),
        reason: reason.into(),
    };
    resume("ops", "hospital-2 offline").check().unwrap();
    assert!(matches!(
        resume("", "why").check(),
        Err(RequestError::NotPrintable { field: "actor", .. })
    ));
    assert!(matches!(
        resume("ops", "bell\u{7}").check(),
        Err(RequestError::NotAscii {
            field: "reason",
            ..
        })
    ));
    // As the API's document says: printable ASCII, no surrounding space.
    assert!(resume("ops", "Übergabe").check().is_err());
    assert!(resume("ops", " why").check().is_err());
    assert!(resume(&"a".repeat(129), "why").check().is_err());
    assert!(resume("ops", &"r".repeat(1025)).check().is_err());
}

#[test]
fn debug_output_never_carries_the_patient_or_the_payload() {
    let write = request(
        json!({"kind": "create", "patient": "MRN-SECRET-1", "actor": "a",
        "payload": {"resourceType": "Observation", "note": "PAYLOAD-SECRET"}}),
    );
    let text = format!("{write:?}");
    assert!(
        !text.contains("MRN-SECRET-1") && !text.contains("PAYLOAD-SECRET"),
        "{text}"
    );
    let batch: NewRecords = serde_json::from_value(json!({"records": [{"kind": "create",
        "patient": "MRN-SECRET-2", "actor": "a", "payload": {"resourceType": "Observation"}}]}))
    .unwrap();
    assert!(!format!("{batch:?}").contains("MRN-SECRET-2"));
    let query = PatientQuery {
        patient: "MRN-SECRET-3".into(),
    };
    assert!(!format!("{query:?}").contains("MRN-SECRET-3"));
}
