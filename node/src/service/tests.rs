//! The service layer against a real ledger on a temporary store.

use medchain_protocol::identity::Role;
use medchain_protocol::{EntryKind, PseudonymKey};
pub(crate) use medchain_testkit::clock::now_ms;
use medchain_testkit::pki::{TestCa, author_of};
use serde_json::json;

use super::audit::AuditLog;
use super::*;

pub(crate) fn consortium() -> TestCa {
    TestCa::new("Consortium")
}

fn service(role: Role, audit: AuditTrail) -> Service {
    service_in(&consortium(), role, audit)
}

/// A service of a member with `role` of consortium `ca`, on a temporary store.
pub(crate) fn service_in(ca: &TestCa, role: Role, audit: AuditTrail) -> Service {
    service_with(ca, role, audit, std::sync::Arc::default())
}

/// [`service_in`], with the run's `coordination` (which the API must share with it).
pub(crate) fn service_with(
    ca: &TestCa,
    role: Role,
    audit: AuditTrail,
    coordination: std::sync::Arc<crate::coordination::Coordination>,
) -> Service {
    let member = ca.member(role, "Hospital A");
    let author = (role == Role::Provider).then(|| author_of(&member));
    Service::new(
        ca.ledger(),
        author,
        medchain_testkit::pki::keyring(),
        (role == Role::Provider).then(|| PseudonymKey::from_bytes([3; 32])),
        audit,
        now_ms,
        coordination,
    )
}

fn patient(identifier: &str) -> medchain_requests::PatientQuery {
    medchain_requests::PatientQuery {
        patient: identifier.to_owned(),
    }
}

fn new_record(body: serde_json::Value) -> NewRecord {
    serde_json::from_value(json!({
        "kind": "create",
        "patient": "MRN-0042",
        "payload": body,
        "actor": "dr-401542",
    }))
    .unwrap()
}

#[test]
fn write_read_amend_and_audit_on_chain() {
    let s = service(Role::Provider, AuditTrail::Chain);
    let written = s
        .submit(new_record(
            json!({"resourceType": "Observation", "value": 1}),
        ))
        .unwrap();
    let view = s.record(written.record, "nurse-7").unwrap();
    assert_eq!(
        view.payload,
        Some(json!({"resourceType": "Observation", "value": 1}))
    );
    assert_eq!(view.versions, 1);
    // The read was written to our chain as an access entry.
    let chains = s.chains().unwrap();
    assert_eq!(chains[0].head.height, 1);
    assert_eq!(chains[0].org.as_deref(), Some("Hospital A"));

    let amend: NewRecord = serde_json::from_value(json!({
        "kind": "amend",
        "record": written.record,
        "patient": "MRN-0042",
        "payload": {"resourceType": "Observation", "value": 2},
        "parents": [written.entry.to_string()],
        "actor": "dr-401542",
    }))
    .unwrap();
    s.submit(amend).unwrap();
    let view = s.record(written.record, "nurse-7").unwrap();
    assert_eq!(view.versions, 2);
    assert_eq!(view.latest.kind, EntryKind::Amend);
    assert_eq!(
        view.payload,
        Some(json!({"resourceType": "Observation", "value": 2}))
    );

    let history = s.history(written.record, "auditor-1").unwrap();
    assert_eq!(history.records[0].accesses, 2);
    let records = s
        .patient_records(&patient(" MRN-0042 "), "nurse-7")
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].entries.len(), 2);
    assert!(
        s.patient_records(&patient("MRN-9999"), "nurse-7")
            .unwrap()
            .is_empty()
    );
    assert!(s.verify().unwrap().is_clean());
    assert_eq!(s.reports(5).unwrap().len(), 1);
    assert!(s.evidence_page(None, 10).unwrap().0.is_empty());
}

#[test]
fn audit_off_writes_nothing_on_read() {
    let s = service(Role::Provider, AuditTrail::Off);
    let written = s
        .submit(new_record(json!({"resourceType": "Observation"})))
        .unwrap();
    s.record(written.record, "nurse-7").unwrap();
    assert_eq!(s.chains().unwrap()[0].head.height, 0);
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let s = service(Role::Provider, AuditTrail::Chain);
    let cases = [
        (
            json!({"kind": "create", "patient": "MRN-1", "payload": {"no": "type"}, "actor": "a"}),
            "resourceType",
        ),
        (
            json!({"kind": "create", "patient": "MRN-1", "payload": {"resourceType": "X"}, "content_type": "text/plain", "actor": "a"}),
            "JSON payloads",
        ),
        (
            json!({"kind": "create", "patient": "  ", "payload": {"resourceType": "X"}, "actor": "a"}),
            "patient",
        ),
        (
            json!({"kind": "create", "patient": "MRN-1", "actor": "a"}),
            "needs a payload",
        ),
        (
            json!({"kind": "derive", "patient": "MRN-1", "payload": {"resourceType": "X"}, "parents": ["nonsense"], "actor": "a"}),
            "parent",
        ),
        (
            json!({"kind": "derive", "patient": "MRN-1", "payload": {"resourceType": "X"}, "actor": "a"}),
            "parents",
        ),
        (
            json!({"kind": "create", "record": "00112233445566778899aabbccddeeff", "patient": "MRN-1", "payload": {"resourceType": "X"}, "actor": "a"}),
            "record ID",
        ),
        (
            json!({"kind": "access", "record": "00112233445566778899aabbccddeeff", "patient": "MRN-1", "actor": "a"}),
            "reads",
        ),
        (
            json!({"kind": "create", "patient": "MRN-1", "payload": {"resourceType": "X"}, "actor": " padded"}),
            "actor",
        ),
    ];
    for (body, expected) in cases {
        let request: NewRecord = serde_json::from_value(body.clone()).unwrap();
        let err = s.submit(request).unwrap_err();
        assert_eq!(err.status(), 400, "{body}: {err}");
        assert!(err.to_string().contains(expected), "{body}: {err}");
        assert!(
            !err.to_string().contains("MRN-1"),
            "error echoes the patient identifier: {err}"
        );
    }
    assert!(
        serde_json::from_value::<NewRecord>(json!({"kind": "forge", "patient": "x", "actor": "a"}))
            .is_err()
    );
    assert!(s.chains().unwrap().is_empty(), "nothing was written");
    assert_eq!(
        s.record(medchain_protocol::RecordId([1; 16]), "a")
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn auditor_node_reads_but_cannot_write_and_logs_locally() {
    let ca = consortium();
    let provider = service_in(&ca, Role::Provider, AuditTrail::Chain);
    let written = provider
        .submit(new_record(json!({"resourceType": "Patient"})))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("audit.jsonl");
    let auditor = service_in(
        &ca,
        Role::Auditor,
        AuditTrail::LocalLog(AuditLog::new(log_path.clone())),
    );
    let err = auditor
        .submit(new_record(json!({"resourceType": "Patient"})))
        .unwrap_err();
    assert_eq!(err.status(), 403);
    // The auditor catches up with the provider's chain (by hand here; by sync in the node).
    let blocks = provider
        .blocks(&provider.chains().unwrap()[0].head.chain, 0, 10)
        .unwrap();
    let (committed, failure) = auditor.ledger().ingest_range(blocks, now_ms());
    assert!(failure.is_none() && committed.len() == 1, "{failure:?}");
    // It holds the sealed payload (fetched by hash in the node) and no key for it: the record's
    // history is there, its payload is not readable.
    let entry = provider
        .blocks(&provider.chains().unwrap()[0].head.chain, 0, 1)
        .unwrap()[0]
        .entries[0]
        .clone();
    let sealed = provider
        .reader()
        .payload(&entry.payload.unwrap().hash)
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains("Patient"));
    auditor.restore_payload(&sealed).unwrap();
    let refused = auditor.record(written.record, "auditor-9").unwrap_err();
    assert_eq!(refused.status(), 403, "{refused}");
    assert!(refused.to_string().contains("holds no key"), "{refused}");
    let history = auditor.history(written.record, "auditor-9").unwrap();
    assert_eq!(history.records.len(), 1);
    // The author reads it.
    let view = provider.record(written.record, "dr-1").unwrap();
    assert_eq!(view.payload, Some(json!({"resourceType": "Patient"})));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(log.lines().count(), 1, "the history read is logged");
    assert!(log.contains("auditor-9") && log.contains(&written.record.to_string()));
    assert!(
        !log.contains("MRN-0042"),
        "the audit log must not hold the identifier"
    );
}

#[test]
fn concurrent_writes_share_blocks_and_a_bad_one_fails_alone() {
    let s = std::sync::Arc::new(service(Role::Provider, AuditTrail::Off).with_batching(
        BatchLimits {
            max_entries: 1024,
            max_delay: std::time::Duration::from_millis(50),
        },
    ));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let actor = if i == 7 { " padded" } else { "dr-1" };
                let request: NewRecord = serde_json::from_value(json!({
                    "kind": "create",
                    "patient": format!("MRN-{i}"),
                    "payload": {"resourceType": "Observation", "i": i},
                    "actor": actor,
                }))
                .unwrap();
                s.submit(request)
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 15);
    assert_eq!(failed.len(), 1);
    let err = failed.into_iter().next().unwrap().unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("actor"), "{err}");
    let mut records: Vec<_> = ok.into_iter().map(|r| r.unwrap().record).collect();
    records.sort();
    records.dedup();
    assert_eq!(records.len(), 15);
    let blocks = s.chains().unwrap()[0].head.height + 1;
    assert!(
        blocks < 15,
        "15 concurrent writes took {blocks} blocks: not batched"
    );
    assert!(s.verify().unwrap().is_clean());
}

#[test]
fn a_planted_patient_index_entry_does_not_show_another_patients_record() {
    let s = service(Role::Provider, AuditTrail::Off);
    let ours = s
        .submit(new_record(json!({"resourceType": "Observation"})))
        .unwrap();
    let theirs: NewRecord = serde_json::from_value(json!({
        "kind": "create",
        "patient": "MRN-7777",
        "payload": {"resourceType": "Observation"},
        "actor": "dr-401542",
    }))
    .unwrap();
    let theirs = s.submit(theirs).unwrap();
    // Someone with access to the store files adds the other patient's entry under ours.
    let ours_ref =
        PatientRef::pseudonymise(&PseudonymKey::from_bytes([3; 32]), "MRN-0042").unwrap();
    medchain_store::tamper::plant_patient_index(
        s.ledger().store_for_tampering(),
        &ours_ref,
        &theirs.entry,
    )
    .unwrap();
    let records = s.patient_records(&patient("MRN-0042"), "nurse-7").unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].record, ours.record);
    assert_eq!(records[0].entries, vec![ours.entry]);
}
