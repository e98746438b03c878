//! The verifier finds each kind of tampering at the right chain and height, and quarantine plus
//! restore from a clean copy brings the chain back exactly (the paper's scenario 2, Figure 4).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{Decoded, ViolationKind};
use medchain_protocol::identity::{MemberKey, Role};
use medchain_protocol::{Block, ChainId, EntryRef};
use medchain_store::tamper;
use medchain_testkit::clock::*;
use medchain_testkit::ledgers::*;

/// Verifies, expects exactly one damaged run at (chain, height..=to, kind), quarantines it (only
/// it: the blocks above stay), refills exactly that range from the clean copy, and checks the
/// chain is identical to the clean one and verifies clean.
fn expect_found_and_repaired(
    w: &mut World,
    chain: ChainId,
    heights: std::ops::RangeInclusive<u64>,
    kind: ViolationKind,
) {
    let (height, to) = (*heights.start(), *heights.end());
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    let v = &report.violations[0];
    assert_eq!(
        (v.chain, v.height, v.to_height, v.kind),
        (chain, height, to, kind),
        "{}",
        v.detail
    );

    let top = w.clean.store().head(&chain).unwrap().unwrap().height;
    let repair = w.node.quarantine(v, now_ms()).unwrap();
    assert_eq!((repair.from_height, repair.to_height), (height, to));
    assert!(!repair.event.blocks.is_empty());
    let head = w.node.store().head(&chain).unwrap().map(|h| h.height + 1);
    let expected_head = if to == top { height } else { top + 1 };
    assert_eq!(
        head.unwrap_or(0),
        expected_head,
        "quarantined {height}..={to}"
    );
    for h in heights.clone() {
        assert_eq!(w.node.store().block_hash_at(&chain, h).unwrap(), None);
    }
    let holes = w.node.holes().unwrap();
    if to < top {
        assert_eq!(holes.len(), 1, "{holes:?}");
        assert_eq!((holes[0].from, holes[0].to), (height, to + 1));
    } else {
        assert!(holes.is_empty(), "a cut head is found by comparing heads");
    }
    assert!(w.node.complete_restores(now_ms()).unwrap().is_empty());
    // A scan while the range is away knows it is being repaired: no second event.
    let during = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(during.is_clean(), "{:#?}", during.violations);
    let away = if to < top { to - height + 1 } else { 0 };
    assert_eq!(during.awaiting_repair, away);

    let range = usize::try_from(height).unwrap()..=usize::try_from(to).unwrap();
    let missing: Vec<Block> = chain_blocks(&w.clean, &chain)[range].to_vec();
    let (done, failure) = w.node.ingest_range(missing, now_ms());
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(done.len() as u64, to - height + 1);
    let restored = w.node.complete_restores(now_ms()).unwrap();
    assert_eq!(restored.len(), 1);
    assert!(w.node.holes().unwrap().is_empty());

    assert_eq!(
        chain_blocks(&w.node, &chain),
        chain_blocks(&w.clean, &chain)
    );
    let after = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(after.is_clean(), "{:#?}", after.violations);
    assert_eq!(after.awaiting_repair, 0);
    // The quarantine keeps the event and the bytes for forensics.
    let events = w.node.store().quarantine_events().unwrap();
    assert!(events[0].restored_at_ms.is_some());
}

/// Re-signs the stored block at (chain, height) with a key from outside the chain, as an
/// attacker with the files but not the provider's key would.
fn resign_with_foreign_key(w: &mut World, chain: &ChainId, height: u64) {
    let hash = hash_at(&w.node, chain, height);
    let mut block = w.node.store().block(&hash).unwrap().unwrap();
    let foreign =
        MemberKey::from_pkcs8_der(&w.c.member(Role::Provider, "Mallory").key_pkcs8_der).unwrap();
    block.signature = block.header.sign(&foreign);
    tamper::overwrite_block_bytes(w.node.store_for_tampering(), &hash, &block.encode()).unwrap();
}

#[test]
fn clean_store_verifies_clean() {
    let mut w = world();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert_eq!(report.chains, 2);
    assert_eq!(report.blocks, 9);
    assert_eq!(report.payloads, 9);
    assert_eq!(w.node.reports(10).unwrap().len(), 1);
}

#[test]
fn flipped_byte_in_entries_is_found() {
    let mut w = world();
    let hash = hash_at(&w.node, &w.a.chain(), 3);
    let mut bytes = w.node.store().raw_block_bytes(&hash).unwrap().unwrap();
    let at = bytes.len() - 10; // inside the last entry
    bytes[at] ^= 0x01;
    tamper::overwrite_block_bytes(w.node.store_for_tampering(), &hash, &bytes).unwrap();
    let chain = w.a.chain();
    let kind = match w.node.store().block(&hash) {
        Err(medchain_store::StoreError::Corrupt(
            medchain_store::Corruption::UndecodableBlock { .. },
        )) => ViolationKind::Undecodable,
        _ => ViolationKind::EntriesRootMismatch,
    };
    expect_found_and_repaired(&mut w, chain, 3..=3, kind);
}

#[test]
fn flipped_byte_in_header_is_found() {
    let mut w = world();
    let hash = hash_at(&w.node, &w.b.chain(), 1);
    let mut bytes = w.node.store().raw_block_bytes(&hash).unwrap().unwrap();
    bytes[40] ^= 0x01; // inside the header's prev hash
    tamper::overwrite_block_bytes(w.node.store_for_tampering(), &hash, &bytes).unwrap();
    let chain = w.b.chain();
    expect_found_and_repaired(&mut w, chain, 1..=1, ViolationKind::HashMismatch);
}

#[test]
fn flipped_payload_byte_is_found() {
    let mut w = world();
    let block = w.node.store().block_at(&w.a.chain(), 2).unwrap().unwrap();
    let payload = block.entries[0].payload.clone().unwrap();
    let mut bytes = w.node.store().payload(&payload.hash).unwrap().unwrap();
    bytes[5] ^= 0x01;
    tamper::overwrite_payload(w.node.store_for_tampering(), &payload.hash, &bytes).unwrap();
    // Named by hash, to refetch; its block is sound and is not quarantined.
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(report.violations.is_empty(), "{:#?}", report.violations);
    assert_eq!(report.damaged_payloads, vec![payload.hash]);
    assert!(w.node.store().quarantine_events().unwrap().is_empty());
    // The point-by-point scan names it the same way.
    let good = w.clean.store().payload(&payload.hash).unwrap().unwrap();
    w.node.restore_payload(&good).unwrap();
    let after = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(
        after.is_clean() && after.damaged_payloads.is_empty(),
        "{after:#?}"
    );
}

#[test]
fn deleted_block_is_found() {
    let mut w = world();
    let hash = hash_at(&w.node, &w.a.chain(), 4);
    tamper::remove_block(w.node.store_for_tampering(), &hash).unwrap();
    let chain = w.a.chain();
    expect_found_and_repaired(&mut w, chain, 4..=4, ViolationKind::MissingBlock);
}

#[test]
fn swapped_blocks_are_found() {
    let mut w = world();
    let chain = w.a.chain();
    let (h2, h3) = (hash_at(&w.node, &chain, 2), hash_at(&w.node, &chain, 3));
    tamper::set_chain_index(w.node.store_for_tampering(), &chain, 2, &h3).unwrap();
    tamper::set_chain_index(w.node.store_for_tampering(), &chain, 3, &h2).unwrap();
    expect_found_and_repaired(&mut w, chain, 2..=3, ViolationKind::Misplaced);
}

#[test]
fn rewritten_index_entry_is_found() {
    let mut w = world();
    let chain = w.b.chain();
    let block = w.node.store().block_at(&chain, 2).unwrap().unwrap();
    let at = EntryRef {
        chain,
        height: 2,
        index: 0,
    };
    tamper::remove_record_index(w.node.store_for_tampering(), &block.entries[0].record, &at)
        .unwrap();
    expect_found_and_repaired(&mut w, chain, 2..=2, ViolationKind::IndexInconsistent);
}

#[test]
fn block_resigned_with_foreign_key_is_found() {
    let mut w = world();
    let chain = w.a.chain();
    resign_with_foreign_key(&mut w, &chain, 5);
    expect_found_and_repaired(&mut w, chain, 5..=5, ViolationKind::BadSignature);
}

#[test]
fn only_the_damaged_chain_is_reported() {
    let mut w = world();
    let hash = hash_at(&w.node, &w.b.chain(), 0);
    tamper::remove_block(w.node.store_for_tampering(), &hash).unwrap();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].chain, w.b.chain());
    assert_eq!(
        report.blocks, 8,
        "chain A was still checked in full, and B above the damage"
    );
    // A repaired chain accepts new blocks from its provider afterwards.
    let mut w = w;
    let v = report.violations[0].clone();
    w.node.quarantine(&v, now_ms()).unwrap();
    let (done, failure) = w
        .node
        .ingest_range(chain_blocks(&w.clean, &w.b.chain()), now_ms());
    assert!(failure.is_none() && done.len() == 1, "{failure:?} {done:?}");
    grow(&mut w.clean, &w.b, 1, "later");
    let next = chain_blocks(&w.clean, &w.b.chain())[3].clone();
    w.node
        .ingest(Decoded::from_block(next, vec![]), now_ms())
        .unwrap();
}

/// Overwrites the stored bytes of `chain`'s block at `height` with bytes that do not decode.
fn garble(w: &mut World, chain: &ChainId, height: u64) {
    let hash = hash_at(&w.node, chain, height);
    tamper::overwrite_block_bytes(w.node.store_for_tampering(), &hash, b"garbage").unwrap();
}

#[test]
fn separate_damaged_runs_are_repaired_separately() {
    let mut w = world();
    let chain = w.a.chain();
    garble(&mut w, &chain, 1);
    garble(&mut w, &chain, 4);
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    let runs: Vec<(u64, u64)> = report
        .violations
        .iter()
        .map(|v| (v.height, v.to_height))
        .collect();
    assert_eq!(runs, vec![(1, 1), (4, 4)], "{:#?}", report.violations);
    assert_eq!(report.blocks, 4 + 3, "the sound blocks of A, and B");
    for v in &report.violations {
        w.node.quarantine(v, now_ms()).unwrap();
    }
    let holes: Vec<(u64, u64)> = w
        .node
        .holes()
        .unwrap()
        .iter()
        .map(|g| (g.from, g.to))
        .collect();
    assert_eq!(holes.len(), 2);
    assert!(
        holes.contains(&(1, 2)) && holes.contains(&(4, 5)),
        "{holes:?}"
    );
    // A whole-chain answer (as a peer sends from height 0) fills both and skips what is held.
    let done = refill_from_clean(&mut w, &chain, 2);
    assert_eq!(done, vec![1, 4]);
}

#[test]
fn a_hole_is_filled_only_by_the_block_the_one_above_links_to() {
    let mut w = world();
    let chain = w.a.chain();
    // A fork of A's chain from height 3, signed with A's own key: every block checks out alone.
    let mut fork = w.c.ledger();
    let (_, failure) = fork.ingest_range(chain_blocks(&w.clean, &chain)[..3].to_vec(), now_ms());
    assert!(failure.is_none());
    grow(&mut fork, &w.a, 1, "fork");
    let forked = chain_blocks(&fork, &chain)[3].clone();
    assert_ne!(forked, chain_blocks(&w.clean, &chain)[3]);

    garble(&mut w, &chain, 3);
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    w.node.quarantine(&report.violations[0], now_ms()).unwrap();
    let (done, failure) = w.node.ingest_range(vec![forked.clone()], now_ms());
    assert!(done.is_empty());
    assert!(
        matches!(
            failure,
            Some(medchain_chain::Rejection::BrokenLink { height: 3 })
        ),
        "{failure:?}"
    );
    let gossiped = w.node.ingest(Decoded::from_block(forked, vec![]), now_ms());
    assert!(
        matches!(
            gossiped,
            Err(medchain_chain::Rejection::BrokenLink { height: 3 })
        ),
        "gossip takes the same rule: {gossiped:?}"
    );
    assert_eq!(
        w.node.holes().unwrap().len(),
        1,
        "the hole waits for the right block"
    );

    let right = chain_blocks(&w.clean, &chain)[3].clone();
    let (done, failure) = w.node.ingest_range(vec![right], now_ms());
    assert!(failure.is_none() && done.len() == 1, "{failure:?}");
    assert_eq!(w.node.complete_restores(now_ms()).unwrap().len(), 1);
    assert!(w.node.verify(now_ms(), now_ms).unwrap().is_clean());
}

#[test]
fn a_head_named_far_above_the_index_is_found_without_walking_every_height() {
    let mut w = world();
    let chain = w.a.chain();
    let top = hash_at(&w.node, &chain, 5);
    tamper::set_head(w.node.store_for_tampering(), &chain, u64::MAX - 1, &top).unwrap();
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
    let v = &report.violations[0];
    assert_eq!(
        (v.height, v.to_height, v.kind),
        (6, u64::MAX - 1, ViolationKind::MissingBlock)
    );
    assert_eq!(report.blocks, 9, "every held block was still checked");
    let repair = w.node.quarantine(v, now_ms()).unwrap();
    // The head comes back to the highest block held; the event ends where the index does.
    assert_eq!(
        w.node.store().head(&chain).unwrap().map(|h| h.height),
        Some(5)
    );
    assert_eq!(repair.to_height, 6);
    assert!(w.node.verify(now_ms(), now_ms).unwrap().is_clean());
}

#[test]
fn a_run_reaching_the_head_above_an_open_hole_keeps_the_blocks_below_the_hole() {
    let mut w = world();
    let chain = w.a.chain();
    garble(&mut w, &chain, 2);
    garble(&mut w, &chain, 3);
    let first = w.node.verify(now_ms(), now_ms).unwrap();
    w.node.quarantine(&first.violations[0], now_ms()).unwrap();
    assert_eq!(
        w.node.store().head(&chain).unwrap().map(|h| h.height),
        Some(5)
    );
    garble(&mut w, &chain, 4);
    garble(&mut w, &chain, 5);
    let second = w.node.verify(now_ms(), now_ms).unwrap();
    assert_eq!(second.awaiting_repair, 2);
    let runs: Vec<(u64, u64)> = second
        .violations
        .iter()
        .map(|v| (v.height, v.to_height))
        .collect();
    assert_eq!(runs, vec![(4, 5)]);
    w.node.quarantine(&second.violations[0], now_ms()).unwrap();
    // The head drops below the hole to the highest block held, not to nothing.
    assert_eq!(
        w.node.store().head(&chain).unwrap().map(|h| h.height),
        Some(1)
    );
    refill_from_clean(&mut w, &chain, 2);
}

#[test]
fn a_revoked_chain_is_listed_and_its_blocks_are_still_checked() {
    let mut w = world();
    let chain = w.a.chain();
    // Hospital A is revoked as of a minute before its first block: the node holds blocks it
    // accepted before it knew. They stay valid as accepted, and are still checked.
    let first = w.node.store().block_at(&chain, 0).unwrap().unwrap();
    let revoked_at = (first.header.time_ms / 1000) as i64 - 60;
    let crl = medchain_protocol::identity::revoke(
        &w.c.issued.cert_der,
        &w.c.issued.key_pkcs8_der,
        None,
        &w.a.certificate(),
        revoked_at,
    )
    .unwrap();
    w.node.set_trust(w.c.trust_with_crl(crl));
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert_eq!(report.revoked_chains, vec![chain]);
    assert_eq!(report.blocks, 9);

    // A block of that chain re-signed on disk with a foreign key is found, as on any chain.
    resign_with_foreign_key(&mut w, &chain, 3);
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    let found: Vec<(u64, ViolationKind)> = report
        .violations
        .iter()
        .map(|v| (v.height, v.kind))
        .collect();
    assert_eq!(found, vec![(3, ViolationKind::BadSignature)]);
}

#[test]
fn scattered_damage_is_merged_into_a_bounded_number_of_runs() {
    let mut w = world();
    let chain = w.a.chain();
    grow(&mut w.clean, &w.a, 40, "more");
    let (_, failure) = w
        .node
        .ingest_range(chain_blocks(&w.clean, &chain), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    copy_payloads(&w.clean, &mut w.node, &chain);
    // Every other block from height 2 to 42: 21 separate runs.
    for height in (2..=42).step_by(2) {
        garble(&mut w, &chain, height);
    }
    let report = w.node.verify(now_ms(), now_ms).unwrap();
    let limit = medchain_chain::verifier::MAX_RUNS_PER_CHAIN;
    assert_eq!(report.violations.len(), limit, "{:#?}", report.violations);
    let last = report.violations.last().unwrap();
    assert_eq!((last.height, last.to_height), (2 * limit as u64, 42));
    assert!(
        last.detail.contains("5 more damaged runs"),
        "{}",
        last.detail
    );
    for v in &report.violations {
        w.node.quarantine(v, now_ms()).unwrap();
    }
    refill_from_clean(&mut w, &chain, limit);
}
