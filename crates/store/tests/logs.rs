//! The append-only logs: equivocation evidence (deduplicated) and verifier reports.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::*;
use medchain_protocol::*;
use medchain_store::Store;

/// Two different blocks of one chain at one height, as equivocation evidence.
fn evidence(seed: u8, entries: u32) -> (EquivocationEvidence, Chain) {
    let mut c = Chain::new(seed);
    c.push_creates(1);
    let first = c.push_creates(1);
    c.blocks.pop();
    let second = c.push_creates(entries);
    let evidence = EquivocationEvidence {
        certificate: certificate(seed),
        first: first.signed_header(),
        second: second.signed_header(),
    };
    (evidence, c)
}

#[test]
fn evidence_is_stored_once_and_listed() {
    let store = Store::open_temporary().unwrap();
    let (e1, c) = evidence(1, 2);
    let second = e1.second.header.hash();
    assert!(!store.has_evidence(&c.id, 1, &second).unwrap());
    assert!(store.put_evidence(&e1).unwrap());
    assert!(!store.put_evidence(&e1).unwrap());
    assert!(store.has_evidence(&c.id, 1, &second).unwrap());
    assert!(!store.has_evidence(&c.id, 2, &second).unwrap());
    assert!(
        !store
            .has_evidence(&c.id, 1, &e1.first.header.hash())
            .unwrap()
    );
    // A third block at the same height is another piece of evidence.
    let (e2, _) = evidence(1, 3);
    assert_eq!(e2.first, e1.first);
    assert!(store.put_evidence(&e2).unwrap());
    let all = store.evidence().unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&e1) && all.contains(&e2));
}

#[test]
fn reports_are_numbered_and_listed_newest_first() {
    let store = Store::open_temporary().unwrap();
    assert!(store.reports(10).unwrap().is_empty());
    for i in 1..=5u64 {
        assert_eq!(
            store.put_report(format!("report {i}").as_bytes()).unwrap(),
            i
        );
    }
    let newest: Vec<(u64, Vec<u8>)> = store.reports(2).unwrap();
    assert_eq!(
        newest,
        vec![(5, b"report 5".to_vec()), (4, b"report 4".to_vec())]
    );
    assert_eq!(store.reports(100).unwrap().len(), 5);
    assert!(store.reports(0).unwrap().is_empty());
}

#[test]
fn logs_survive_reopen_and_numbering_continues() {
    let dir = tempfile::tempdir().unwrap();
    let (e, _) = evidence(4, 2);
    {
        let store = Store::open(dir.path()).unwrap();
        store.put_evidence(&e).unwrap();
        store.put_report(b"first").unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.evidence().unwrap(), vec![e]);
    assert_eq!(store.put_report(b"second").unwrap(), 2);
    assert_eq!(store.reports(1).unwrap(), vec![(2, b"second".to_vec())]);
}
