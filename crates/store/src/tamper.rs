//! Attack simulation: raw writes past all checks.
//!
//! The paper's scenario 2 is an attacker with access to a node's repository who modifies the
//! stored chains. These functions do exactly that, for the tests and for the documented
//! `medchain` maintenance subcommand that demonstrates detection and repair. Each writes raw
//! bytes with no validation, no index maintenance and no transaction, then flushes, so the damage
//! survives a restart like a real edit of the files would. Never call them in normal operation.

use medchain_protocol::{BlockHash, ChainId, EntryRef, PatientRef, PayloadHash, RecordId};

use crate::error::{EngineResult, StoreError};
use crate::keys;
use crate::open::Store;

/// Replaces the bytes stored under a block hash (the key stays).
pub fn overwrite_block_bytes(
    store: &Store,
    hash: &BlockHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    store
        .trees()
        .blocks
        .insert(hash.as_bytes(), bytes)
        .engine()?;
    store.flush()
}

/// Deletes a block's bytes, leaving every index entry that names it.
pub fn remove_block(store: &Store, hash: &BlockHash) -> Result<(), StoreError> {
    store.trees().blocks.remove(hash.as_bytes()).engine()?;
    store.flush()
}

/// Points the chain index entry (chain, height) at `hash`.
pub fn set_chain_index(
    store: &Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    store
        .trees()
        .chain_index
        .insert(keys::height_key(chain, height), hash.as_bytes())
        .engine()?;
    store.flush()
}

/// Replaces the bytes stored under a payload's content address.
pub fn overwrite_payload(
    store: &Store,
    hash: &PayloadHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    store
        .trees()
        .payloads
        .insert(hash.as_bytes(), bytes)
        .engine()?;
    store.flush()
}

/// Deletes one `records` index entry.
pub fn remove_record_index(
    store: &Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    store
        .trees()
        .records
        .remove(keys::record_key(record, at))
        .engine()?;
    store.flush()
}

/// Writes arbitrary bytes as the chain index value of (chain, height) (a malformed index).
pub fn set_chain_index_raw(
    store: &Store,
    chain: &ChainId,
    height: u64,
    value: &[u8],
) -> Result<(), StoreError> {
    store
        .trees()
        .chain_index
        .insert(keys::height_key(chain, height), value)
        .engine()?;
    store.flush()
}

/// Plants a `records` index entry naming `at` as a version of `record` (it is not).
pub fn plant_record_index(
    store: &Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    store
        .trees()
        .records
        .insert(keys::record_key(record, at), &[][..])
        .engine()?;
    store.flush()
}

/// Plants a `patients` index entry naming `at` as an entry of `patient` (it is not).
pub fn plant_patient_index(
    store: &Store,
    patient: &PatientRef,
    at: &EntryRef,
) -> Result<(), StoreError> {
    store
        .trees()
        .patients
        .insert(keys::patient_key(patient, at), &[][..])
        .engine()?;
    store.flush()
}

/// Sets the head record of `chain` to (height, hash), whatever the chain index holds.
pub fn set_head(
    store: &Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    store
        .trees()
        .heads
        .insert(chain.as_bytes(), &keys::head_value(height, hash)[..])
        .engine()?;
    store.flush()
}
