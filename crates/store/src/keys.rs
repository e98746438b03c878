//! Key and value encodings of every tree.
//!
//! Integers are fixed-width big-endian, so sled's lexicographic key order is numeric order and a
//! prefix scan (all heights of a chain, all entries of a record) comes out sorted. Every decoder
//! checks lengths and tags and returns `None` on anything else: the callers turn that into
//! `Corruption::BadIndexValue`, never a panic.
//!
//! - EntryRef key (44 bytes): chain (32) ‖ height BE (8) ‖ index BE (4).
//! - Parent key: tag 0 ‖ EntryRef key (45 bytes), or tag 1 ‖ record id (17 bytes).
//! - Height key (40 bytes): chain (32) ‖ height BE (8).

use medchain_protocol::{BlockHash, ChainId, EntryRef, Parent, PatientRef, RecordId};

/// Length of an EntryRef key.
pub(crate) const ENTRY_KEY_LEN: usize = 44;
/// Length of a (chain, height) key.
pub(crate) const HEIGHT_KEY_LEN: usize = 40;
/// Length of a record id.
pub(crate) const RECORD_LEN: usize = 16;
/// Length of a chain id, block hash, patient ref.
pub(crate) const HASH_LEN: usize = 32;

const PARENT_ENTRY_TAG: u8 = 0;
const PARENT_RECORD_TAG: u8 = 1;

/// Exactly 32 bytes, or `None`.
pub(crate) fn hash32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// chain ‖ height BE: the key of `chain_index` and the prefix of the `evidence` key.
pub(crate) fn height_key(chain: &ChainId, height: u64) -> [u8; HEIGHT_KEY_LEN] {
    let mut key = [0u8; HEIGHT_KEY_LEN];
    key[..32].copy_from_slice(chain.as_bytes());
    key[32..].copy_from_slice(&height.to_be_bytes());
    key
}

/// The inverse of [`height_key`].
pub(crate) fn decode_height_key(key: &[u8]) -> Option<(ChainId, u64)> {
    if key.len() != HEIGHT_KEY_LEN {
        return None;
    }
    Some((ChainId(hash32(&key[..32])?), u64_at(key, 32)?))
}

/// chain ‖ height BE ‖ index BE.
pub(crate) fn entry_key(at: &EntryRef) -> [u8; ENTRY_KEY_LEN] {
    let mut key = [0u8; ENTRY_KEY_LEN];
    key[..32].copy_from_slice(at.chain.as_bytes());
    key[32..40].copy_from_slice(&at.height.to_be_bytes());
    key[40..].copy_from_slice(&at.index.to_be_bytes());
    key
}

/// The inverse of [`entry_key`]; the input must be exactly one EntryRef key.
pub(crate) fn decode_entry_key(key: &[u8]) -> Option<EntryRef> {
    if key.len() != ENTRY_KEY_LEN {
        return None;
    }
    Some(EntryRef {
        chain: ChainId(hash32(&key[..32])?),
        height: u64_at(key, 32)?,
        index: u32_at(key, 40)?,
    })
}

/// Tag byte ‖ EntryRef key or record id.
pub(crate) fn parent_key(parent: &Parent) -> Vec<u8> {
    match parent {
        Parent::Entry(at) => {
            let mut key = Vec::with_capacity(1 + ENTRY_KEY_LEN);
            key.push(PARENT_ENTRY_TAG);
            key.extend_from_slice(&entry_key(at));
            key
        }
        Parent::Record(record) => {
            let mut key = Vec::with_capacity(1 + RECORD_LEN);
            key.push(PARENT_RECORD_TAG);
            key.extend_from_slice(&record.0);
            key
        }
    }
}

/// Splits a parent key off the front of `bytes`: the parent and what follows it.
pub(crate) fn split_parent_key(bytes: &[u8]) -> Option<(Parent, &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    match tag {
        PARENT_ENTRY_TAG if rest.len() >= ENTRY_KEY_LEN => {
            let (at, rest) = rest.split_at(ENTRY_KEY_LEN);
            Some((Parent::Entry(decode_entry_key(at)?), rest))
        }
        PARENT_RECORD_TAG if rest.len() >= RECORD_LEN => {
            let (record, rest) = rest.split_at(RECORD_LEN);
            Some((Parent::Record(RecordId(record.try_into().ok()?)), rest))
        }
        _ => None,
    }
}

/// `records` key: record ‖ EntryRef key.
pub(crate) fn record_key(record: &RecordId, at: &EntryRef) -> Vec<u8> {
    [&record.0[..], &entry_key(at)].concat()
}

/// `patients` key: patient ‖ EntryRef key.
pub(crate) fn patient_key(patient: &PatientRef, at: &EntryRef) -> Vec<u8> {
    [&patient.0[..], &entry_key(at)].concat()
}

/// `terms` key: chain (32) ‖ patient (32) ‖ `E`.
pub(crate) fn terms_key(chain: &ChainId, patient: &PatientRef, at: &EntryRef) -> Vec<u8> {
    [chain.as_bytes(), &patient.0[..], &entry_key(at)[..]].concat()
}

/// `prov_down` key: parent key ‖ child EntryRef key.
pub(crate) fn prov_down_key(parent: &Parent, child: &EntryRef) -> Vec<u8> {
    [&parent_key(parent)[..], &entry_key(child)].concat()
}

/// The EntryRef a `records` or `patients` key points at (the key after its `prefix_len`-byte
/// record or patient prefix).
pub(crate) fn entry_after(key: &[u8], prefix_len: usize) -> Option<EntryRef> {
    decode_entry_key(key.get(prefix_len..)?)
}

/// The child EntryRef of a `prov_down` key (after the variable-length parent key).
pub(crate) fn prov_down_child(key: &[u8]) -> Option<EntryRef> {
    let (_, rest) = split_parent_key(key)?;
    decode_entry_key(rest)
}

/// `heads` value: height BE ‖ block hash.
pub(crate) fn head_value(height: u64, hash: &BlockHash) -> [u8; 40] {
    let mut value = [0u8; 40];
    value[..8].copy_from_slice(&height.to_be_bytes());
    value[8..].copy_from_slice(hash.as_bytes());
    value
}

/// The inverse of [`head_value`].
pub(crate) fn decode_head_value(value: &[u8]) -> Option<(u64, BlockHash)> {
    if value.len() != 40 {
        return None;
    }
    Some((u64_at(value, 0)?, BlockHash(hash32(&value[8..])?)))
}

/// `evidence` key: chain ‖ height BE ‖ hash of the second block.
pub(crate) fn evidence_key(chain: &ChainId, height: u64, second: &BlockHash) -> Vec<u8> {
    [&height_key(chain, height)[..], second.as_bytes()].concat()
}

/// `quarantine` key: event id BE ‖ height BE.
pub(crate) fn quarantine_key(event: u64, height: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&event.to_be_bytes());
    key[8..].copy_from_slice(&height.to_be_bytes());
    key
}

/// A sequence number (event id, report number) as a key.
pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// The inverse of [`seq_key`].
pub(crate) fn decode_seq(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(chain: u8, height: u64, index: u32) -> EntryRef {
        EntryRef {
            chain: ChainId([chain; 32]),
            height,
            index,
        }
    }

    #[test]
    fn entry_keys_round_trip_and_sort_numerically() {
        let refs = [at(1, 2, 0), at(1, 2, 256), at(1, 256, 0), at(2, 0, 0)];
        for pair in refs.windows(2) {
            assert!(entry_key(&pair[0]) < entry_key(&pair[1]));
        }
        for r in refs {
            assert_eq!(decode_entry_key(&entry_key(&r)), Some(r));
        }
        assert_eq!(decode_entry_key(&[0; 43]), None);
    }

    #[test]
    fn height_keys_sort_numerically() {
        let c = ChainId([7; 32]);
        assert!(height_key(&c, 255) < height_key(&c, 256));
        assert_eq!(decode_height_key(&height_key(&c, 9)), Some((c, 9)));
        assert_eq!(decode_height_key(&[0; 39]), None);
    }

    #[test]
    fn parent_keys_round_trip_with_tail() {
        let parents = [
            Parent::Entry(at(3, 4, 5)),
            Parent::Record(RecordId([9; 16])),
        ];
        let child = at(1, 7, 1);
        for p in parents {
            let key = prov_down_key(&p, &child);
            let (parsed, rest) = split_parent_key(&key).unwrap();
            assert_eq!(parsed, p);
            assert_eq!(decode_entry_key(rest), Some(child));
            assert_eq!(prov_down_child(&key), Some(child));
        }
        assert_eq!(split_parent_key(&[2; 45]), None);
        assert_eq!(split_parent_key(&[0; 20]), None);
        assert_eq!(split_parent_key(&[]), None);
    }

    #[test]
    fn values_round_trip() {
        let h = BlockHash([4; 32]);
        assert_eq!(decode_head_value(&head_value(12, &h)), Some((12, h)));
        assert_eq!(decode_head_value(&[0; 41]), None);
        assert_eq!(decode_seq(&seq_key(77)), Some(77));
        assert_eq!(decode_seq(&[1, 2]), None);
        let r = at(5, 6, 7);
        assert_eq!(
            entry_after(&record_key(&RecordId([1; 16]), &r), 16),
            Some(r)
        );
        assert_eq!(
            entry_after(&patient_key(&PatientRef([1; 32]), &r), 32),
            Some(r)
        );
        assert_eq!(entry_after(&[0; 10], 16), None);
    }
}
