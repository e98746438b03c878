//! Ordered passes for the verifier: checking a store of a million entries point by point (four
//! index lookups and a payload read per entry) spent most of its time paging sled nodes in and
//! out. These check the same facts with one ordered pass per tree instead.
//!
//! - Index completeness: a keyed, order-independent digest (a sum of keyed hashes) of every key
//!   the scanned blocks imply, against the same digest of every key the entry index trees hold.
//!   The keys are fresh random ones for each scan, so no stored data can be crafted to make a
//!   missing key and an extra one cancel. Equal digests: the index trees hold exactly the implied
//!   keys. Different: something is missing or extra, and the point-by-point check names it.
//! - Payloads (`crate::payloads`, `check_payloads_in_order`): the referenced (hash, length)
//!   pairs, sorted, merged with one ordered pass over `payload_index`, then the frames read in
//!   segment order; each referenced payload is re-hashed against its address and its length
//!   checked; unreferenced ones are skipped.

use std::hash::{BuildHasher, RandomState};

use medchain_protocol::Block;

use crate::error::{EngineResult, StoreError};
use crate::index::{IndexTree, implied};
use crate::open::StoreReader;

/// The keyed digest of a set of index keys.
#[derive(Debug)]
pub struct IndexDigest {
    low: RandomState,
    high: RandomState,
    sum: u128,
}

impl Default for IndexDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl IndexDigest {
    /// An empty digest under fresh random keys.
    pub fn new() -> Self {
        Self {
            low: RandomState::new(),
            high: RandomState::new(),
            sum: 0,
        }
    }

    /// An empty digest under the same keys (to compare with this one).
    pub fn same_keys(&self) -> Self {
        Self {
            low: self.low.clone(),
            high: self.high.clone(),
            sum: 0,
        }
    }

    fn add(&mut self, tree: IndexTree, key: &[u8]) {
        let tag = tree as u8;
        let low = self.low.hash_one((tag, key));
        let high = self.high.hash_one((tag, key));
        self.sum = self
            .sum
            .wrapping_add((u128::from(high) << 64) | u128::from(low));
    }

    /// Adds every index key `block` implies. A structurally valid block implies each key once
    /// (every key names its entry, and an entry's parents are distinct); a block that repeated
    /// one would only make the digests differ, and the point-by-point scan then runs.
    pub fn add_block(&mut self, block: &Block) {
        for item in implied(block) {
            self.add(item.tree, &item.key);
        }
    }

    /// Whether two digests (under the same keys) cover the same keys.
    pub fn matches(&self, other: &IndexDigest) -> bool {
        self.sum == other.sum
    }
}

impl StoreReader {
    /// The digest of every key in the entry-index trees, under `keys`' keys: one ordered
    /// pass over each tree.
    pub fn index_digest(&self, keys: &IndexDigest) -> Result<IndexDigest, StoreError> {
        let mut digest = keys.same_keys();
        for tree in IndexTree::ALL {
            for key in tree.tree(self.trees()).iter().keys() {
                digest.add(tree, &key.engine()?);
            }
        }
        Ok(digest)
    }
}
