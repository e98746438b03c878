//! proptest strategies for protocol values: entries, heads and blocks that encode, whether or
//! not they are structurally valid (encoding must round-trip regardless).

use medchain_protocol::*;
use proptest::collection::vec;
use proptest::prelude::*;

use crate::blocks::key;

/// Any 32 bytes.
pub fn any32() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// Short lowercase text (at most `max` characters).
pub fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-z0-9][a-z0-9._-]{{0,{}}}", max - 1)).expect("regex")
}

/// Any parent reference.
pub fn any_parent() -> impl Strategy<Value = Parent> {
    prop_oneof![
        (any32(), any::<u64>(), any::<u32>()).prop_map(|(c, height, index)| Parent::Entry(
            EntryRef {
                chain: ChainId(c),
                height,
                index
            }
        )),
        any::<[u8; 16]>().prop_map(|r| Parent::Record(RecordId(r))),
    ]
}

/// Any entry that encodes (structurally valid or not: encoding must round-trip regardless).
pub fn any_entry() -> impl Strategy<Value = Entry> {
    (
        prop::sample::select(EntryKind::ALL.to_vec()),
        any::<[u8; 16]>(),
        any32(),
        text(40),
        proptest::option::of((any32(), any::<u64>(), text(30))),
        vec(any_parent(), 0..4),
    )
        .prop_map(|(kind, record, patient, actor, payload, parents)| Entry {
            kind,
            record: RecordId(record),
            patient: PatientRef(patient),
            actor,
            payload: payload.map(|(h, len, ct)| PayloadRef {
                hash: PayloadHash(h),
                len,
                content_type: ct,
            }),
            parents,
            terms: None,
        })
}

/// Any chain head.
pub fn any_head() -> impl Strategy<Value = ChainHead> {
    (any32(), any::<u64>(), any32()).prop_map(|(c, height, h)| ChainHead {
        chain: ChainId(c),
        height,
        hash: BlockHash(h),
    })
}

/// Any block that encodes; signed with a fixed key over whatever header it has.
pub fn any_block() -> impl Strategy<Value = Block> {
    (
        any32(),
        any::<u64>(),
        any32(),
        any::<u64>(),
        proptest::option::of(vec(any::<u8>(), 0..64)),
        vec(any_head(), 0..3),
        vec(any_entry(), 0..4),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(chain, height, prev, time_ms, certificate, witnesses, entries, root)| {
                let header = BlockHeader {
                    version: 1,
                    chain: ChainId(chain),
                    height,
                    prev: BlockHash(prev),
                    time_ms,
                    cert: CertHash([5; 32]),
                    entries_root: EntriesRoot(root),
                    entry_count: entries.len() as u32,
                    witnesses,
                };
                let signature = header.sign(&key(1));
                Block {
                    header,
                    signature,
                    certificate,
                    entries,
                }
            },
        )
}
