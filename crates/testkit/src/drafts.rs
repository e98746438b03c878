//! Entry drafts as the node's API makes them: patients pseudonymised under a fixed key, FHIR
//! JSON payloads, the actor of each kind.

use medchain_chain::{EntryDraft, PayloadDraft};
use medchain_protocol::{EntryKind, EntryRef, Parent, PatientRef, PseudonymKey, RecordId, Terms};

/// The consortium's pseudonym key in these tests.
pub const PSEUDONYM_KEY: [u8; 32] = [7; 32];

/// The pseudonym of patient identifier `id`.
pub fn patient(id: &str) -> PatientRef {
    PatientRef::pseudonymise(&PseudonymKey::from_bytes(PSEUDONYM_KEY), id).unwrap()
}

/// A FHIR JSON payload.
pub fn fhir(body: &str) -> Option<PayloadDraft> {
    Some(PayloadDraft {
        bytes: body.as_bytes().to_vec().into(),
        content_type: "application/fhir+json".into(),
    })
}

/// A create of a record for `patient_id`.
pub fn create(patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind: EntryKind::Create,
        record: None,
        patient: patient(patient_id),
        actor: "dr-401542".into(),
        payload: fhir(body),
        parents: vec![],
        terms: None,
    }
}

/// An amend of `record` from `parent`.
pub fn amend(record: RecordId, parent: Parent, patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind: EntryKind::Amend,
        record: Some(record),
        patient: patient(patient_id),
        actor: "dr-401542".into(),
        payload: fhir(body),
        parents: vec![parent],
        terms: None,
    }
}

/// A record of `kind` (derive, merge, ...) from `parents`.
pub fn derived(kind: EntryKind, parents: Vec<Parent>, patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind,
        record: None,
        patient: patient(patient_id),
        actor: "dr-777".into(),
        payload: fhir(body),
        parents,
        terms: None,
    }
}

/// A grant, revoke or erase entry (`kind`) about the record created at `created`, of patient
/// MRN-1, to `to` (grants and revokes), for the whole patient if `whole`.
pub fn terms(kind: EntryKind, created: EntryRef, to: Option<&str>, whole: bool) -> EntryDraft {
    EntryDraft {
        kind,
        record: Some(RecordId::derive(
            &created.chain,
            created.height,
            created.index,
        )),
        patient: patient("MRN-1"),
        actor: "privacy-officer".into(),
        payload: None,
        parents: vec![Parent::Entry(created)],
        terms: Some(Terms {
            to: to.map(str::to_owned),
            whole_patient: whole,
        }),
    }
}
