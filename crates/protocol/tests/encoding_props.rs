//! Property tests of the canonical encoding: every object round-trips, and truncated, extended,
//! oversized or random input is refused with a typed error, never a panic.

use medchain_protocol::encoding::{DecodeError, decode, encode};
use medchain_protocol::limits::MAX_BLOCK_BYTES;
use medchain_protocol::message::{SyncRequest, SyncResponse, WireMessage};
use medchain_protocol::*;
use medchain_testkit::blocks::*;
use medchain_testkit::strategies::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn entries_round_trip(entry in any_entry()) {
        let bytes = encode(&entry);
        prop_assert_eq!(decode::<Entry>(&bytes, 1 << 16).unwrap(), entry);
    }

    #[test]
    fn blocks_round_trip_and_refuse_damage(block in any_block(), cut in any::<prop::sample::Index>()) {
        let bytes = block.encode();
        prop_assert_eq!(Block::decode(&bytes).unwrap(), block);

        // Every strict prefix fails (a prefix can never be a whole canonical block).
        let at = cut.index(bytes.len());
        prop_assert!(Block::decode(&bytes[..at]).is_err());

        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(Block::decode(&longer), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn truncated_blocks_say_truncated(block in any_block()) {
        let bytes = block.encode();
        prop_assert_eq!(Block::decode(&bytes[..bytes.len() - 1]), Err(DecodeError::Truncated));
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Block::decode(&bytes);
        let _ = SyncRequest::from_wire(&bytes);
        let _ = SyncResponse::from_wire(&bytes);
        let _ = BlockMessage::from_wire(&bytes);
        let _ = EquivocationEvidence::from_wire(&bytes);
    }

    #[test]
    fn sync_messages_round_trip(chain in any::<[u8; 32]>(), from in any::<u64>(), limit in any::<u32>(), heads in prop::collection::vec(any_head(), 0..8)) {
        let request = SyncRequest::Blocks { chain: ChainId(chain), from, limit };
        prop_assert_eq!(SyncRequest::from_wire(&request.to_wire()).unwrap(), request);
        let response = SyncResponse::Heads(heads);
        prop_assert_eq!(SyncResponse::from_wire(&response.to_wire()).unwrap(), response);
        let request = SyncRequest::Evidence { skip: limit };
        prop_assert_eq!(SyncRequest::from_wire(&request.to_wire()).unwrap(), request);
        let request = SyncRequest::Range { chain: ChainId(chain), from, limit };
        prop_assert_eq!(SyncRequest::from_wire(&request.to_wire()).unwrap(), request);
    }
}

#[test]
fn evidence_sync_bytes() {
    // Appended variants: older messages keep their bytes.
    assert_eq!(
        SyncRequest::Evidence { skip: 300 }.to_wire(),
        vec![0x02, 0x04, 0xac, 0x02]
    );
    assert_eq!(
        SyncResponse::Evidence(vec![]).to_wire(),
        vec![0x02, 0x06, 0x00]
    );
}

#[test]
fn range_sync_bytes() {
    // Appended variants: request 5 (chain, from, limit as varints), response 7 (a sequence of
    // block messages).
    let mut expected = vec![0x02, 0x05];
    expected.extend([0xab; 32]);
    expected.extend([0xac, 0x02, 0x40]);
    assert_eq!(
        SyncRequest::Range {
            chain: ChainId([0xab; 32]),
            from: 300,
            limit: 64
        }
        .to_wire(),
        expected
    );
    assert_eq!(
        SyncResponse::Range(vec![]).to_wire(),
        vec![0x02, 0x07, 0x00]
    );
}

#[test]
fn oversized_input_refused_before_decoding() {
    let big = vec![0u8; MAX_BLOCK_BYTES + 1];
    assert_eq!(
        Block::decode(&big),
        Err(DecodeError::TooLarge {
            len: MAX_BLOCK_BYTES + 1,
            max: MAX_BLOCK_BYTES
        })
    );
    let big_request = vec![1u8; SyncRequest::MAX_BYTES + 1];
    assert!(matches!(
        SyncRequest::from_wire(&big_request),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn wire_version_is_checked() {
    let wire = SyncRequest::Heads.to_wire();
    assert_eq!(wire, [2, 1]);
    // Version 1 (plaintext payloads) is refused, as is any later version.
    for old_or_new in [1, 3] {
        assert_eq!(
            SyncRequest::from_wire(&[old_or_new, 1]),
            Err(DecodeError::UnsupportedVersion(old_or_new))
        );
    }
    assert_eq!(SyncRequest::from_wire(&[]), Err(DecodeError::Empty));
    assert!(matches!(
        SyncRequest::from_wire(&[2, 9]),
        Err(DecodeError::Malformed(_))
    ));
}

#[test]
fn bad_option_and_bool_tags_refused() {
    let block = genesis(&key(1), vec![]);
    let mut bytes = block.encode();
    // The certificate option tag follows header and signature; corrupt it to 2.
    let header_len = block.header.encode().len();
    let tag_at = header_len + 1 + 64;
    assert_eq!(bytes[tag_at], 1);
    bytes[tag_at] = 2;
    assert_eq!(
        Block::decode(&bytes),
        Err(DecodeError::Malformed("bad option tag"))
    );
}

#[test]
fn key_request_bytes() {
    use medchain_protocol::EntryRef;
    use medchain_protocol::message::{KeyAnswer, KeyOutcome};
    // Appended variants: request 6 (a sequence of entry references), response 8 (a sequence of
    // answers, each the entry and an outcome: 0 released bytes, 1 not granted, 2 erased, 3 not
    // held).
    let at = EntryRef {
        chain: ChainId([0xab; 32]),
        height: 300,
        index: 2,
    };
    let mut entry = vec![0xab; 32];
    entry.extend([0xac, 0x02, 0x02]);
    let request = SyncRequest::DataKeys(vec![at]);
    assert_eq!(
        request.to_wire(),
        [&[0x02, 0x06, 0x01][..], &entry].concat()
    );
    let response = SyncResponse::DataKeys(vec![
        KeyAnswer {
            at,
            outcome: KeyOutcome::NotGranted,
        },
        KeyAnswer {
            at,
            outcome: KeyOutcome::Released(vec![0x11; 80].into()),
        },
    ]);
    let expected = [
        &[0x02, 0x08, 0x02][..],
        &entry,
        &[0x01],
        &entry,
        &[0x00, 0x50],
        &[0x11; 80],
    ]
    .concat();
    assert_eq!(response.to_wire(), expected);
    assert_eq!(SyncResponse::from_wire(&expected).unwrap(), response);
}

#[test]
fn key_backup_request_bytes() {
    use medchain_protocol::key_backup::{BackedUpKey, KeyBackup};
    // Appended variants: request 7 (chain, from, limit as varints), response 9 (a sequence of
    // backups: chain, height, envelope bytes, keys as index and wrapped bytes).
    let mut expected = vec![0x02, 0x07];
    expected.extend([0xab; 32]);
    expected.extend([0xac, 0x02, 0x40]);
    let request = SyncRequest::KeyBackups {
        chain: ChainId([0xab; 32]),
        from: 300,
        limit: 64,
    };
    assert_eq!(request.to_wire(), expected);
    let response = SyncResponse::KeyBackups(vec![KeyBackup {
        chain: ChainId([0xab; 32]),
        height: 300,
        envelope: vec![0x11; 80],
        keys: vec![BackedUpKey {
            index: 2,
            digest: vec![0x44; 32],
            wrapped: Some(vec![0x22; 64].into()),
        }],
        signature: vec![0x33; 64],
    }]);
    let expected = [
        &[0x02, 0x09, 0x01][..],
        &[0xab; 32],
        &[0xac, 0x02, 0x50],
        &[0x11; 80],
        &[0x01, 0x02, 0x20],
        &[0x44; 32],
        &[0x01, 0x40],
        &[0x22; 64],
        &[0x40],
        &[0x33; 64],
    ]
    .concat();
    assert_eq!(response.to_wire(), expected);
    assert_eq!(SyncResponse::from_wire(&expected).unwrap(), response);
}
