//! Quarantine: a chain cut back from a height disappears from every read and index, its bytes
//! are kept, the event is listed, and committing the verified blocks again restores it.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::*;
use medchain_store::{QuarantinedBlock, Store, StoreError, tamper};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

/// Chain A with five blocks; block h (h > 0) holds a create and an amend of A/(h-1)/0. Chain B's
/// genesis derives from A/3/0, so B holds edges into A's cut range that must survive the cut.
fn setup() -> (Store, Chain, Chain) {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(1);
    a.push_creates(1);
    for h in 1..5u64 {
        let rec = RecordId::derive(&a.id, 0, 0);
        a.push(vec![
            create(a.id, h, 0, format!("{h}").as_bytes()),
            amend(rec, patient(3), a.at(h - 1, 0), b"v"),
        ]);
    }
    let mut b = Chain::new(2);
    let b_id = b.id;
    b.push(vec![derive(b_id, 0, 0, vec![Parent::Entry(a.at(3, 0))])]);
    commit(&mut store, &a.blocks);
    commit(&mut store, &b.blocks);
    (store, a, b)
}

/// Nothing of A at `from` or above is visible; everything below is intact.
fn assert_cut(store: &Store, a: &Chain, b: &Chain, from: u64) {
    let kept = &a.blocks[..from as usize];
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), kept);
    let index: Vec<(u64, BlockHash)> = (0u64..).zip(kept.iter().map(Block::hash)).collect();
    assert_eq!(store.chain_index(&a.id).unwrap(), index);
    assert_eq!(store.head(&a.id).unwrap(), kept.last().map(head_of));
    for h in from..5 {
        assert_eq!(store.block_at(&a.id, h).unwrap(), None);
        assert!(store.parents_of(&a.at(h, 1)).unwrap().is_empty());
        let rec = RecordId::derive(&a.id, h, 0);
        assert!(store.record_entries(&rec).unwrap().is_empty());
    }
    let amended = RecordId::derive(&a.id, 0, 0);
    let expected: Vec<EntryRef> = (0..from)
        .map(|h| if h == 0 { a.at(0, 0) } else { a.at(h, 1) })
        .collect();
    assert_eq!(store.record_entries(&amended).unwrap(), expected);
    let patient3: Vec<EntryRef> = (1..from).map(|h| a.at(h, 1)).collect();
    assert_eq!(store.patient_entries(&patient(3)).unwrap(), patient3);
    if from > 0 {
        let children = store
            .children_of(&Parent::Entry(a.at(from - 1, 0)))
            .unwrap();
        assert!(children.iter().all(|c| c.chain != a.id), "{children:?}");
    }
    assert_indexed(store, kept);
    // B's own entries and edges stay: its block is still stored and sound.
    assert_eq!(
        store.parents_of(&b.at(0, 0)).unwrap(),
        vec![Parent::Entry(a.at(3, 0))]
    );
    let children = store.children_of(&Parent::Entry(a.at(3, 0))).unwrap();
    assert!(children.contains(&b.at(0, 0)), "{children:?}");
    assert_eq!(store.head(&b.id).unwrap(), Some(head_of(&b.blocks[0])));
}

fn moved(a: &Chain, heights: std::ops::Range<u64>) -> Vec<QuarantinedBlock> {
    heights
        .map(|h| QuarantinedBlock {
            height: h,
            index_hash: a.blocks[h as usize].hash(),
            bytes_present: true,
        })
        .collect()
}

#[test]
fn quarantine_cuts_keeps_bytes_and_recommit_restores() {
    let (mut store, a, b) = setup();
    let event = store
        .quarantine_from(&a.id, 3, 1_234, "entries root mismatch at height 3")
        .unwrap();
    assert_eq!(event.id, 1);
    assert_eq!(
        (event.chain, event.from_height, event.time_ms),
        (a.id, 3, 1_234)
    );
    assert_eq!(event.reason, "entries root mismatch at height 3");
    assert_eq!(event.blocks, moved(&a, 3..5));
    assert_eq!(event.restored_at_ms, None);
    assert_cut(&store, &a, &b, 3);
    assert_eq!(store.block(&a.blocks[3].hash()).unwrap(), None);
    assert_eq!(store.block(&a.blocks[4].hash()).unwrap(), None);
    assert_eq!(store.quarantine_events().unwrap(), vec![event.clone()]);
    for h in 3..5 {
        assert_eq!(
            store.quarantined_bytes(1, h).unwrap(),
            Some(a.blocks[h as usize].encode())
        );
    }
    assert_eq!(store.quarantined_bytes(1, 2).unwrap(), None);

    // The chain is refilled with verified blocks: reads come back, the event and bytes stay.
    commit(&mut store, &a.blocks[3..]);
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), a.blocks);
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[4])));
    assert_indexed(&store, &a.blocks);
    store.mark_restored(1, 5_678).unwrap();
    let restored = store.quarantine_events().unwrap();
    assert_eq!(restored.len(), 1);
    assert_eq!(restored[0].restored_at_ms, Some(5_678));
    assert_eq!(restored[0].blocks, event.blocks);
    assert!(store.quarantined_bytes(1, 4).unwrap().is_some());

    // A second event gets the next id and is listed first.
    let second = store
        .quarantine_from(&a.id, 0, 9_999, "full rebuild")
        .unwrap();
    assert_eq!(second.id, 2);
    assert_eq!(second.blocks, moved(&a, 0..5));
    assert_eq!(store.head(&a.id).unwrap(), None);
    let ids: Vec<u64> = store
        .quarantine_events()
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![2, 1]);
    // The newest only, when fewer are asked for.
    let newest = store.recent_quarantine_events(1).unwrap();
    assert_eq!(newest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![2]);
    assert!(store.recent_quarantine_events(0).unwrap().is_empty());
    assert_cut(&store, &a, &b, 0);
}

#[test]
fn an_undecodable_block_is_swept_from_the_indexes() {
    let (mut store, a, b) = setup();
    let hash = a.blocks[3].hash();
    tamper::overwrite_block_bytes(&mut store, &hash, b"\x00garbage").unwrap();
    let event = store.quarantine_from(&a.id, 3, 1, "undecodable").unwrap();
    assert_eq!(event.blocks, moved(&a, 3..5));
    assert_cut(&store, &a, &b, 3);
    assert_eq!(store.raw_block_bytes(&hash).unwrap(), None);
    assert_eq!(
        store.quarantined_bytes(1, 3).unwrap(),
        Some(b"\x00garbage".to_vec())
    );
}

#[test]
fn a_tampered_block_names_what_is_removed_and_the_refill_restores_the_rest() {
    let (mut store, a, b) = setup();
    // The tampered entries name another patient: the key the altered entry now implies is
    // removed with the others (each names position 4), and the original patient key stays,
    // unread because block 4 is not held, until the verified block is committed again.
    let mut forged = a.blocks[4].clone();
    forged.entries[1].patient = patient(9);
    let bytes = forged.encode();
    tamper::overwrite_block_bytes(&mut store, &forged.hash(), &bytes).unwrap();
    store
        .quarantine_from(&a.id, 4, 1, "entries root mismatch")
        .unwrap();
    assert_eq!(store.raw_block_bytes(&forged.hash()).unwrap(), None);
    assert_eq!(store.quarantined_bytes(1, 4).unwrap(), Some(bytes));
    assert_eq!(store.block_at(&a.id, 4).unwrap(), None);
    assert!(
        store
            .record_entries(&RecordId::derive(&a.id, 4, 0))
            .unwrap()
            .is_empty()
    );
    assert!(store.parents_of(&a.at(4, 1)).unwrap().is_empty());
    assert!(store.patient_entries(&patient(9)).unwrap().is_empty());
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[3])));

    commit(&mut store, &a.blocks[4..]);
    assert_cut(&store, &a, &b, 5);
    let patient3: Vec<EntryRef> = (1..5).map(|h| a.at(h, 1)).collect();
    assert_eq!(store.patient_entries(&patient(3)).unwrap(), patient3);
    assert!(store.patient_entries(&patient(9)).unwrap().is_empty());
}

#[test]
fn a_missing_block_or_malformed_index_value_is_listed_and_swept() {
    let (mut store, a, b) = setup();
    tamper::remove_block(&mut store, &a.blocks[4].hash()).unwrap();
    tamper::set_chain_index_raw(&mut store, &a.id, 3, b"not a hash").unwrap();
    let event = store.quarantine_from(&a.id, 3, 1, "index damage").unwrap();
    assert_eq!(
        event.blocks,
        vec![
            QuarantinedBlock {
                height: 3,
                index_hash: BlockHash::ZERO,
                bytes_present: false
            },
            QuarantinedBlock {
                height: 4,
                index_hash: a.blocks[4].hash(),
                bytes_present: false
            },
        ]
    );
    assert_eq!(store.quarantined_bytes(1, 4).unwrap(), None);
    // Block 3's bytes were never reached through the index: they stay as an orphan.
    assert_eq!(
        store.block(&a.blocks[3].hash()).unwrap().as_ref(),
        Some(&a.blocks[3])
    );
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), &a.blocks[..3]);
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[2])));
    for h in 3..5 {
        assert!(store.parents_of(&a.at(h, 1)).unwrap().is_empty());
    }
    assert_eq!(store.parents_of(&b.at(0, 0)).unwrap().len(), 1);
    // Refilling: block 3, an unindexed orphan, is committed again in full.
    commit(&mut store, &a.blocks[3..]);
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), a.blocks);
    assert_indexed(&store, &a.blocks);
}

#[test]
fn a_sound_block_indexed_at_the_wrong_height_is_not_destroyed() {
    let (mut store, a, b) = setup();
    // The index at height 4 names block 1, which also sits (rightly) at height 1.
    tamper::set_chain_index(&mut store, &a.id, 4, &a.blocks[1].hash()).unwrap();
    let event = store
        .quarantine_from(&a.id, 3, 1, "index mismatch at height 4")
        .unwrap();
    assert_eq!(event.blocks[1].index_hash, a.blocks[1].hash());
    assert_eq!(
        store.quarantined_bytes(1, 4).unwrap(),
        Some(a.blocks[1].encode())
    );
    assert_eq!(
        store.block_at(&a.id, 1).unwrap().as_ref(),
        Some(&a.blocks[1])
    );
    assert_cut(&store, &a, &b, 3);
    // The real block 4 was not reachable from the index: it stays as an orphan, unindexed.
    assert_eq!(
        store.block(&a.blocks[4].hash()).unwrap().as_ref(),
        Some(&a.blocks[4])
    );
    // Refilling the chain commits the orphan again in full instead of skipping it as stored.
    commit(&mut store, &a.blocks[3..]);
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), a.blocks);
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[4])));
    assert_indexed(&store, &a.blocks);
}

#[test]
fn quarantine_above_the_head_moves_nothing() {
    let (mut store, a, b) = setup();
    let event = store.quarantine_from(&a.id, 7, 1, "nothing there").unwrap();
    assert!(event.blocks.is_empty());
    assert_cut(&store, &a, &b, 5);
    assert_eq!(store.quarantine_events().unwrap().len(), 1);
}

#[test]
fn quarantine_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = {
        let mut store = Store::open(dir.path()).unwrap();
        let mut a = Chain::new(1);
        a.push_creates(1);
        a.push_creates(1);
        let b = Chain::new(2);
        commit(&mut store, &a.blocks);
        store.quarantine_from(&a.id, 1, 1, "test").unwrap();
        (a, b)
    };
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[0])));
    assert_eq!(store.quarantine_events().unwrap().len(), 1);
    assert_eq!(
        store.quarantined_bytes(1, 1).unwrap(),
        Some(a.blocks[1].encode())
    );
    assert_eq!(store.head(&b.id).unwrap(), None);
}

#[test]
fn marking_an_unknown_event_is_an_error() {
    let mut store = Store::open_temporary().unwrap();
    assert!(matches!(store.mark_restored(42, 1), Err(StoreError::Engine(m)) if m.contains("42")));
}

#[test]
fn quarantining_a_run_below_the_head_leaves_a_hole_and_keeps_what_is_above() {
    let (mut store, a, b) = setup();
    let event = store
        .quarantine_range(&a.id, 2..=3, 7, "hash mismatch at heights 2-3")
        .unwrap();
    assert_eq!((event.from_height, event.to_height), (2, 3));
    assert_eq!(event.blocks, moved(&a, 2..4));
    // The head and the block above the run stay; the run is gone from every read and index.
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[4])));
    assert_eq!(
        store.block_at(&a.id, 4).unwrap().as_ref(),
        Some(&a.blocks[4])
    );
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), a.blocks[..2]);
    for h in 2..4 {
        assert_eq!(store.block_at(&a.id, h).unwrap(), None);
        assert!(store.parents_of(&a.at(h, 1)).unwrap().is_empty());
        assert!(
            store
                .record_entries(&RecordId::derive(&a.id, h, 0))
                .unwrap()
                .is_empty()
        );
    }
    assert_indexed(&store, [&a.blocks[0], &a.blocks[1], &a.blocks[4]]);
    let amended = RecordId::derive(&a.id, 0, 0);
    assert_eq!(
        store.record_entries(&amended).unwrap(),
        vec![a.at(0, 0), a.at(1, 1), a.at(4, 1)]
    );
    assert_eq!(store.head(&b.id).unwrap(), Some(head_of(&b.blocks[0])));

    // Filling the hole brings every read back; the head does not move.
    commit(&mut store, &a.blocks[2..4]);
    assert_eq!(store.blocks_range(&a.id, 0, 100).unwrap(), a.blocks);
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(&a.blocks[4])));
    assert_indexed(&store, &a.blocks);
}

#[test]
fn a_damaged_run_is_swept_only_within_its_range() {
    let (mut store, a, _) = setup();
    // Block 2 no longer decodes, so its index entries are found by sweeping the entry trees.
    tamper::overwrite_block_bytes(&mut store, &a.blocks[2].hash(), b"garbage").unwrap();
    store
        .quarantine_range(&a.id, 2..=2, 1, "undecodable")
        .unwrap();
    assert!(
        store
            .record_entries(&RecordId::derive(&a.id, 2, 0))
            .unwrap()
            .is_empty()
    );
    // The other heights keep their entries.
    assert_indexed(&store, [1, 3, 4].map(|h| &a.blocks[h]));
}

#[test]
fn a_range_reaching_past_the_top_ends_at_the_top() {
    let (mut store, a, b) = setup();
    let event = store
        .quarantine_range(&a.id, 3..=10, 1, "to the top")
        .unwrap();
    assert_eq!((event.from_height, event.to_height), (3, 4));
    assert_cut(&store, &a, &b, 3);
}
