//! The structural rules of one entry.

use super::*;
use crate::ids::ChainId;

fn position() -> EntryRef {
    EntryRef {
        chain: ChainId([9; 32]),
        height: 5,
        index: 2,
    }
}

fn create() -> Entry {
    let at = position();
    Entry {
        kind: EntryKind::Create,
        record: RecordId::derive(&at.chain, at.height, at.index),
        patient: PatientRef([3; 32]),
        actor: "dr-401542".into(),
        payload: Some(PayloadRef {
            hash: PayloadHash::of(b"{}"),
            len: 2,
            content_type: "application/fhir+json".into(),
        }),
        parents: vec![],
        terms: None,
    }
}

#[test]
fn valid_create() {
    create().check_structure(position()).unwrap();
}

#[test]
fn record_id_must_be_derived() {
    let mut e = create();
    e.record = RecordId([0; 16]);
    assert_eq!(
        e.check_structure(position()),
        Err(EntryError::RecordIdMismatch)
    );
}

#[test]
fn payload_rules() {
    let mut e = create();
    e.payload = None;
    assert!(matches!(
        e.check_structure(position()),
        Err(EntryError::PayloadPresence { .. })
    ));
    let mut e = create();
    e.payload.as_mut().unwrap().content_type = "fhir json".into();
    assert_eq!(
        e.check_structure(position()),
        Err(EntryError::BadContentType)
    );
    let mut e = create();
    e.payload.as_mut().unwrap().len = MAX_PAYLOAD_BYTES as u64 + 1;
    assert!(matches!(
        e.check_structure(position()),
        Err(EntryError::PayloadTooLarge(_))
    ));
}

#[test]
fn parent_rules() {
    let at = position();
    let mut e = create();
    e.kind = EntryKind::Merge;
    e.parents = vec![Parent::Record(RecordId([1; 16]))];
    assert!(matches!(
        e.check_structure(at),
        Err(EntryError::ParentCount { .. })
    ));
    e.parents.push(Parent::Record(RecordId([1; 16])));
    assert_eq!(e.check_structure(at), Err(EntryError::DuplicateParent));
    e.parents[1] = Parent::Entry(at);
    assert_eq!(e.check_structure(at), Err(EntryError::ParentNotEarlier(at)));
    e.parents[1] = Parent::Entry(EntryRef { index: 1, ..at });
    e.check_structure(at).unwrap();
}

#[test]
fn text_rules() {
    assert!(is_content_type("application/fhir+json"));
    assert!(is_content_type("text/plain; charset=utf-8"));
    assert!(!is_content_type("application"));
    assert!(!is_content_type("a/b/c"));
    assert!(!is_content_type(""));
    assert!(is_printable_text("dr-1", 8));
    assert!(!is_printable_text(" dr-1", 8));
    assert!(!is_printable_text("dr\n1", 8));
    assert_eq!("merge".parse::<EntryKind>().unwrap(), EntryKind::Merge);
    assert!("forge".parse::<EntryKind>().is_err());
}

#[test]
fn terms_rules() {
    let at = position();
    let created = EntryRef { height: 1, ..at };
    let grant = |to: Option<&str>, terms: bool| Entry {
        kind: EntryKind::Grant,
        record: RecordId::derive(&created.chain, created.height, created.index),
        payload: None,
        parents: vec![Parent::Entry(created)],
        terms: terms.then(|| Terms {
            to: to.map(str::to_owned),
            whole_patient: false,
        }),
        ..create()
    };
    grant(Some("Hospital B"), true).check_structure(at).unwrap();
    let bad = |e: Entry| matches!(e.check_structure(at), Err(EntryError::BadTerms { .. }));
    assert!(bad(grant(None, true)), "a grant names an organisation");
    assert!(bad(grant(None, false)), "a grant has terms");
    assert!(bad(grant(Some(" padded"), true)));
    assert!(bad(grant(Some(&"o".repeat(129)), true)));
    let revoke = Entry {
        kind: EntryKind::Revoke,
        ..grant(Some("Hospital B"), true)
    };
    revoke.check_structure(at).unwrap();
    let erase = Entry {
        kind: EntryKind::Erase,
        ..grant(None, true)
    };
    erase.check_structure(at).unwrap();
    assert!(bad(Entry {
        kind: EntryKind::Erase,
        ..grant(Some("Hospital B"), true)
    }));
    // Terms on any other kind are refused; none of these kinds carries a payload.
    let mut with_terms = create();
    with_terms.terms = Some(Terms {
        to: None,
        whole_patient: true,
    });
    assert!(bad(with_terms));
    let mut with_payload = grant(Some("Hospital B"), true);
    with_payload.payload = create().payload;
    assert!(matches!(
        with_payload.check_structure(at),
        Err(EntryError::PayloadPresence { .. })
    ));
    for kind in [EntryKind::Grant, EntryKind::Revoke, EntryKind::Erase] {
        assert_eq!(kind.as_str().parse::<EntryKind>().unwrap(), kind);
        assert!(kind.has_terms() && !kind.has_payload() && !kind.creates_record());
    }
}

#[test]
fn only_the_creating_chain_grants_revokes_or_erases() {
    let at = position();
    let created = EntryRef { height: 1, ..at };
    let erase = |record: RecordId, parents: Vec<Parent>| Entry {
        kind: EntryKind::Erase,
        record,
        payload: None,
        parents,
        terms: Some(Terms {
            to: None,
            whole_patient: false,
        }),
        ..create()
    };
    let own = RecordId::derive(&created.chain, created.height, created.index);
    erase(own, vec![Parent::Entry(created)])
        .check_structure(at)
        .unwrap();
    let not_own = |e: Entry| matches!(e.check_structure(at), Err(EntryError::NotOwnRecord { .. }));
    // Another chain's record, named by its own creating entry.
    let foreign = EntryRef {
        chain: ChainId([8; 32]),
        ..created
    };
    let foreign_record = RecordId::derive(&foreign.chain, foreign.height, foreign.index);
    assert!(not_own(erase(foreign_record, vec![Parent::Entry(foreign)])));
    // Our own entry, but not the one that created the named record.
    assert!(not_own(erase(foreign_record, vec![Parent::Entry(created)])));
    // The record named as a whole proves nothing about where it was created.
    assert!(not_own(erase(own, vec![Parent::Record(own)])));
    assert!(matches!(
        erase(own, vec![]).check_structure(at),
        Err(EntryError::ParentCount { .. })
    ));
}
