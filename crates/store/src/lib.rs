//! `medchain-store`: persistence of verified blocks and indexes on sled 0.34, and of payloads in
//! segment files beside it, behind a narrow interface (no sled type leaks out, so another engine
//! can be put behind it).
//!
//! The chain crate is the only writer: it commits blocks it has verified. The write capability
//! is a type: [`Store`] (one per open database, not `Clone`, writes take `&mut self`) is owned by
//! the chain crate's `Ledger`; everyone else reads through a cloneable [`StoreReader`]. The store's own duties
//! are atomicity (a block and all its index entries commit in one transaction), durability (a
//! flush before a commit returns; sled is durable only after a flush), and honesty (every block
//! read is re-checked against its key and its entries root, so damage or tampering on disk is
//! reported as [`StoreError::Corrupt`], never returned as data). A damaged run of a chain is cut
//! out with [`Store::quarantine_range`] (the verifier's repair), or a chain cut back from a height
//! to its top with [`Store::quarantine_from`]; both keep the cut bytes for forensics.
//!
//! # Store layout
//!
//! One directory: a sled database, one tree per kind of object, and `payloads/`, the payload
//! segment files (`payloads`: append-only, framed, checked on every read), unless the store is
//! opened with an S3-compatible object store ([`StoreOptions`]), where new payloads go instead. Integers in keys are fixed-width big-endian,
//! so key order is numeric order and prefix scans come out sorted. Shorthands:
//! `E` = EntryRef key = chain (32) ‖ height BE (8) ‖ index BE (4), 44 bytes;
//! `P` = parent key = `0x00 ‖ E` (45 bytes) for `Parent::Entry`, `0x01 ‖ record id (16)`
//! (17 bytes) for `Parent::Record`.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `blocks` | block hash (32) | canonical block bytes, as committed |
//! | `chain_index` | chain (32) ‖ height BE (8) | block hash (32) |
//! | `heads` | chain (32) | height BE (8) ‖ block hash (32) |
//! | `payload_index` | payload hash (32) | where the payload is: kind 0 ‖ segment u32 BE ‖ frame offset u64 BE ‖ length u32 BE (a frame in `payloads/`: metadata on the chain, data beside it), or kind 1 ‖ length u32 BE (an object `{prefix}{hash hex}` in the configured S3 bucket) |
//! | `records` | record id (16) ‖ `E` | empty |
//! | `patients` | patient ref (32) ‖ `E` | empty |
//! | `prov_down` | parent `P` ‖ child `E` | empty |
//! | `accesses` | record id (16) ‖ `E` | empty: access entries (audited reads), in no other index |
//! | `terms` | chain (32) ‖ patient ref (32) ‖ `E` | empty: grant, revoke and erase entries (also in `records` and `patients`) |
//! | `certificates` | certificate hash (32) | DER |
//! | `evidence` | chain (32) ‖ height BE (8) ‖ second block hash (32) | encoded `EquivocationEvidence` |
//! | `quarantine` | event id BE (8) ‖ height BE (8) | raw bytes that were under the block key |
//! | `quarantine_events` | event id BE (8) | postcard-encoded event |
//! | `reports` | sequence BE (8) | opaque verifier report |
//! | `data_keys` | `E` | the entry's payload data key, wrapped under the node's key-wrapping key (opaque here; `medchain_protocol::sealed`) |
//! | `key_backups` | chain (32) ‖ height BE (8) | an encoded key backup of that block (opaque here: `medchain_protocol::key_backup`), the author's own and those peers keep |
//! | `meta` | `schema_version` | u32 BE (5; a store of version 3 migrates its payloads out of the old `payloads` tree when it opens, and one of 3 or 4 drops its `prov_up` tree; 1 or 2 hold protocol 1's plaintext payloads and are refused, any other is refused too) |
//! | `stray` | sequence BE (8) | postcard: a malformed or planted entry set aside (tree, key, value, why, time) |
//!
//! Index values are empty: the key is the fact, and a prefix scan answers "where are this
//! record's / patient's / parent's entries". `heads` moves only upward on commit, and down only
//! by quarantine.
//!
//! # Modules
//!
//! - `open`: the [`Store`] (the one writer) and [`StoreReader`] handles, opening (panic-safe,
//!   errors typed by what they mean), the schema check, flushing. `trees`: the trees' names and
//!   handles.
//! - `write`: [`Store::commit_blocks`]. `read`: checked reads.
//! - `payloads`: the payload segments, their index, the verifier's payload pass, erasing
//!   (frames zeroed in place), and the migration from schema version 3.
//! - `index`: the entry indexes and [`StoreReader::missing_index_entries`].
//! - `data_keys`: the wrapped data keys of payloads this node can read.
//! - `quarantine`, `sweep`: cutting a chain back. `logs`: evidence and reports.
//! - `hygiene`: entries of the wrong shape in any tree, and setting them aside.
//! - [`signing`]: the signing record, a small file beside the store about the node's own chain.
//! - `tamper` (cargo feature `tamper`): attack simulation (raw writes past every check, given
//!   the write capability).

mod data_keys;
mod digest;
mod error;
mod hygiene;
mod index;
mod key_backups;
mod keys;
mod logs;
mod open;
mod payloads;
mod quarantine;
mod read;
mod schema;
pub mod signing;
mod sweep;
#[cfg(feature = "tamper")]
pub mod tamper;
mod trees;
mod types;
mod write;

pub use digest::IndexDigest;
pub use error::{Corruption, Damage, StoreError};
pub use hygiene::{MAX_STRAY_PER_SCAN, StrayEntry};
pub use open::{CACHE_BYTES, SCHEMA_VERSION, Store, StoreOptions, StoreReader};
pub use payloads::PayloadPass;
pub use payloads::compaction::CompactionPlan;
pub use payloads::objects::ObjectStoreSettings;
pub use signing::{SigningRecord, SigningRecordError, SigningState};
pub use types::{BlockWrite, MissingIndex, QuarantineEvent, QuarantinedBlock};
