//! Compaction of payload segments: a sealed segment mostly erased has its live payloads moved
//! to the segment being written, in bounded steps, and is removed; a damaged frame keeps its
//! segment until it is repaired; the payloads read the same before, during and after.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use medchain_protocol::PayloadHash;
use medchain_store::{Store, tamper};

const MIB: usize = 1 << 20;

fn segment(store_dir: &Path, number: u32) -> PathBuf {
    store_dir.join(format!("payloads/{number:010}.seg"))
}

/// 70 payloads of 1 MiB: segment 1 is sealed (64 MiB), segment 2 is being written.
fn filled(dir: &Path) -> (Store, Vec<Vec<u8>>, Vec<PayloadHash>) {
    let mut store = Store::open(dir).unwrap();
    let payloads: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; MIB]).collect();
    let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
    let hashes = store.put_payloads(&refs).unwrap();
    assert!(segment(dir, 2).exists());
    (store, payloads, hashes)
}

fn compact_all(store: &mut Store, plan: &mut medchain_store::CompactionPlan) -> usize {
    let mut steps = 1;
    while store.compact_step(plan, 8 * MIB as u64).unwrap() {
        steps += 1;
    }
    steps
}

#[test]
fn a_mostly_erased_segment_is_compacted_in_steps_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, payloads, hashes) = filled(dir.path());
    assert!(
        store.plan_compaction(4).unwrap().is_empty(),
        "nothing is dead"
    );
    store.delete_payloads(&hashes[..40]).unwrap();

    let mut plans = store.plan_compaction(4).unwrap();
    assert_eq!(plans.len(), 1);
    let plan = &mut plans[0];
    assert_eq!(plan.segment(), 1);
    // The rest of segment 1's payloads (those written before it was sealed).
    let live_frames = plan.live_bytes() / (MIB as u64 + 36);
    assert!((20..=25).contains(&live_frames), "{live_frames}");
    // Steps of 8 MiB: the writer's lock is never held for the whole segment.
    assert!(compact_all(&mut store, plan) >= 3);
    assert_eq!(plan.moved(), live_frames);
    assert!(store.confirm_unreferenced(plan).unwrap());
    assert!(store.remove_compacted(plan).unwrap());
    assert!(!segment(dir.path(), 1).exists());

    let check = |store: &Store| {
        for (hash, payload) in hashes.iter().zip(&payloads).skip(40) {
            assert_eq!(store.payload(hash).unwrap().as_ref(), Some(payload));
        }
        for hash in &hashes[..40] {
            assert_eq!(store.payload(hash).unwrap(), None);
        }
        let refs = hashes[40..].iter().map(|h| (*h, MIB as u64)).collect();
        let pass = store.check_payloads_in_order(refs).unwrap();
        assert_eq!((pass.held, pass.damaged.len()), (30, 0));
    };
    check(&store);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    check(&store);
    assert!(store.plan_compaction(4).unwrap().is_empty());
}

#[test]
fn a_damaged_frame_keeps_its_segment_until_it_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, payloads, hashes) = filled(dir.path());
    store.delete_payloads(&hashes[..40]).unwrap();
    let mut forged = payloads[45].clone();
    forged[7] ^= 1;
    tamper::overwrite_payload(&mut store, &hashes[45], &forged).unwrap();

    let mut plans = store.plan_compaction(4).unwrap();
    let plan = &mut plans[0];
    compact_all(&mut store, plan);
    assert_eq!(plan.kept_damaged(), 1);
    assert!(!store.confirm_unreferenced(plan).unwrap());
    assert!(!store.remove_compacted(plan).unwrap());
    assert!(segment(dir.path(), 1).exists());
    assert!(store.payload(&hashes[45]).is_err());
    // The copies it moved are zeroed where they were (an erase later leaves nothing behind).
    let old = std::fs::read(segment(dir.path(), 1)).unwrap();
    let longest_run_of_41 = old
        .iter()
        .fold((0, 0), |(run, best), b| {
            let run = if *b == 41 { run + 1 } else { 0 };
            (run, best.max(run))
        })
        .1;
    assert!(
        longest_run_of_41 < 64,
        "payload 41's old copy is still in segment 1"
    );

    // The repair moves the last live payload out; the next plan removes the segment.
    store.put_payloads(&[&payloads[45]]).unwrap();
    let mut plans = store.plan_compaction(4).unwrap();
    let plan = &mut plans[0];
    assert_eq!((plan.segment(), plan.live_bytes()), (1, 0));
    compact_all(&mut store, plan);
    assert!(store.confirm_unreferenced(plan).unwrap());
    assert!(store.remove_compacted(plan).unwrap());
    for (hash, payload) in hashes.iter().zip(&payloads).skip(40) {
        assert_eq!(store.payload(hash).unwrap().as_ref(), Some(payload));
    }
}

#[test]
fn the_segment_being_written_is_never_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let hashes = store.put_payloads(&[b"only", b"two"]).unwrap();
    store.delete_payloads(&hashes).unwrap();
    // Wholly dead, but it is the one being written: never planned.
    assert!(store.plan_compaction(4).unwrap().is_empty());
    // A stray name above it makes the plan take it for sealed: the step, under the writer's
    // lock, sees it is not, and nothing is removed.
    std::fs::create_dir(segment(dir.path(), 99)).unwrap();
    let mut plans = store.plan_compaction(4).unwrap();
    assert_eq!(plans[0].segment(), 1);
    assert!(!store.compact_step(&mut plans[0], 1 << 20).unwrap());
    assert!(!store.confirm_unreferenced(&mut plans[0]).unwrap());
    assert!(!store.remove_compacted(&plans[0]).unwrap());
    assert!(segment(dir.path(), 1).exists());
    let more = store.put_payloads(&[b"still written"]).unwrap();
    assert_eq!(
        store.payload(&more[0]).unwrap().as_deref(),
        Some(&b"still written"[..])
    );
}
