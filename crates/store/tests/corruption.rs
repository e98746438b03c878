//! Damage on disk is reported, never returned as data: tampered block bytes, a wrong or
//! malformed chain index, a replaced payload, and the index entries the verifier finds missing.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::*;
use medchain_store::{Corruption, MissingIndex, Store, StoreError, tamper};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;
use proptest::prelude::*;

/// A store holding chain A with three blocks (two entries each).
fn stored_chain() -> (Store, Chain) {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(1);
    for _ in 0..3 {
        a.push_creates(2);
    }
    commit(&mut store, &a.blocks);
    (store, a)
}

fn corruption<T: std::fmt::Debug>(result: Result<T, StoreError>) -> Corruption {
    match result {
        Err(StoreError::Corrupt(c)) => c,
        other => panic!("expected corruption, got {other:?}"),
    }
}

/// Every read path of block `height` of `chain` reports `expected`.
fn all_reads_report(store: &Store, chain: &Chain, height: u64, expected: &Corruption) {
    let hash = chain.blocks[height as usize].hash();
    if !matches!(
        expected,
        Corruption::IndexMismatch { .. } | Corruption::MissingBlock { .. }
    ) {
        assert_eq!(&corruption(store.block(&hash)), expected);
    }
    assert_eq!(&corruption(store.block_at(&chain.id, height)), expected);
    assert_eq!(&corruption(store.blocks_range(&chain.id, 0, 10)), expected);
    assert_eq!(
        &corruption(store.blocks_range(&chain.id, height, 1)),
        expected
    );
}

/// The position of the last occurrence of `needle` in `haystack`.
fn last_position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap()
}

#[test]
fn flipped_byte_in_the_entries_is_an_entries_root_mismatch() {
    let (mut store, a) = stored_chain();
    let block = &a.blocks[1];
    let mut bytes = block.encode();
    // The actor of the last entry: a digit replaced by another digit still decodes canonically.
    let at = last_position(&bytes, b"dr-401542") + 3;
    bytes[at] = b'9';
    assert!(Block::decode(&bytes).is_ok());
    tamper::overwrite_block_bytes(&mut store, &block.hash(), &bytes).unwrap();
    let expected = Corruption::EntriesRootMismatch { key: block.hash() };
    all_reads_report(&store, &a, 1, &expected);
    // The blocks around it still read.
    assert_eq!(
        store.block_at(&a.id, 0).unwrap().as_ref(),
        Some(&a.blocks[0])
    );
    assert_eq!(
        store.blocks_range(&a.id, 2, 5).unwrap(),
        vec![a.blocks[2].clone()]
    );
    // The raw bytes are there, unchecked, for forensics.
    assert_eq!(store.raw_block_bytes(&block.hash()).unwrap(), Some(bytes));
}

#[test]
fn flipped_byte_in_the_header_is_a_hash_mismatch() {
    let (mut store, a) = stored_chain();
    let block = &a.blocks[2];
    let mut bytes = block.encode();
    // Byte 0 is the version; bytes 1..33 are the chain ID, raw.
    bytes[5] ^= 0x01;
    let actual = Block::decode(&bytes).unwrap().hash();
    tamper::overwrite_block_bytes(&mut store, &block.hash(), &bytes).unwrap();
    let expected = Corruption::BlockHashMismatch {
        key: block.hash(),
        actual,
    };
    all_reads_report(&store, &a, 2, &expected);
}

#[test]
fn garbage_and_truncated_bytes_are_undecodable() {
    let (mut store, a) = stored_chain();
    let hash = a.blocks[0].hash();
    let expected = Corruption::UndecodableBlock { key: hash };
    tamper::overwrite_block_bytes(&mut store, &hash, b"\xff\xff garbage \x00").unwrap();
    all_reads_report(&store, &a, 0, &expected);
    let encoded = a.blocks[0].encode();
    tamper::overwrite_block_bytes(&mut store, &hash, &encoded[..encoded.len() - 1]).unwrap();
    all_reads_report(&store, &a, 0, &expected);
    tamper::overwrite_block_bytes(&mut store, &hash, &[]).unwrap();
    all_reads_report(&store, &a, 0, &expected);
}

#[test]
fn chain_index_naming_another_block_is_an_index_mismatch() {
    let (mut store, a) = stored_chain();
    let other = a.blocks[0].hash();
    tamper::set_chain_index(&mut store, &a.id, 1, &other).unwrap();
    let expected = Corruption::IndexMismatch {
        chain: a.id,
        height: 1,
        hash: other,
        actual_chain: a.id,
        actual_height: 0,
    };
    all_reads_report(&store, &a, 1, &expected);
    // The index is listed exactly as stored, and the block itself is still fine by hash.
    assert_eq!(store.chain_index(&a.id).unwrap()[1], (1, other));
    assert_eq!(
        store.block(&a.blocks[1].hash()).unwrap().as_ref(),
        Some(&a.blocks[1])
    );
    // Another chain's block: the mismatch names that chain.
    let mut b = Chain::new(2);
    commit(&mut store, &[b.push_creates(1)]);
    tamper::set_chain_index(&mut store, &a.id, 2, &b.blocks[0].hash()).unwrap();
    assert_eq!(
        corruption(store.block_at(&a.id, 2)),
        Corruption::IndexMismatch {
            chain: a.id,
            height: 2,
            hash: b.blocks[0].hash(),
            actual_chain: b.id,
            actual_height: 0,
        }
    );
}

#[test]
fn chain_index_naming_an_absent_block_is_a_missing_block() {
    let (mut store, a) = stored_chain();
    let nowhere = BlockHash([0xab; 32]);
    tamper::set_chain_index(&mut store, &a.id, 1, &nowhere).unwrap();
    let expected = Corruption::MissingBlock {
        chain: a.id,
        height: 1,
        hash: nowhere,
    };
    all_reads_report(&store, &a, 1, &expected);
    // A deleted block: the same, under its own hash.
    let hash = a.blocks[2].hash();
    tamper::remove_block(&mut store, &hash).unwrap();
    assert_eq!(store.block(&hash).unwrap(), None);
    assert_eq!(
        corruption(store.block_at(&a.id, 2)),
        Corruption::MissingBlock {
            chain: a.id,
            height: 2,
            hash,
        }
    );
}

#[test]
fn malformed_chain_index_value_is_a_bad_index_value() {
    let (mut store, a) = stored_chain();
    tamper::set_chain_index_raw(&mut store, &a.id, 1, b"short").unwrap();
    for result in [
        store.block_at(&a.id, 1).map(|_| ()),
        store.block_hash_at(&a.id, 1).map(|_| ()),
        store.blocks_range(&a.id, 0, 10).map(|_| ()),
        store.chain_index(&a.id).map(|_| ()),
    ] {
        assert!(matches!(
            corruption(result),
            Corruption::BadIndexValue {
                tree: "chain_index",
                ..
            }
        ));
    }
}

#[test]
fn overwritten_payload_is_a_payload_hash_mismatch() {
    let mut store = Store::open_temporary().unwrap();
    let key = store.put_payloads(&[b"{\"dose\":5}"]).unwrap()[0];
    tamper::overwrite_payload(&mut store, &key, b"{\"dose\":50}").unwrap();
    assert_eq!(
        corruption(store.payload(&key)),
        Corruption::PayloadHashMismatch {
            key,
            actual: PayloadHash::of(b"{\"dose\":50}"),
        }
    );
    // Presence is unchecked; reading is checked.
    assert!(store.has_payload(&key).unwrap());
}

#[test]
fn missing_index_entries_finds_removed_and_wrong_entries() {
    let (mut store, a) = stored_chain();
    let block = &a.blocks[1];
    let record = RecordId::derive(&a.id, 1, 1);
    tamper::remove_record_index(&mut store, &record, &a.at(1, 1)).unwrap();
    assert_eq!(
        store.missing_index_entries(block, &block.hash()).unwrap(),
        vec![MissingIndex::Record {
            record,
            at: a.at(1, 1)
        }]
    );
    tamper::set_chain_index(&mut store, &a.id, 1, &a.blocks[0].hash()).unwrap();
    assert_eq!(
        store.missing_index_entries(block, &block.hash()).unwrap(),
        vec![
            MissingIndex::ChainIndex { height: 1 },
            MissingIndex::Record {
                record,
                at: a.at(1, 1)
            }
        ]
    );
    // A block never committed misses everything it implies, its certificate included.
    let mut b = Chain::new(2);
    let rec = RecordId::derive(&b.id, 0, 0);
    let parent = Parent::Record(RecordId::derive(&a.id, 0, 0));
    let genesis = b.push(vec![derive(b.id, 0, 0, vec![parent])]);
    let at = b.at(0, 0);
    assert_eq!(
        store
            .missing_index_entries(&genesis, &genesis.hash())
            .unwrap(),
        vec![
            MissingIndex::ChainIndex { height: 0 },
            MissingIndex::Record { record: rec, at },
            MissingIndex::Patient {
                patient: patient(2),
                at
            },
            MissingIndex::ChildEdge { parent, child: at },
            MissingIndex::Certificate {
                hash: CertHash::of(&b.certificate)
            },
        ]
    );
}

/// A known limit, kept visible: the signature is outside the header hash, so the store cannot
/// see it changed. The chain crate's verifier checks signatures against the signer's certificate.
#[test]
fn the_signature_is_left_to_the_verifier() {
    let (mut store, a) = stored_chain();
    let mut forged = a.blocks[1].clone();
    forged.signature.0[0] ^= 1;
    tamper::overwrite_block_bytes(&mut store, &forged.hash(), &forged.encode()).unwrap();
    let read = store.block(&forged.hash()).unwrap().unwrap();
    assert_eq!(read.signature, forged.signature);
    assert_eq!(
        (&read.header, &read.entries),
        (&a.blocks[1].header, &a.blocks[1].entries)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single changed byte: a read returns the committed header and entries, or corruption;
    /// never other data, never a panic.
    #[test]
    fn a_changed_byte_never_reads_as_other_data(position in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut store = Store::open_temporary().unwrap();
        let mut a = Chain::new(1);
        let block = a.push_creates(3);
        commit(&mut store, std::slice::from_ref(&block));
        let mut bytes = block.encode();
        let i = position.index(bytes.len());
        bytes[i] ^= xor;
        tamper::overwrite_block_bytes(&mut store, &block.hash(), &bytes).unwrap();
        match store.block_at(&a.id, 0) {
            Ok(Some(read)) => {
                prop_assert_eq!(&read.header, &block.header);
                prop_assert_eq!(&read.entries, &block.entries);
            }
            Ok(None) => prop_assert!(false, "block vanished"),
            Err(StoreError::Corrupt(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
