//! The decision over one chain's terms entries about one patient.

use super::*;

const CHAIN: ChainId = ChainId([7; 32]);

fn at(height: u64) -> EntryRef {
    EntryRef {
        chain: CHAIN,
        height,
        index: 0,
    }
}

fn record(n: u8) -> RecordId {
    RecordId([n; 16])
}

fn terms(height: u64, kind: EntryKind, rec: u8, to: Option<&str>, whole: bool) -> TermsEntry {
    TermsEntry {
        at: at(height),
        kind,
        record: record(rec),
        to: to.map(str::to_owned),
        whole_patient: whole,
        actor: "privacy-officer".into(),
        time_ms: height,
    }
}

fn of(entries: Vec<TermsEntry>) -> PatientTerms {
    PatientTerms { entries }
}

#[test]
fn the_latest_grant_or_revoke_to_an_organisation_decides() {
    let b = Some("Hospital B");
    let t = of(vec![
        terms(2, EntryKind::Grant, 1, b, false),
        terms(3, EntryKind::Grant, 2, Some("Hospital C"), false),
    ]);
    assert!(t.open_to(&record(1), "Hospital B"));
    assert!(
        !t.open_to(&record(2), "Hospital B"),
        "C's grant opens nothing to B"
    );
    assert!(!t.open_to(&record(1), "Hospital C"));
    let revoked = of(vec![
        terms(2, EntryKind::Grant, 1, b, false),
        terms(4, EntryKind::Revoke, 1, b, false),
    ]);
    assert!(!revoked.open_to(&record(1), "Hospital B"));
    assert_eq!(revoked.in_force(&record(1)), Vec::<&TermsEntry>::new());
    assert_eq!(t.in_force(&record(1)).len(), 1);
}

#[test]
fn a_patient_grant_opens_every_record_until_revoked_or_carved_out() {
    let b = Some("Hospital B");
    let t = of(vec![
        terms(2, EntryKind::Grant, 1, b, true),
        terms(5, EntryKind::Revoke, 3, b, false),
    ]);
    assert!(t.open_to(&record(1), "Hospital B"));
    assert!(
        t.open_to(&record(9), "Hospital B"),
        "present and future records"
    );
    assert!(
        !t.open_to(&record(3), "Hospital B"),
        "a record-level revoke carves one out"
    );
    let closed = of(vec![
        terms(2, EntryKind::Grant, 1, b, true),
        terms(3, EntryKind::Grant, 4, b, false),
        terms(6, EntryKind::Revoke, 1, b, true),
    ]);
    assert!(
        !closed.open_to(&record(4), "Hospital B"),
        "a patient revoke closes all"
    );
}

#[test]
fn an_erase_covers_the_entries_before_it_whatever_the_grants() {
    let b = Some("Hospital B");
    let t = of(vec![
        terms(2, EntryKind::Grant, 1, b, false),
        terms(5, EntryKind::Erase, 1, None, false),
    ]);
    assert_eq!(
        t.standing(&at(1), &record(1), "Hospital B"),
        Standing::Erased
    );
    assert_eq!(t.standing(&at(6), &record(1), "Hospital B"), Standing::Open);
    assert_eq!(
        t.standing(&at(1), &record(2), "Hospital B"),
        Standing::Closed
    );
    let whole = of(vec![terms(5, EntryKind::Erase, 1, None, true)]);
    assert!(whole.erased(&at(4), &record(8)));
    assert!(!whole.erased(&at(7), &record(8)));
}
