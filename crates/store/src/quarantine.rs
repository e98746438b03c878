//! Quarantine: moving a damaged run of a chain's blocks aside, keeping what was moved.
//!
//! The verifier calls [`Store::quarantine_range`] with the damaged heights when stored blocks
//! fail their checks; the chain crate then refetches those heights from peers and commits the
//! verified blocks again, which makes them readable once more, and calls
//! [`Store::mark_restored`]. Blocks above the damaged run stay: only the run is refetched. Quarantined bytes are never
//! deleted and events are never removed: they are the forensic record of the tampering (the
//! paper's scenario 2) or of the storage fault.
//!
//! Planning reads the trees outside the transaction (sled 0.34 transactions cannot iterate),
//! under the store's write lock so no other store write can interleave; the plan is then applied
//! in ONE transaction over the blocks, the chain index, the head and the event, then the index
//! entries pointing into the range are removed in batches, and the store is flushed.

use std::ops::RangeInclusive;

use medchain_protocol::{BlockHash, ChainId, encoding};
use serde::{Deserialize, Serialize};
use sled::IVec;
use sled::transaction::{ConflictableTransactionError, Transactional};

use crate::error::{EngineResult, StoreError, bad, from_transaction};
use crate::index::IndexTree;
use crate::keys;
use crate::logs::next_seq;
use crate::open::{Store, StoreReader, name};
use crate::sweep::{HeadChange, Plan, plan};
use crate::types::{QuarantineEvent, QuarantinedBlock};

/// Upper bound on one encoded event (about 41 bytes per quarantined block plus the reason).
const MAX_EVENT_BYTES: usize = 64 << 20;

/// An event as stored in `quarantine_events` (the id is the key).
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    chain: ChainId,
    from_height: u64,
    time_ms: u64,
    reason: String,
    blocks: Vec<StoredBlock>,
    restored_at_ms: Option<u64>,
    to_height: u64,
}

/// The layout before events had an end height (stores written up to 2026-11-25): such an event
/// cut its chain from `from_height` to the head, so its range ends at its last moved block.
#[derive(Serialize, Deserialize)]
struct StoredEventBeforeRanges {
    chain: ChainId,
    from_height: u64,
    time_ms: u64,
    reason: String,
    blocks: Vec<StoredBlock>,
    restored_at_ms: Option<u64>,
}

impl From<StoredEventBeforeRanges> for StoredEvent {
    fn from(old: StoredEventBeforeRanges) -> Self {
        let last_moved = old.blocks.iter().map(|b| b.height).max();
        Self {
            to_height: last_moved.unwrap_or(old.from_height),
            chain: old.chain,
            from_height: old.from_height,
            time_ms: old.time_ms,
            reason: old.reason,
            blocks: old.blocks,
            restored_at_ms: old.restored_at_ms,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredBlock {
    height: u64,
    index_hash: BlockHash,
    bytes_present: bool,
}

impl StoredEvent {
    fn from_event(event: &QuarantineEvent) -> Self {
        Self {
            chain: event.chain,
            from_height: event.from_height,
            time_ms: event.time_ms,
            reason: event.reason.clone(),
            blocks: event
                .blocks
                .iter()
                .map(|b| StoredBlock {
                    height: b.height,
                    index_hash: b.index_hash,
                    bytes_present: b.bytes_present,
                })
                .collect(),
            restored_at_ms: event.restored_at_ms,
            to_height: event.to_height,
        }
    }

    fn into_event(self, id: u64) -> QuarantineEvent {
        QuarantineEvent {
            id,
            chain: self.chain,
            from_height: self.from_height,
            to_height: self.to_height,
            time_ms: self.time_ms,
            reason: self.reason,
            blocks: self
                .blocks
                .into_iter()
                .map(|b| QuarantinedBlock {
                    height: b.height,
                    index_hash: b.index_hash,
                    bytes_present: b.bytes_present,
                })
                .collect(),
            restored_at_ms: self.restored_at_ms,
        }
    }
}

pub(crate) fn decode_event(key: &[u8], value: &[u8]) -> Result<QuarantineEvent, StoreError> {
    let id = keys::decode_seq(key).ok_or_else(|| bad(name::QUARANTINE_EVENTS, key))?;
    // Strict decoding keeps the two layouts apart: an old event is truncated as a new one, and
    // a new one has trailing bytes as an old one.
    let stored: StoredEvent = encoding::decode(value, MAX_EVENT_BYTES)
        .or_else(|_| {
            encoding::decode::<StoredEventBeforeRanges>(value, MAX_EVENT_BYTES).map(Into::into)
        })
        .map_err(|_| bad(name::QUARANTINE_EVENTS, key))?;
    Ok(stored.into_event(id))
}

impl Store {
    /// [`Store::quarantine_range`] from `from_height` through the top of the chain.
    pub fn quarantine_from(
        &mut self,
        chain: &ChainId,
        from_height: u64,
        time_ms: u64,
        reason: &str,
    ) -> Result<QuarantineEvent, StoreError> {
        self.quarantine_range(chain, from_height..=u64::MAX, time_ms, reason)
    }

    /// Durably (flush): for every chain-index height of `chain` in `heights`, copies the raw
    /// block bytes (whatever is there, even corrupt) into the quarantine tree, removes the block
    /// from `blocks` and its chain-index entry (these, the head and the event in one
    /// transaction), then removes every records/patients/prov_down/accesses/terms entry that
    /// points at (chain, height in `heights`), in batches after the transaction: an entry left
    /// behind by a crash in between names a position whose block is not held, which reads skip
    /// and the verified block committed there again writes anew. In one transaction, removing
    /// the entries of 100 blocks of a million-record store took over a second. A head inside
    /// `heights` is set to the chain index's entry below the range (or removed if there is none,
    /// or if the range starts at 0); a head above the range is kept, and the chain then has a
    /// hole that only blocks fetched again fill. Returns the event (also stored); its
    /// `to_height` is the range's end, or the chain's top if the range reaches past it.
    ///
    /// A block that checks out and sits at its indexed height gives its index entries directly;
    /// otherwise (undecodable, mismatching, missing, or indexed at the wrong height) the five
    /// entry trees are scanned for entries of the chain in `heights`. A sound block the index
    /// wrongly names from another position outside the cut range stays in `blocks`
    /// (its bytes are still copied): it belongs to that other position; a block the index does
    /// not reach stays too (an orphan, committed again in full by a later `commit_blocks`). A
    /// head below the range is kept (a missing one is set like a cut one). Payloads
    /// and certificates are kept: they are content-addressed and may be shared with blocks that
    /// stay.
    pub fn quarantine_range(
        &mut self,
        chain: &ChainId,
        heights: RangeInclusive<u64>,
        time_ms: u64,
        reason: &str,
    ) -> Result<QuarantineEvent, StoreError> {
        let trees = self.trees();
        let id = next_seq(&trees.quarantine_events, name::QUARANTINE_EVENTS)?;
        let plan = plan(self, chain, &heights, id)?;
        let event = QuarantineEvent {
            id,
            chain: *chain,
            from_height: *heights.start(),
            to_height: plan.to_height,
            time_ms,
            reason: reason.to_string(),
            blocks: plan.moved.clone(),
            restored_at_ms: None,
        };
        let event_bytes = IVec::from(encoding::encode(&StoredEvent::from_event(&event)));
        self.apply(chain, id, &plan, &event_bytes)?;
        self.flush_now()?;
        Ok(event)
    }

    /// The moves, the head and the event in one transaction; then the index entries, outside
    /// it (see [`Store::quarantine_range`]).
    fn apply(&self, chain: &ChainId, id: u64, plan: &Plan, event: &IVec) -> Result<(), StoreError> {
        let trees = self.trees();
        let result = (
            &trees.blocks,
            &trees.chain_index,
            &trees.heads,
            &trees.quarantine,
            &trees.quarantine_events,
        )
            .transaction(
                |(blocks, chain_index, heads, quarantine, events)|
                 -> Result<(), ConflictableTransactionError<StoreError>> {
                    for (key, bytes) in &plan.quarantine_writes {
                        quarantine.insert(key.clone(), bytes.clone())?;
                    }
                    for key in &plan.block_removals {
                        blocks.remove(key.clone())?;
                    }
                    for key in &plan.chain_index_removals {
                        chain_index.remove(key.clone())?;
                    }
                    match &plan.head {
                        HeadChange::Keep => {}
                        HeadChange::Remove => {
                            heads.remove(chain.as_bytes())?;
                        }
                        HeadChange::Set(value) => {
                            heads.insert(chain.as_bytes(), value.clone())?;
                        }
                    }
                    events.insert(&keys::seq_key(id)[..], event.clone())?;
                    Ok(())
                },
            );
        from_transaction(result)?;
        for which in IndexTree::ALL {
            let keys: Vec<&IVec> = plan
                .entry_removals
                .iter()
                .filter(|(tree, _)| *tree == which)
                .map(|(_, key)| key)
                .collect();
            for chunk in keys.chunks(crate::write::MAX_WRITES_PER_TRANSACTION) {
                let mut batch = sled::Batch::default();
                for key in chunk {
                    batch.remove((*key).clone());
                }
                which.tree(trees).apply_batch(batch).engine()?;
            }
        }
        Ok(())
    }

    /// Marks an event restored (the chain was refilled with verified blocks); keeps the event
    /// and the bytes. Marking it again moves the time. An unknown event is
    /// `StoreError::Engine("no quarantine event N")`. Flushes.
    pub fn mark_restored(&mut self, event: u64, time_ms: u64) -> Result<(), StoreError> {
        let tree = &self.trees().quarantine_events;
        let key = keys::seq_key(event);
        let Some(value) = tree.get(key).engine()? else {
            return Err(StoreError::Engine(format!("no quarantine event {event}")));
        };
        let mut restored = decode_event(&key, &value)?;
        restored.restored_at_ms = Some(time_ms);
        tree.insert(key, encoding::encode(&StoredEvent::from_event(&restored)))
            .engine()?;
        self.flush_now()
    }
}

impl StoreReader {
    /// Every quarantine event, newest first. An event that does not decode is skipped, not an
    /// error: one planted or damaged value must not stop every scan and every repair (the
    /// verifier names it as a stray entry and sets it aside).
    pub fn quarantine_events(&self) -> Result<Vec<QuarantineEvent>, StoreError> {
        self.recent_quarantine_events(usize::MAX)
    }

    /// The newest `limit` quarantine events that decode, newest first (reading no further).
    pub fn recent_quarantine_events(
        &self,
        limit: usize,
    ) -> Result<Vec<QuarantineEvent>, StoreError> {
        let mut events = Vec::new();
        for item in self.trees().quarantine_events.iter().rev() {
            if events.len() >= limit {
                break;
            }
            let (key, value) = item.engine()?;
            if let Ok(event) = decode_event(&key, &value) {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Raw bytes of one quarantined block (forensics).
    pub fn quarantined_bytes(
        &self,
        event: u64,
        height: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .trees()
            .quarantine
            .get(keys::quarantine_key(event, height))
            .engine()?;
        Ok(value.map(|v| v.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    #[test]
    fn an_event_written_before_ranges_reads_back_ending_at_its_last_moved_block() {
        let old = StoredEventBeforeRanges {
            chain: ChainId([7; 32]),
            from_height: 3,
            time_ms: 11,
            reason: "entries root mismatch at height 3".into(),
            blocks: (3..6)
                .map(|height| StoredBlock {
                    height,
                    index_hash: BlockHash([1; 32]),
                    bytes_present: true,
                })
                .collect(),
            restored_at_ms: None,
        };
        let key = keys::seq_key(4);
        let event = decode_event(&key, &encoding::encode(&old)).unwrap();
        assert_eq!((event.id, event.from_height, event.to_height), (4, 3, 5));
        assert_eq!(event.blocks.len(), 3);
        // A current event round-trips, end height included.
        let again = encoding::encode(&StoredEvent::from_event(&event));
        assert_eq!(decode_event(&key, &again).unwrap(), event);
        // Bytes that are neither layout are a corrupt store, not a silently skipped event.
        assert!(decode_event(&key, &again[..again.len() - 2]).is_err());
    }
}
