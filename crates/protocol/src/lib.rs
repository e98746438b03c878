//! `medchain-protocol`: the vocabulary every other medchain crate speaks.
//!
//! What a chain, a block, an entry and a wire message are, byte for byte; how they are hashed and
//! signed; and who may write: the consortium's X.509 identity (a root CA, member certificates
//! carrying a provider or auditor role, revocation lists). This crate is pure: no async runtime,
//! no networking, no storage and no file I/O, so everything here is deterministic and testable
//! from bytes alone.
//!
//! Layout:
//! - [`ids`], [`patient`]: identifiers and patient pseudonyms.
//! - [`entry`], [`block`], [`merkle`]: the ledger's objects and their structural rules.
//! - [`hash`], [`encoding`], [`limits`]: hash domains, canonical encoding, size limits.
//! - [`identity`]: member keys, certificates, roles, revocation, verification.
//! - [`message`]: gossip and sync messages.
//! - [`sealed`]: payload encryption under per-record data keys, and their wrapping at rest;
//!   [`key_release`]: a data key released to a member's X25519 key with HPKE.
//! - [`proof`]: offline proofs of one entry, checked with no node and no network.

pub mod block;
pub mod encoding;
pub mod entry;
pub mod hash;
pub mod identity;
pub mod ids;
pub mod key_backup;
pub mod key_release;
pub mod limits;
pub mod merkle;
pub mod message;
pub mod patient;
pub mod proof;
pub mod sealed;

pub use block::{Block, BlockDraft, BlockError, BlockHeader, Signature, SignedHeader};
pub use encoding::DecodeError;
pub use entry::{Entry, EntryError, EntryKind, Parent, PayloadRef, Terms};
pub use ids::{
    BlockHash, CertHash, ChainHead, ChainId, EntriesRoot, EntryRef, PayloadHash, RecordId,
};
pub use message::{
    BlockMessage, EquivocationEvidence, Hello, SyncRequest, SyncResponse, WireMessage,
};
pub use patient::{PatientRef, PseudonymKey};
