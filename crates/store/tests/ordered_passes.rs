//! The verifier's ordered passes: the keyed index digest and the payload pass find the same
//! damage the point-by-point checks find, without reading point by point.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::PayloadHash;
use medchain_store::{IndexDigest, Store, tamper};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

#[test]
fn index_digest_matches_the_blocks_and_notices_a_missing_key() {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(1);
    for _ in 0..3 {
        a.push_creates(2);
    }
    commit(&mut store, &a.blocks);
    let keys = IndexDigest::new();
    let mut implied = keys.same_keys();
    for block in &a.blocks {
        implied.add_block(block);
    }
    assert!(store.index_digest(&keys).unwrap().matches(&implied));
    // Under other keys the sums differ: the digest is keyed, not a plain checksum.
    let mut other = IndexDigest::new();
    for block in &a.blocks {
        other.add_block(block);
    }
    assert!(!other.matches(&implied));

    let block = &a.blocks[1];
    tamper::remove_record_index(&mut store, &block.entries[0].record, &block.entry_ref(0)).unwrap();
    assert!(!store.index_digest(&keys).unwrap().matches(&implied));
}

#[test]
fn payload_pass_finds_held_missing_and_damaged() {
    let mut store = Store::open_temporary().unwrap();
    let held = store.put_payloads(&[b"one", b"two", b"three"]).unwrap();
    let absent = PayloadHash::of(b"never stored");
    tamper::overwrite_payload(&mut store, &held[1], b"TWO").unwrap();
    let pass = store
        .check_payloads_in_order(vec![
            (held[2], 5),
            (absent, 12),
            (held[1], 3),
            (held[0], 3),
            (held[2], 5),
            (held[0], 4),
        ])
        .unwrap();
    // held[0] at its length and held[2] (referenced twice, counted once) are intact.
    assert_eq!(pass.held, 2);
    assert_eq!(pass.missing, vec![absent]);
    let mut damaged = pass.damaged.clone();
    damaged.sort();
    let mut expected = vec![held[0], held[1]];
    expected.sort();
    assert_eq!(damaged, expected, "a changed payload and a wrong length");
}
