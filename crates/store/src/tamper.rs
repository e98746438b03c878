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

/// Writes `value` under `key` in `tree` (`None`: removes the key), past every check, and
/// flushes so the damage survives a restart.
fn write_raw(
    store: &Store,
    tree: &sled::Tree,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    match value {
        Some(value) => tree.insert(key, value).engine().map(drop)?,
        None => tree.remove(key).engine().map(drop)?,
    }
    store.flush()
}

/// Replaces the bytes stored under a block hash (the key stays).
pub fn overwrite_block_bytes(
    store: &Store,
    hash: &BlockHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    write_raw(store, &store.trees().blocks, hash.as_bytes(), Some(bytes))
}

/// Deletes a block's bytes, leaving every index entry that names it.
pub fn remove_block(store: &Store, hash: &BlockHash) -> Result<(), StoreError> {
    write_raw(store, &store.trees().blocks, hash.as_bytes(), None)
}

/// Points the chain index entry (chain, height) at `hash`.
pub fn set_chain_index(
    store: &Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    set_chain_index_raw(store, chain, height, hash.as_bytes())
}

/// Replaces the bytes stored under a payload's content address.
pub fn overwrite_payload(
    store: &Store,
    hash: &PayloadHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    write_raw(store, &store.trees().payloads, hash.as_bytes(), Some(bytes))
}

/// Deletes one `records` index entry.
pub fn remove_record_index(
    store: &Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::record_key(record, at);
    write_raw(store, &store.trees().records, &key, None)
}

/// Writes arbitrary bytes as the chain index value of (chain, height) (a malformed index).
pub fn set_chain_index_raw(
    store: &Store,
    chain: &ChainId,
    height: u64,
    value: &[u8],
) -> Result<(), StoreError> {
    let key = keys::height_key(chain, height);
    write_raw(store, &store.trees().chain_index, &key, Some(value))
}

/// Plants a `records` index entry naming `at` as a version of `record` (it is not).
pub fn plant_record_index(
    store: &Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::record_key(record, at);
    write_raw(store, &store.trees().records, &key, Some(&[]))
}

/// Plants a `patients` index entry naming `at` as an entry of `patient` (it is not).
pub fn plant_patient_index(
    store: &Store,
    patient: &PatientRef,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::patient_key(patient, at);
    write_raw(store, &store.trees().patients, &key, Some(&[]))
}

/// Sets the head record of `chain` to (height, hash), whatever the chain index holds.
pub fn set_head(
    store: &Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    let value = keys::head_value(height, hash);
    write_raw(store, &store.trees().heads, chain.as_bytes(), Some(&value))
}
