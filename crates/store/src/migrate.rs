//! Migrations of older store layouts, run when a store is opened.
//!
//! - Version 1 to 2 (2026-11-27): access entries (audited reads) get an index of their own,
//!   `accesses[record ‖ at]`, and leave `records`, `patients`, `prov_up` and `prov_down`, so a
//!   record read a million times reads back as fast as one read once. One pass over every
//!   indexed block: each access entry's old keys are removed and its new key written, in
//!   batches. A crash in between leaves version 1, and the pass runs again (removing what is
//!   gone and writing what is there is harmless). Blocks that do not read back are left alone:
//!   the verifier finds them.

use medchain_protocol::EntryKind;
use sled::IVec;

use crate::error::{EngineResult, StoreError};
use crate::keys;
use crate::open::Trees;
use crate::read::checked_block;

/// Most keys written or removed in one batch.
const BATCH: usize = 256;

/// Moves every access entry's index keys to `accesses` (version 1 to 2).
pub(crate) fn access_index(trees: &Trees) -> Result<(), StoreError> {
    let mut removals: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut accesses: Vec<Vec<u8>> = Vec::new();
    for item in trees.chain_index.iter() {
        let (key, value) = item.engine()?;
        let (Some((chain, height)), Some(hash)) =
            (keys::decode_height_key(&key), keys::hash32(&value))
        else {
            continue;
        };
        let Some(raw) = trees.blocks.get(hash).engine()? else {
            continue;
        };
        let Ok(block) = checked_block(&medchain_protocol::BlockHash(hash), &raw) else {
            continue;
        };
        if block.header.chain != chain || block.header.height != height {
            continue;
        }
        for (index, entry) in (0u32..).zip(&block.entries) {
            if entry.kind != EntryKind::Access {
                continue;
            }
            let at = block.entry_ref(index);
            removals.push(("records", keys::record_key(&entry.record, &at)));
            removals.push(("patients", keys::patient_key(&entry.patient, &at)));
            for parent in &entry.parents {
                removals.push(("prov_up", keys::prov_up_key(&at, parent)));
                removals.push(("prov_down", keys::prov_down_key(parent, &at)));
            }
            accesses.push(keys::record_key(&entry.record, &at));
        }
        if removals.len() + accesses.len() >= BATCH {
            apply(trees, &mut removals, &mut accesses)?;
        }
    }
    apply(trees, &mut removals, &mut accesses)
}

fn apply(
    trees: &Trees,
    removals: &mut Vec<(&'static str, Vec<u8>)>,
    accesses: &mut Vec<Vec<u8>>,
) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    for key in accesses.drain(..) {
        batch.insert(key, IVec::default());
    }
    trees.accesses.apply_batch(batch).engine()?;
    for (tree, key) in removals.drain(..) {
        trees.by_name(tree).remove(key).engine()?;
    }
    Ok(())
}
