//! Planning a quarantine: which bytes to copy, which keys to remove, what the head becomes.
//!
//! All reads happen here, before the transaction, because sled 0.34 transactions cannot
//! iterate. A block in the cut range that decodes and sits where the index says gives the index
//! entries to remove (by position: each implied key names that position). When a block cannot
//! name its entries (it does not decode, is missing, or is a sound block from another position
//! than the index says), the entry trees are swept: every key pointing at the chain inside the
//! cut range is removed.

use std::ops::RangeInclusive;

use medchain_protocol::{Block, BlockHash, ChainId};
use sled::IVec;

use crate::error::{Corruption, EngineResult, StoreError};
use crate::index::{IndexTree, implied};
use crate::keys;
use crate::open::{StoreReader, Trees};
use crate::read::checked_block;
use crate::types::QuarantinedBlock;

/// What happens to the chain's head.
pub(crate) enum HeadChange {
    /// It stays as it is (the cut is above it).
    Keep,
    /// No block of the chain is left.
    Remove,
    /// It becomes this head value: the highest block the index holds outside the cut, never
    /// above the old head.
    Set(IVec),
}

/// Everything a quarantine writes, computed outside the transaction.
pub(crate) struct Plan {
    pub(crate) moved: Vec<QuarantinedBlock>,
    pub(crate) quarantine_writes: Vec<(IVec, IVec)>,
    pub(crate) block_removals: Vec<IVec>,
    pub(crate) chain_index_removals: Vec<IVec>,
    pub(crate) entry_removals: Vec<(IndexTree, IVec)>,
    pub(crate) head: HeadChange,
    /// The range's end, or the chain's top if the range reaches past it.
    pub(crate) to_height: u64,
}

/// Plans quarantine event `id`: the `heights` of `chain`. The caller holds the write lock.
pub(crate) fn plan(
    store: &StoreReader,
    chain: &ChainId,
    heights: &RangeInclusive<u64>,
    id: u64,
) -> Result<Plan, StoreError> {
    let trees = store.trees();
    let (from, to) = (*heights.start(), *heights.end());
    let current_head = trees
        .heads
        .get(chain.as_bytes())
        .engine()?
        .as_deref()
        .and_then(keys::decode_head_value);
    // The range ends at the chain index's top at most: a head record naming a height far above
    // anything held must not make an event that can never be restored.
    let top = highest_indexed(trees, chain, 0..=u64::MAX, heights)?
        .map(|(height, _)| height)
        .into_iter()
        .chain(last_indexed_in(trees, chain, heights)?)
        .max();
    let mut plan = Plan {
        moved: Vec::new(),
        quarantine_writes: Vec::new(),
        block_removals: Vec::new(),
        chain_index_removals: Vec::new(),
        entry_removals: Vec::new(),
        head: head_change(trees, chain, current_head, heights)?,
        to_height: to.min(top.unwrap_or(from).max(from)),
    };
    let mut sweep_needed = false;
    let range = keys::height_key(chain, from)..=keys::height_key(chain, to);
    for item in trees.chain_index.range(range) {
        let (key, value) = item.engine()?;
        if !key.starts_with(chain.as_bytes()) {
            break;
        }
        plan.chain_index_removals.push(key.clone());
        // A key of the wrong length under this chain's prefix is garbage: removed, not listed.
        let Some((_, height)) = keys::decode_height_key(&key) else {
            continue;
        };
        let Some(hash) = keys::hash32(&value).map(BlockHash) else {
            sweep_needed = true;
            plan.moved.push(QuarantinedBlock {
                height,
                index_hash: BlockHash::ZERO,
                bytes_present: false,
            });
            continue;
        };
        let raw = trees.blocks.get(hash.as_bytes()).engine()?;
        plan.moved.push(QuarantinedBlock {
            height,
            index_hash: hash,
            bytes_present: raw.is_some(),
        });
        let Some(raw) = raw else {
            sweep_needed = true;
            continue;
        };
        plan.quarantine_writes.push((
            IVec::from(&keys::quarantine_key(id, height)[..]),
            raw.clone(),
        ));
        // A block that decodes and says it is this position names its own index entries, even
        // when it fails its checks: every key those entries imply points at this position, so
        // removing them is removing by position. Keys of the original entries that a tampered
        // entry no longer names stay until the verified block is committed here again, which
        // writes exactly those keys; meanwhile reads skip them (the block is not held). Sweeping
        // the entry trees instead costs a pass over every record (seconds at a million records).
        let checked = checked_block(&hash, &raw);
        let sound = checked.is_ok();
        let decoded = match checked {
            Ok(block) => Some(block),
            Err(Corruption::BlockHashMismatch { .. } | Corruption::EntriesRootMismatch { .. }) => {
                Block::decode(&raw).ok()
            }
            Err(_) => None,
        };
        match decoded {
            Some(block) if block.header.chain == *chain && block.header.height == height => {
                plan.block_removals.push(IVec::from(&hash.as_bytes()[..]));
                plan.entry_removals.extend(
                    implied(&block)
                        .into_iter()
                        .map(|entry| (entry.tree, IVec::from(entry.key))),
                );
            }
            Some(block) if sound => {
                // A sound block from another position: the block that belonged here is unknown.
                sweep_needed = true;
                let inside_cut =
                    block.header.chain == *chain && heights.contains(&block.header.height);
                if inside_cut {
                    plan.block_removals.push(IVec::from(&hash.as_bytes()[..]));
                }
            }
            _ => {
                sweep_needed = true;
                plan.block_removals.push(IVec::from(&hash.as_bytes()[..]));
            }
        }
    }
    if sweep_needed {
        plan.entry_removals.extend(sweep(trees, chain, heights)?);
    }
    Ok(plan)
}

/// The head after the cut: kept if it is outside the cut and the chain index holds its block;
/// otherwise the highest height the index holds outside the cut and not above the head (below
/// the cut if there is no head). Never raised: blocks the index names above the head were not
/// verified by the scan that led here. The cut may lie above an open hole, so the height right
/// below the cut is not enough.
fn head_change(
    trees: &Trees,
    chain: &ChainId,
    current: Option<(u64, BlockHash)>,
    heights: &RangeInclusive<u64>,
) -> Result<HeadChange, StoreError> {
    let limit = match current {
        Some((height, hash)) => {
            let indexed = trees
                .chain_index
                .get(keys::height_key(chain, height))
                .engine()?;
            let held = indexed.as_deref().and_then(keys::hash32) == Some(hash.0);
            if !heights.contains(&height) && held {
                return Ok(HeadChange::Keep);
            }
            height
        }
        None => match heights.start().checked_sub(1) {
            Some(below) => below,
            None => return Ok(HeadChange::Remove),
        },
    };
    Ok(match highest_indexed(trees, chain, 0..=limit, heights)? {
        Some((height, hash)) => HeadChange::Set(IVec::from(&keys::head_value(height, &hash)[..])),
        None => HeadChange::Remove,
    })
}

/// The highest chain-index entry of `chain` within `within` and outside `cut` (keys whose value
/// is not a hash are passed over).
fn highest_indexed(
    trees: &Trees,
    chain: &ChainId,
    within: RangeInclusive<u64>,
    cut: &RangeInclusive<u64>,
) -> Result<Option<(u64, BlockHash)>, StoreError> {
    let (low, high) = (*within.start(), *within.end());
    // Above the cut first, then below it: the cut itself is skipped without walking it.
    let mut spans = Vec::new();
    if high > *cut.end() {
        spans.push((low.max(cut.end().saturating_add(1)), high));
    }
    if let Some(below) = cut.start().checked_sub(1) {
        spans.push((low, high.min(below)));
    }
    for (start, end) in spans {
        if start > end {
            continue;
        }
        let range = keys::height_key(chain, start)..=keys::height_key(chain, end);
        for item in trees.chain_index.range(range).rev() {
            let (key, value) = item.engine()?;
            if let (Some((_, height)), Some(hash)) =
                (keys::decode_height_key(&key), keys::hash32(&value))
            {
                return Ok(Some((height, BlockHash(hash))));
            }
        }
    }
    Ok(None)
}

/// The highest height the chain index holds inside `cut`.
fn last_indexed_in(
    trees: &Trees,
    chain: &ChainId,
    cut: &RangeInclusive<u64>,
) -> Result<Option<u64>, StoreError> {
    let range = keys::height_key(chain, *cut.start())..=keys::height_key(chain, *cut.end());
    match trees.chain_index.range(range).next_back() {
        Some(item) => {
            let (key, _) = item.engine()?;
            Ok(keys::decode_height_key(&key).map(|(_, height)| height))
        }
        None => Ok(None),
    }
}

/// Every key of the entry trees pointing at `chain` at a height in `heights`. They are keyed by
/// record, patient or parent first, so each is scanned whole.
fn sweep(
    trees: &Trees,
    chain: &ChainId,
    heights: &RangeInclusive<u64>,
) -> Result<Vec<(IndexTree, IVec)>, StoreError> {
    let mut found = Vec::new();
    for which in IndexTree::ALL {
        let tree = which.tree(trees);
        for item in tree.iter() {
            let (key, _) = item.engine()?;
            let Some(at) = which.entry_of(&key) else {
                continue;
            };
            if at.chain == *chain && heights.contains(&at.height) {
                found.push((which, key));
            }
        }
    }
    Ok(found)
}
