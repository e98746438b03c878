//! The verifier distrusts the store it checks: a planted or malformed entry in any tree is a
//! finding (a violation of its chain and height, or a stray entry set aside), never a reason
//! every scan fails; and raw damage to the files is found or refused, never served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::ViolationKind;
use medchain_protocol::{ChainId, EntryRef, RecordId};
use medchain_store::tamper::{self, plant_raw};
use medchain_testkit::clock::*;
use medchain_testkit::ledgers::*;

/// A scan finds exactly these stray trees, sets them aside, and the next scan is clean.
fn expect_stray_set_aside(w: &mut World, trees: &[&str]) {
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    let mut found: Vec<&str> = report.stray.iter().map(|s| s.tree.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, trees, "{:#?}", report.stray);
    let kept = w.node.store().set_aside_entries().unwrap();
    assert_eq!(kept.len(), trees.len());
    let after = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(after.is_clean(), "{after:#?}");
}

#[test]
fn malformed_keys_and_values_in_the_small_trees_are_set_aside_not_fatal() {
    let mut w = world();
    let store = w.node.store_for_tampering();
    plant_raw(store, "chain_index", b"short", Some(b"x")).unwrap();
    plant_raw(
        store,
        "quarantine_events",
        &7u64.to_be_bytes(),
        Some(b"not an event"),
    )
    .unwrap();
    plant_raw(store, "reports", b"bad report key", Some(b"")).unwrap();
    plant_raw(store, "heads", b"not a chain", Some(b"")).unwrap();
    plant_raw(
        store,
        "certificates",
        &[9; 32],
        Some(b"not the hashed bytes"),
    )
    .unwrap();
    plant_raw(store, "evidence", b"k", Some(b"not evidence")).unwrap();
    plant_raw(store, "meta", b"planted", Some(b"1")).unwrap();
    expect_stray_set_aside(
        &mut w,
        &[
            "certificates",
            "chain_index",
            "evidence",
            "heads",
            "meta",
            "quarantine_events",
            "reports",
        ],
    );
    // Writes work on: a quarantine event and a report can still be numbered.
    let reports = w.node.reports(10).unwrap();
    assert!(reports.len() >= 2);
}

/// A sequence key at the end of its range (only a planted key gets there) does not stop
/// every later report: the scan sets it aside before numbering its own report.
#[test]
fn a_report_number_at_its_end_is_set_aside() {
    let mut w = world();
    let planted = u64::MAX.to_be_bytes();
    plant_raw(w.node.store_for_tampering(), "reports", &planted, Some(b"")).unwrap();
    expect_stray_set_aside(&mut w, &["reports"]);
    assert_eq!(w.node.reports(10).unwrap().len(), 2);
}

#[test]
fn a_malformed_chain_index_value_is_a_violation_of_its_height() {
    let mut w = world();
    let chain = w.a.chain();
    tamper::set_chain_index_raw(w.node.store_for_tampering(), &chain, 2, b"short").unwrap();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    let v = &report.violations[0];
    assert_eq!(
        (v.chain, v.height, v.kind),
        (chain, 2, ViolationKind::IndexInconsistent)
    );
    w.node.quarantine(v, now_ms()).unwrap();
    refill_from_clean(&mut w, &chain, 1);
}

#[test]
fn a_malformed_head_value_still_gets_its_chain_scanned_and_repaired() {
    let mut w = world();
    let chain = w.b.chain();
    plant_raw(
        w.node.store_for_tampering(),
        "heads",
        chain.as_bytes(),
        Some(b"bad"),
    )
    .unwrap();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    // The chain is walked from its index; the missing head is its top's violation, and the
    // malformed head record is set aside.
    assert_eq!(report.chains, 2);
    assert_eq!(report.blocks, 6 + 3);
    let v = report.violations.first().expect("a violation");
    assert_eq!(
        (v.chain, v.height, v.kind),
        (chain, 2, ViolationKind::HeadMismatch)
    );
    w.node.quarantine(v, now_ms()).unwrap();
    refill_from_clean(&mut w, &chain, 1);
}

#[test]
fn a_planted_index_key_no_block_implies_is_found_and_removed() {
    let mut w = world();
    let chain = w.a.chain();
    let at = EntryRef {
        chain,
        height: 3,
        index: 0,
    };
    tamper::plant_record_index(w.node.store_for_tampering(), &RecordId([5; 16]), &at).unwrap();
    plant_raw(
        w.node.store_for_tampering(),
        "patients",
        b"malformed",
        Some(b""),
    )
    .unwrap();
    expect_stray_set_aside(&mut w, &["patients", "records"]);
    assert!(
        w.node
            .store()
            .record_entries(&RecordId([5; 16]))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_damaged_certificate_is_repaired_by_refetching_the_block_carrying_it() {
    let mut w = world();
    let chain = w.b.chain();
    let genesis = w.node.store().block_at(&chain, 0).unwrap().unwrap();
    let cert = genesis.header.cert;
    plant_raw(
        w.node.store_for_tampering(),
        "certificates",
        cert.as_bytes(),
        Some(b"damaged"),
    )
    .unwrap();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    // The blocks above genesis are judged against the certificate genesis carries: one finding.
    let kinds: Vec<(ChainId, u64, ViolationKind)> = report
        .violations
        .iter()
        .map(|v| (v.chain, v.height, v.kind))
        .collect();
    assert_eq!(kinds, vec![(chain, 0, ViolationKind::IndexInconsistent)]);
    let v = report.violations[0].clone();
    w.node.quarantine(&v, now_ms()).unwrap();
    refill_from_clean(&mut w, &chain, 1);
    assert_eq!(
        w.node.store().certificate(&cert).unwrap(),
        genesis.certificate
    );
}

/// An attacker rewrites a block's entries and re-hashes it (entries root and header hash check
/// out; the signature does not): the store's checked read would serve it, signature-checked
/// reads never do, and the verifier finds it.
#[test]
fn a_re_hashed_forged_block_is_never_served() {
    let mut w = world();
    let chain = w.a.chain();
    let original = w.node.store().block_at(&chain, 3).unwrap().unwrap();
    let mut forged = original.clone();
    forged.entries[0].actor = "mallory".into();
    forged.header.entries_root = medchain_protocol::merkle::root(&forged.entry_hashes());
    let store = w.node.store_for_tampering();
    tamper::put_block_bytes(store, &forged.hash(), &forged.encode()).unwrap();
    tamper::set_chain_index(store, &chain, 3, &forged.hash()).unwrap();
    // The store's own checks pass: hash and entries root are consistent.
    assert_eq!(
        w.node.store().block_at(&chain, 3).unwrap(),
        Some(forged.clone())
    );
    let reads = reads(&w.node);
    assert!(matches!(
        reads.block_at(&chain, 3),
        Err(medchain_store::StoreError::Corrupt(
            medchain_store::Corruption::Forged { height: 3, .. }
        ))
    ));
    assert_eq!(
        reads.block_at(&chain, 2).unwrap().as_ref(),
        chain_blocks(&w.clean, &chain).get(2)
    );
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    let v = report.violations.first().expect("found");
    assert_eq!((v.height, v.kind), (3, ViolationKind::BadSignature));
}
