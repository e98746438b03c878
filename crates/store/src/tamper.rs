//! Attack simulation: raw writes past all checks (cargo feature `tamper`).
//!
//! The paper's scenario 2 is an attacker with access to a node's repository who modifies the
//! stored chains. These functions do exactly that, for the tests and for the documented
//! `medchain maintenance tamper-block` command that demonstrates detection and repair. Each
//! writes raw bytes with no validation, no index maintenance and no transaction, then flushes,
//! so the damage survives a restart like a real edit of the files would.
//!
//! Every function takes `&mut Store`, the write capability: in a running node the chain crate's
//! `Ledger` owns the only `Store` and never hands it out, so no daemon code path can reach these;
//! the maintenance command opens the store of a *stopped* node itself (sled's lock refuses it
//! while the node runs). The module exists only with the `tamper` feature.

use medchain_protocol::{BlockHash, ChainId, EntryRef, PatientRef, PayloadHash, RecordId};

use std::os::unix::fs::FileExt;

use crate::error::{EngineResult, StoreError};
use crate::keys;
use crate::open::{Store, Trees};
use crate::payloads::Stored;

/// Writes `value` under `key` in the tree `pick` selects (`None`: removes the key), past every
/// check, and flushes so the damage survives a restart.
fn write_raw(
    store: &mut Store,
    pick: impl FnOnce(&Trees) -> &sled::Tree,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    let tree = pick(store.trees());
    match value {
        Some(value) => tree.insert(key, value).engine().map(drop)?,
        None => tree.remove(key).engine().map(drop)?,
    }
    store.flush()
}

/// Replaces the bytes stored under a block hash (the key stays).
pub fn overwrite_block_bytes(
    store: &mut Store,
    hash: &BlockHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    write_raw(store, |t| &t.blocks, hash.as_bytes(), Some(bytes))
}

/// Stores arbitrary bytes under an arbitrary block key (e.g. a re-hashed forgery).
pub fn put_block_bytes(
    store: &mut Store,
    hash: &BlockHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    overwrite_block_bytes(store, hash, bytes)
}

/// Deletes a block's bytes, leaving every index entry that names it.
pub fn remove_block(store: &mut Store, hash: &BlockHash) -> Result<(), StoreError> {
    write_raw(store, |t| &t.blocks, hash.as_bytes(), None)
}

/// Points the chain index entry (chain, height) at `hash`.
pub fn set_chain_index(
    store: &mut Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    set_chain_index_raw(store, chain, height, hash.as_bytes())
}

/// Replaces the bytes stored under a payload's content address: bytes of the stored length are
/// written over the payload in its segment file (a raw edit of the file); others are appended
/// as a new frame and the payload's location pointed at it. A payload in the object store has
/// its object replaced by a frame of `bytes` under the payload's name (and its location's
/// length set to theirs).
pub fn overwrite_payload(
    store: &mut Store,
    hash: &PayloadHash,
    bytes: &[u8],
) -> Result<(), StoreError> {
    match store.payload_location(hash)? {
        Some(Stored::Object { len }) => {
            store
                .objects()?
                .put(vec![(*hash, crate::payloads::frame_of(hash, bytes))])?;
            if len as usize != bytes.len() {
                let location = Stored::Object {
                    len: bytes.len() as u32,
                };
                write_raw(
                    store,
                    |t| &t.payload_index,
                    hash.as_bytes(),
                    Some(&location.encode()),
                )?;
            }
            Ok(())
        }
        Some(Stored::Segment(location)) if location.len as usize == bytes.len() => {
            let path = crate::payloads::segments::segment_path(
                store.inner.segments.dir(),
                location.frame.segment,
            );
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(crate::payloads::segments::io)?;
            let at = location.frame.offset + crate::payloads::segments::FRAME_HEADER_BYTES;
            file.write_all_at(bytes, at)
                .and_then(|()| file.sync_data())
                .map_err(crate::payloads::segments::io)
        }
        _ => {
            store.append_payloads(&[(*hash, bytes)])?;
            store.flush()
        }
    }
}

/// Deletes a payload (its location: the bytes stay in their segment, unreferenced).
pub fn remove_payload(store: &mut Store, hash: &PayloadHash) -> Result<(), StoreError> {
    write_raw(store, |t| &t.payload_index, hash.as_bytes(), None)
}

/// Deletes the whole segment file that holds the payload `hash` (every payload in it is lost
/// to this node; the locations stay), or the payload's object in the object store. `false` if
/// the payload is not held.
pub fn delete_payload_segment(store: &mut Store, hash: &PayloadHash) -> Result<bool, StoreError> {
    let location = match store.payload_location(hash)? {
        None => return Ok(false),
        Some(Stored::Object { .. }) => {
            store.objects()?.delete(&[*hash])?;
            return Ok(true);
        }
        Some(Stored::Segment(location)) => location,
    };
    if location.frame.segment == store.payload_writer.current() {
        store.payload_writer.roll()?;
    }
    let dir = store.inner.segments.dir().to_path_buf();
    std::fs::remove_file(crate::payloads::segments::segment_path(
        &dir,
        location.frame.segment,
    ))
    .map_err(crate::payloads::segments::io)?;
    // After the removal, so no reader can open and keep the file in between.
    store.inner.segments.forget(location.frame.segment);
    Ok(true)
}

/// Deletes the marker object the store wrote in its bucket when it opened (what a bucket
/// emptied, replaced or misrouted looks like).
pub fn delete_object_marker(store: &mut Store) -> Result<(), StoreError> {
    store.objects()?.delete_marker()
}

/// Deletes one `records` index entry.
pub fn remove_record_index(
    store: &mut Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::record_key(record, at);
    write_raw(store, |t| &t.records, &key, None)
}

/// Writes arbitrary bytes as the chain index value of (chain, height) (a malformed index).
pub fn set_chain_index_raw(
    store: &mut Store,
    chain: &ChainId,
    height: u64,
    value: &[u8],
) -> Result<(), StoreError> {
    let key = keys::height_key(chain, height);
    write_raw(store, |t| &t.chain_index, &key, Some(value))
}

/// Plants a `records` index entry naming `at` as a version of `record` (it is not).
pub fn plant_record_index(
    store: &mut Store,
    record: &RecordId,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::record_key(record, at);
    write_raw(store, |t| &t.records, &key, Some(&[]))
}

/// Plants a `patients` index entry naming `at` as an entry of `patient` (it is not).
pub fn plant_patient_index(
    store: &mut Store,
    patient: &PatientRef,
    at: &EntryRef,
) -> Result<(), StoreError> {
    let key = keys::patient_key(patient, at);
    write_raw(store, |t| &t.patients, &key, Some(&[]))
}

/// Sets the head record of `chain` to (height, hash), whatever the chain index holds.
pub fn set_head(
    store: &mut Store,
    chain: &ChainId,
    height: u64,
    hash: &BlockHash,
) -> Result<(), StoreError> {
    let value = keys::head_value(height, hash);
    write_raw(store, |t| &t.heads, chain.as_bytes(), Some(&value))
}

/// The trees an attacker can plant raw keys in, by name (see [`plant_raw`]).
pub const TREES: [&str; 18] = crate::open::TREE_NAMES;

/// Writes an arbitrary key and value into the tree named `tree` (one of [`TREES`]): malformed
/// keys and values of any shape, as an attacker editing the files could leave them.
pub fn plant_raw(
    store: &mut Store,
    tree: &str,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    let Some(tree) = TREES.iter().copied().find(|name| *name == tree) else {
        return Err(StoreError::Engine(format!("no tree named {tree}")));
    };
    write_raw(store, |t| t.by_name(tree), key, value)
}
