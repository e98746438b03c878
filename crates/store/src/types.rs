//! The plain data types of the store's interface: what goes in ([`BlockWrite`]) and what the
//! verifier and the operators get back ([`MissingIndex`], [`QuarantineEvent`]).

use medchain_protocol::{
    Block, BlockHash, CertHash, ChainId, EntryRef, Parent, PatientRef, RecordId,
};

/// One block to commit: the block, its hash, and its canonical bytes (so the store never
/// re-encodes or re-hashes what the caller already has).
#[derive(Clone, Copy, Debug)]
pub struct BlockWrite<'a> {
    /// The verified block.
    pub block: &'a Block,
    /// Its hash (`block.hash()`).
    pub hash: BlockHash,
    /// Its canonical bytes (`block.encode()`), stored as they are.
    pub encoded: &'a [u8],
}

/// An index entry the verifier expected and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingIndex {
    /// The chain index entry (chain, height) -> hash is missing or points elsewhere.
    ChainIndex {
        /// The block's height.
        height: u64,
    },
    /// `records`: the record's entry at `at`.
    Record {
        /// The entry's record.
        record: RecordId,
        /// Where the entry is.
        at: EntryRef,
    },
    /// `patients`: the patient's entry at `at`.
    Patient {
        /// The entry's patient.
        patient: PatientRef,
        /// Where the entry is.
        at: EntryRef,
    },
    /// `prov_down`: parent -> child.
    ChildEdge {
        /// The parent.
        parent: Parent,
        /// The entry naming it.
        child: EntryRef,
    },
    /// `accesses`: the record's access entry (an audited read) at `at`.
    Access {
        /// The record read.
        record: RecordId,
        /// Where the access entry is.
        at: EntryRef,
    },
    /// `terms`: the patient's grant, revoke or erase entry at `at`.
    Terms {
        /// The entry's patient.
        patient: PatientRef,
        /// Where the entry is.
        at: EntryRef,
    },
    /// `certificates`: the certificate the block carries.
    Certificate {
        /// Its hash.
        hash: CertHash,
    },
}

/// One quarantine event: blocks moved out of a chain from `from_height` through `to_height`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineEvent {
    /// Increasing, from 1.
    pub id: u64,
    /// The chain cut back.
    pub chain: ChainId,
    /// The first height moved out.
    pub from_height: u64,
    /// The last height of the range moved out (inclusive). The event is restored once every
    /// height from `from_height` through it is held again.
    pub to_height: u64,
    /// When, as given by the caller (milliseconds since the Unix epoch).
    pub time_ms: u64,
    /// Why, as given by the caller, e.g. "entries root mismatch at height 5".
    pub reason: String,
    /// What was moved (raw bytes kept in the quarantine tree), by ascending height.
    pub blocks: Vec<QuarantinedBlock>,
    /// Set by `mark_restored`; the event and bytes are kept.
    pub restored_at_ms: Option<u64>,
}

/// One block moved out by a quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedBlock {
    /// The chain-index height it was at.
    pub height: u64,
    /// The hash the chain index held for that height ([`BlockHash::ZERO`] if the index value
    /// itself was malformed).
    pub index_hash: BlockHash,
    /// Whether bytes were stored under that hash (and so were kept in the quarantine tree).
    pub bytes_present: bool,
}
