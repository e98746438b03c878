//! Migration of schema version 3 (payloads in sled's `payloads` tree) to 4 (payloads in
//! segments): run when such a store opens, before anything else reads it.
//!
//! The payloads move in chunks: appended to the segments and synced, their locations written
//! and their old entries removed, then one flush per chunk. A crash leaves version 3 in place
//! and the rest of the old tree to move at the next start; a payload whose location reached the
//! disk is not moved again, and one whose location did not is (its first copy is then unindexed
//! bytes in a segment, never read). Bytes move as
//! they are, under the key they were stored under: a damaged payload stays damaged and the
//! verifier finds it as before. Entries whose key is not a payload hash are left in the old
//! tree, which is then kept (never read again) rather than dropped, so nothing is lost.

use medchain_protocol::PayloadHash;
use sled::IVec;

use crate::error::{EngineResult, StoreError};
use crate::open::Store;

/// The tree schema version 3 kept payloads in.
const OLD_TREE: &[u8] = b"payloads";
/// Most payloads moved per flush.
const CHUNK: usize = 256;
/// Most payload bytes moved per flush (payloads reach 8 MiB each).
const CHUNK_BYTES: usize = 16 << 20;

impl Store {
    /// Moves every payload out of the old `payloads` tree, if there is one; returns how many.
    pub(crate) fn migrate_payload_tree(&mut self) -> Result<u64, StoreError> {
        let db = self.inner.db.clone();
        if !db.tree_names().iter().any(|name| name == OLD_TREE) {
            return Ok(0);
        }
        let old = db.open_tree(OLD_TREE).engine()?;
        let mut moved = 0u64;
        let mut left_behind = false;
        let mut after: Option<IVec> = None;
        loop {
            let range = match &after {
                Some(key) => old.range::<&[u8], _>((
                    std::ops::Bound::Excluded(key.as_ref()),
                    std::ops::Bound::Unbounded,
                )),
                None => old.iter(),
            };
            let mut chunk: Vec<(IVec, IVec)> = Vec::new();
            let mut bytes = 0;
            for item in range {
                let (key, value) = item.engine()?;
                bytes += value.len();
                chunk.push((key, value));
                if chunk.len() >= CHUNK || bytes >= CHUNK_BYTES {
                    break;
                }
            }
            let Some((last, _)) = chunk.last() else {
                break;
            };
            after = Some(last.clone());
            let mut payloads: Vec<(PayloadHash, &[u8])> = Vec::with_capacity(chunk.len());
            let mut removed = sled::Batch::default();
            for (key, value) in &chunk {
                match crate::keys::hash32(key) {
                    Some(hash) => {
                        // Moved already by a run a crash cut short after its locations reached
                        // the disk but before the old entries' removal did: not copied twice.
                        if !self.has_payload(&PayloadHash(hash))? {
                            payloads.push((PayloadHash(hash), value.as_ref()));
                        }
                        removed.remove(key.clone());
                    }
                    None => left_behind = true,
                }
            }
            self.append_payloads(&payloads)?;
            old.apply_batch(removed).engine()?;
            self.flush_now()?;
            moved += payloads.len() as u64;
        }
        if !left_behind {
            db.drop_tree(OLD_TREE).engine()?;
            self.flush_now()?;
        }
        Ok(moved)
    }
}
