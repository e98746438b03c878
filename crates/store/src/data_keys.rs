//! The wrapped data keys of payloads this node can read: its own records' (made when it
//! authored them) and, later, keys released to it by grants.
//!
//! The store keeps them opaque: wrapping and unwrapping under the node's key-wrapping key is
//! `medchain_protocol::sealed`'s, done by the caller. Deleting a key here removes it from the
//! tree; sled's old log segments may still hold its wrapped bytes until they are rewritten, which
//! is why a deletion is followed by re-wrapping every live key under a fresh wrapping key (the
//! old one is destroyed, so what old segments hold can no longer be opened).

use medchain_protocol::EntryRef;

use crate::error::{EngineResult, StoreError};
use crate::keys::{decode_entry_key, entry_key};
use crate::open::{Store, StoreReader};

/// The key, in `data_keys`, of the node key check value (not an entry position, so no entry
/// lookup or page of keys reaches it).
const NODE_KEY_CHECK: &[u8] = b"node-key-check";

/// Most keys written in one sled batch (the store's bound on one write's size).
const MAX_KEYS_PER_BATCH: usize = 4096;

impl Store {
    /// Stores wrapped data keys (no flush: the commit of the block that references them, or
    /// [`Store::flush`], makes them durable; sled writes its log in order, so a key written
    /// before its block is durable when the block is).
    pub fn put_data_keys(&mut self, keys: &[(EntryRef, Vec<u8>)]) -> Result<(), StoreError> {
        for chunk in keys.chunks(MAX_KEYS_PER_BATCH) {
            let mut batch = sled::Batch::default();
            for (at, wrapped) in chunk {
                batch.insert(&entry_key(at)[..], wrapped.as_slice());
            }
            self.trees().data_keys.apply_batch(batch).engine()?;
        }
        Ok(())
    }

    /// Deletes the data keys of `entries` (absent ones are ignored), then flushes.
    pub fn delete_data_keys(&mut self, entries: &[EntryRef]) -> Result<(), StoreError> {
        for chunk in entries.chunks(MAX_KEYS_PER_BATCH) {
            let mut batch = sled::Batch::default();
            for at in chunk {
                batch.remove(&entry_key(at)[..]);
            }
            self.trees().data_keys.apply_batch(batch).engine()?;
        }
        self.flush()
    }
}

impl Store {
    /// Records which node key the data keys are wrapped under (an opaque check value: see
    /// `medchain_chain::KeyRing`), flushed.
    pub fn put_node_key_check(&mut self, value: &[u8]) -> Result<(), StoreError> {
        self.trees()
            .data_keys
            .insert(NODE_KEY_CHECK, value)
            .engine()?;
        self.flush()
    }
}

impl StoreReader {
    /// The node key check value, if one was recorded.
    pub fn node_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .trees()
            .data_keys
            .get(NODE_KEY_CHECK)
            .engine()?
            .map(|v| v.to_vec()))
    }

    /// The wrapped data key of the payload of the entry at `at`, if this node holds it.
    pub fn data_key(&self, at: &EntryRef) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .trees()
            .data_keys
            .get(entry_key(at))
            .engine()?
            .map(|v| v.to_vec()))
    }

    /// Up to `limit` wrapped data keys after `after` (from the first when `None`), in entry
    /// order: for re-wrapping them all, a page at a time. An entry whose key is not an entry
    /// position is skipped: no lookup can reach it.
    pub fn data_keys_after(
        &self,
        after: Option<&EntryRef>,
        limit: usize,
    ) -> Result<Vec<(EntryRef, Vec<u8>)>, StoreError> {
        let tree = &self.trees().data_keys;
        let iter = match after {
            Some(at) => tree.range((
                std::ops::Bound::Excluded(entry_key(at).to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => tree.iter(),
        };
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item.engine()?;
            if let Some(at) = decode_entry_key(&key) {
                out.push((at, value.to_vec()));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// How many data keys this node holds.
    pub fn data_key_count(&self) -> usize {
        let check = usize::from(self.node_key_check().ok().flatten().is_some());
        self.trees().data_keys.len().saturating_sub(check)
    }
}
