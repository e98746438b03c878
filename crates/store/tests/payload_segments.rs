//! The payload segments: payloads survive a restart and a torn write, segments roll, an erase
//! takes the bytes off the disk, and every kind of damage to the files is reported as damage to
//! the payloads it hits (and repaired by storing them again), never returned as data.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};

use medchain_protocol::PayloadHash;
use medchain_store::{Corruption, Store, StoreError, tamper};

fn segment_files(store_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(store_dir.join("payloads"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

fn on_disk(store_dir: &Path, needle: &[u8]) -> bool {
    segment_files(store_dir).iter().any(|file| {
        let bytes = std::fs::read(file).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

/// A `payload_index` value: kind 0 (a segment frame), segment, frame offset, payload length.
fn location(segment: u32, offset: u64, len: u32) -> Vec<u8> {
    let mut value = vec![0u8];
    value.extend_from_slice(&segment.to_be_bytes());
    value.extend_from_slice(&offset.to_be_bytes());
    value.extend_from_slice(&len.to_be_bytes());
    value
}

fn payload_damage(result: Result<Option<Vec<u8>>, StoreError>) -> Corruption {
    match result {
        Err(StoreError::Corrupt(corruption)) => {
            assert!(corruption.damaged_payload().is_some(), "{corruption}");
            corruption
        }
        other => panic!("expected damage to a payload, got {other:?}"),
    }
}

#[test]
fn payloads_survive_a_restart_and_segments_roll() {
    let dir = tempfile::tempdir().unwrap();
    // 70 payloads of 1 MiB: past the 64 MiB at which a segment is sealed.
    let payloads: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 1 << 20]).collect();
    let hashes = {
        let mut store = Store::open(dir.path()).unwrap();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        store.put_payloads(&refs).unwrap()
    };
    assert_eq!(segment_files(dir.path()).len(), 2);
    let mut store = Store::open(dir.path()).unwrap();
    for (hash, payload) in hashes.iter().zip(&payloads) {
        assert_eq!(store.payload(hash).unwrap().as_ref(), Some(payload));
    }
    assert_eq!(store.payload_count(), 70);
    // Writing goes on in the last segment.
    let more = store.put_payloads(&[b"after the restart"]).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(
        store.payload(&more[0]).unwrap().as_deref(),
        Some(&b"after the restart"[..])
    );
    let refs: Vec<(PayloadHash, u64)> = hashes.iter().map(|h| (*h, 1 << 20)).collect();
    let pass = store.check_payloads_in_order(refs).unwrap();
    assert_eq!(
        (pass.held, pass.missing.len(), pass.damaged.len()),
        (70, 0, 0)
    );
}

#[test]
fn bytes_torn_off_a_write_are_never_read_and_writing_goes_on_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let kept = {
        let mut store = Store::open(dir.path()).unwrap();
        store.put_payloads(&[b"kept one", b"kept two"]).unwrap()
    };
    // A crash in the middle of an append: half a frame at the end of the segment.
    let last = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0xAB; 20]);
    std::fs::write(&last, bytes).unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.payload(&kept[1]).unwrap().as_deref(),
        Some(&b"kept two"[..])
    );
    let after = store.put_payloads(&[b"written after"]).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.payload(&after[0]).unwrap().as_deref(),
        Some(&b"written after"[..])
    );
    assert_eq!(
        store.payload(&kept[0]).unwrap().as_deref(),
        Some(&b"kept one"[..])
    );
}

#[test]
fn an_erase_takes_the_bytes_off_the_disk_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let secret = b"erased ciphertext 7f3a9c".to_vec();
    let hashes = store
        .put_payloads(&[b"neighbour before", &secret, b"neighbour after"])
        .unwrap();
    assert!(on_disk(dir.path(), &secret));
    store.delete_payloads(&[hashes[1]]).unwrap();
    assert!(!on_disk(dir.path(), &secret), "the erased bytes are gone");
    assert_eq!(store.payload(&hashes[1]).unwrap(), None);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.payload(&hashes[0]).unwrap().as_deref(),
        Some(&b"neighbour before"[..])
    );
    assert_eq!(
        store.payload(&hashes[2]).unwrap().as_deref(),
        Some(&b"neighbour after"[..])
    );
    assert_eq!(store.payload_count(), 2);
}

#[test]
fn a_lost_segment_is_damage_to_its_payloads_and_storing_them_again_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let lost = store.put_payloads(&[b"in the lost segment"]).unwrap()[0];
    assert!(tamper::delete_payload_segment(&mut store, &lost).unwrap());
    let other = store.put_payloads(&[b"in the next segment"]).unwrap()[0];
    payload_damage(store.payload(&lost));
    let pass = store
        .check_payloads_in_order(vec![(lost, 19), (other, 19)])
        .unwrap();
    assert_eq!((pass.held, pass.damaged.clone()), (1, vec![lost]));
    // The repair: the payload fetched from a peer is stored again.
    store.put_payloads(&[b"in the lost segment"]).unwrap();
    assert_eq!(
        store.payload(&lost).unwrap().as_deref(),
        Some(&b"in the lost segment"[..])
    );
}

#[test]
fn a_cut_short_segment_costs_only_the_payloads_past_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let hashes = store
        .put_payloads(&[b"first payload", b"second payload"])
        .unwrap();
    drop(store);
    let last = segment_files(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.payload(&hashes[0]).unwrap().as_deref(),
        Some(&b"first payload"[..])
    );
    payload_damage(store.payload(&hashes[1]));
    let pass = store
        .check_payloads_in_order(vec![(hashes[0], 13), (hashes[1], 14)])
        .unwrap();
    assert_eq!((pass.held, pass.damaged), (1, vec![hashes[1]]));
}

#[test]
fn a_planted_location_is_damage_and_allocates_nothing_for_it() {
    let mut store = Store::open_temporary().unwrap();
    let hash = PayloadHash::of(b"planted");
    // Kind 0, segment 1, offset 16, length u32::MAX: no payload is that long.
    let value = location(1, 16, u32::MAX);
    tamper::plant_raw(&mut store, "payload_index", hash.as_bytes(), Some(&value)).unwrap();
    payload_damage(store.payload(&hash));
    let pass = store.check_payloads_in_order(vec![(hash, 7)]).unwrap();
    assert_eq!(pass.damaged, vec![hash]);
    // A location naming another payload's frame is not this payload's.
    let real = store.put_payloads(&[b"the real one"]).unwrap()[0];
    let stolen = PayloadHash::of(b"not stored");
    let stolen_location = location(1, 16, 12);
    tamper::plant_raw(
        &mut store,
        "payload_index",
        stolen.as_bytes(),
        Some(&stolen_location),
    )
    .unwrap();
    assert!(store.payload(&real).unwrap().is_some());
    assert!(matches!(
        payload_damage(store.payload(&stolen)),
        Corruption::PayloadUnreadable { .. }
    ));
}

#[test]
fn a_last_segment_that_is_not_a_segment_is_left_alone_and_writing_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let mut store = Store::open(dir.path()).unwrap();
        store.put_payloads(&[b"before the damage"]).unwrap()[0]
    };
    let last = segment_files(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes[..8].copy_from_slice(b"NOTASEGM");
    std::fs::write(&last, &bytes).unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    payload_damage(store.payload(&before));
    let after = store.put_payloads(&[b"after the damage"]).unwrap()[0];
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!(
        std::fs::read(&last).unwrap(),
        bytes,
        "the damaged file is kept as it is"
    );
    assert_eq!(
        store.payload(&after).unwrap().as_deref(),
        Some(&b"after the damage"[..])
    );
}

#[test]
fn an_erase_after_a_repair_leaves_no_copy_and_spares_other_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let secret = b"repaired then erased 5d21e0".to_vec();
    let hash = store.put_payloads(&[&secret]).unwrap()[0];
    // A repair stores it again: the copy it replaces is zeroed.
    store.put_payloads(&[&secret]).unwrap();
    assert_eq!(store.payload(&hash).unwrap().as_ref(), Some(&secret));
    let other = store.put_payloads(&[b"another patient's payload"]).unwrap()[0];
    // A planted location of the erased hash pointing at the other payload's frame: deleting
    // the erased payload must not zero a frame that is not its own.
    let other_bytes = store.payload(&other).unwrap().unwrap();
    store.delete_payloads(&[hash]).unwrap();
    assert!(
        !on_disk(dir.path(), &secret),
        "no copy of the erased bytes is left"
    );
    assert_eq!(store.payload(&other).unwrap(), Some(other_bytes.clone()));
    let value = location(1, 16, other_bytes.len() as u32);
    let planted = PayloadHash::of(b"planted erased hash");
    tamper::plant_raw(
        &mut store,
        "payload_index",
        planted.as_bytes(),
        Some(&value),
    )
    .unwrap();
    let first = store.put_payloads(&[b"x"]).unwrap()[0];
    store.delete_payloads(&[planted]).unwrap();
    assert_eq!(store.payload(&other).unwrap(), Some(other_bytes));
    assert!(store.payload(&first).unwrap().is_some());
}

#[test]
fn something_other_than_a_file_under_a_segments_name_is_damage_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let hash = {
        let mut store = Store::open(dir.path()).unwrap();
        store.put_payloads(&[b"held in segment one"]).unwrap()[0]
    };
    let last = segment_files(dir.path()).pop().unwrap();
    std::fs::remove_file(&last).unwrap();
    std::fs::create_dir(&last).unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    payload_damage(store.payload(&hash));
    let pass = store.check_payloads_in_order(vec![(hash, 19)]).unwrap();
    assert_eq!(pass.damaged, vec![hash]);
    let after = store.put_payloads(&[b"written after"]).unwrap()[0];
    assert!(store.payload(&after).unwrap().is_some());
}

#[test]
fn an_erase_through_a_stretched_location_zeroes_no_neighbour() {
    let mut store = Store::open_temporary().unwrap();
    let erased = store.put_payloads(&[b"to be erased"]).unwrap()[0];
    let neighbour = store.put_payloads(&[b"the next frame's payload"]).unwrap()[0];
    // The erased payload's location, planted with its real offset and a length reaching over
    // the neighbour's frame.
    let value = location(1, 16, 200);
    tamper::plant_raw(&mut store, "payload_index", erased.as_bytes(), Some(&value)).unwrap();
    store.delete_payloads(&[erased]).unwrap();
    assert_eq!(
        store.payload(&neighbour).unwrap().as_deref(),
        Some(&b"the next frame's payload"[..])
    );
}
