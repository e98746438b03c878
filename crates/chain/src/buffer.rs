//! The out-of-order buffer: signed blocks that arrived ahead of a gap wait here, bounded.
//!
//! A block whose certificate we know is buffered only after its certificate and signature
//! checked out, so for chains we hold a peer cannot fill the buffer with junk. A block of a chain
//! whose genesis (with the certificate) has not arrived yet can only be structure-checked; it is
//! buffered as [`Pending::Unverified`] and fully checked when its predecessor arrives. The bound
//! is global and per chain; when full, new early blocks are refused (Ignore) and come again by
//! range sync once the gap is filled.

use std::collections::BTreeMap;

use medchain_protocol::ChainId;

use crate::validate::{Signed, Structured};

/// A block waiting for its predecessor.
#[derive(Debug)]
pub enum Pending {
    /// Certificate and signature already checked.
    Signed(Signed),
    /// Only the structure is checked: its certificate arrives with an earlier block.
    Unverified(Structured),
}

impl Pending {
    fn block(&self) -> &medchain_protocol::Block {
        match self {
            Pending::Signed(s) => s.block(),
            Pending::Unverified(s) => s.block(),
        }
    }
}

/// Most blocks waiting in total.
pub const MAX_BUFFERED_BLOCKS: usize = 4096;
/// Most blocks waiting for one chain.
pub const MAX_BUFFERED_PER_CHAIN: usize = 1024;

/// Blocks waiting for their predecessors, by (chain, height).
#[derive(Debug, Default)]
pub struct OutOfOrder {
    waiting: BTreeMap<(ChainId, u64), Pending>,
}

impl OutOfOrder {
    /// Adds a block; false if the buffer (or the chain's share of it) is full. A second block
    /// for the same position replaces nothing: the first stays (equivocation is judged when it
    /// is applied).
    pub fn insert(&mut self, block: Pending) -> bool {
        let header = &block.block().header;
        let key = (header.chain, header.height);
        let chain = header.chain;
        if self.waiting.contains_key(&key) {
            return true;
        }
        if self.waiting.len() >= MAX_BUFFERED_BLOCKS || self.count(&chain) >= MAX_BUFFERED_PER_CHAIN
        {
            return false;
        }
        self.waiting.insert(key, block);
        true
    }

    /// Takes the block waiting at (chain, height), if any.
    pub fn take(&mut self, chain: &ChainId, height: u64) -> Option<Pending> {
        self.waiting.remove(&(*chain, height))
    }

    /// Drops every waiting block of `chain` at or below `height` (now held or superseded).
    pub fn drop_through(&mut self, chain: &ChainId, height: u64) {
        self.waiting.retain(|(c, h), _| c != chain || *h > height);
    }

    /// Blocks waiting for `chain`.
    pub fn count(&self, chain: &ChainId) -> usize {
        self.waiting.range((*chain, 0)..=(*chain, u64::MAX)).count()
    }

    /// Blocks waiting in total.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The lowest waiting height of each chain: what range requests should reach.
    pub fn lowest_waiting(&self) -> Vec<(ChainId, u64)> {
        let mut out: Vec<(ChainId, u64)> = Vec::new();
        for (chain, height) in self.waiting.keys() {
            if out.last().is_none_or(|(c, _)| c != chain) {
                out.push((*chain, *height));
            }
        }
        out
    }
}
