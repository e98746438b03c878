//! The append-only logs: equivocation evidence (deduplicated) and verifier reports.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::*;
use medchain_store::Store;
use medchain_testkit::blocks::*;

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
    let mut store = Store::open_temporary().unwrap();
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
    // A third block at the same height proves nothing more: one piece per height is kept.
    let (e2, _) = evidence(1, 3);
    assert_eq!(e2.first, e1.first);
    assert!(!store.put_evidence(&e2).unwrap());
    assert_eq!(store.evidence().unwrap(), vec![e1]);
}

/// Evidence is kept once per (chain, height): a provider signing many variants of one height
/// cannot fill the store. Listing goes by pages, each naming where the next one starts.
#[test]
fn evidence_is_kept_once_per_height_and_listed_in_pages() {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(2);
    let mut first = None;
    for height in 0..5u64 {
        a.push_creates(1);
        let ours = a.blocks.last().unwrap().signed_header();
        for variant in 0..3u32 {
            let mut other = ours.clone();
            other.header.time_ms += 1 + u64::from(variant);
            let evidence = EquivocationEvidence {
                certificate: certificate(2),
                first: ours.clone(),
                second: other,
            };
            let new = store.put_evidence(&evidence).unwrap();
            assert_eq!(new, variant == 0, "height {height} variant {variant}");
            first.get_or_insert(evidence);
        }
    }
    assert_eq!(store.evidence().unwrap().len(), 5);
    let (page, next) = store.evidence_page(None, 2).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(next, Some((a.id, 1)));
    let (page, next) = store.evidence_page(next, 2).unwrap();
    assert_eq!(
        page.iter()
            .map(|e| e.first.header.height)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    let (page, next) = store.evidence_page(next, 2).unwrap();
    assert_eq!((page.len(), next), (1, None));
}

#[test]
fn reports_are_numbered_and_listed_newest_first() {
    let mut store = Store::open_temporary().unwrap();
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
        let mut store = Store::open(dir.path()).unwrap();
        store.put_evidence(&e).unwrap();
        store.put_report(b"first").unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.evidence().unwrap(), vec![e]);
    assert_eq!(store.put_report(b"second").unwrap(), 2);
    assert_eq!(store.reports(1).unwrap(), vec![(2, b"second".to_vec())]);
}
