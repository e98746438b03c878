//! The out-of-order buffer: blocks that arrived ahead of a gap wait here, bounded every way a
//! member gone rogue could push on it.
//!
//! A block whose certificate we know is buffered only after its certificate and signature
//! checked out, so for chains we hold a peer cannot fill the buffer with junk. A block of a chain
//! whose genesis (with the certificate) has not arrived yet can only be structure-checked; it is
//! buffered as [`Pending::Unverified`] and fully checked when its predecessor arrives, under the
//! admission it arrived with: a new block (gossip, `POST /v1/blocks`) stays new, so a revoked
//! key's new block can never enter as history.
//!
//! Bounds: blocks in all and per chain, bytes in all, blocks and bytes per origin (the peer or
//! door it came through, so one sender cannot take everyone's room), and a time to live (a gap
//! nobody fills does not pin memory). When a bound is reached, new early blocks are refused
//! (Ignore) and come again by range sync once the gap is filled.

use std::collections::{BTreeMap, HashMap};

use medchain_protocol::ChainId;

use crate::validate::{Admission, Signed, Structured};

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

    fn size(&self) -> usize {
        match self {
            Pending::Signed(s) => s.size(),
            Pending::Unverified(s) => s.size(),
        }
    }
}

/// Who a block came through: a hash of the relaying peer (or of the door, for the API), chosen
/// by the caller. Quotas are kept per origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(pub u64);

impl Origin {
    /// The origin named by `name` (a peer ID, `api:/v1/blocks`), as a stable hash.
    pub fn named(name: &str) -> Self {
        use std::hash::{DefaultHasher, Hash, Hasher};
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        Origin(hasher.finish())
    }
}

/// A buffered block with what it was admitted as, where it came from, and when.
#[derive(Debug)]
pub struct Waiting {
    /// The block.
    pub pending: Pending,
    /// The certificate rule it is judged by when it is released.
    pub admission: Admission,
    /// Who sent it.
    pub origin: Origin,
    /// When it arrived, ms since the epoch.
    pub since_ms: u64,
}

/// Most blocks waiting in total.
pub const MAX_BUFFERED_BLOCKS: usize = 4096;
/// Most blocks waiting for one chain.
pub const MAX_BUFFERED_PER_CHAIN: usize = 1024;
/// Most bytes waiting in total (blocks with their inline payloads, as received).
pub const MAX_BUFFERED_BYTES: usize = 128 << 20;
/// Most blocks one origin may have waiting.
pub const MAX_BUFFERED_PER_ORIGIN: usize = 1024;
/// Most bytes one origin may have waiting.
pub const MAX_BUFFERED_BYTES_PER_ORIGIN: usize = 32 << 20;
/// How long a block waits for its gap to be filled before it is dropped (it comes again by
/// range sync when the gap is filled).
pub const BUFFER_TTL_MS: u64 = 120_000;

/// Why a block was not buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The buffer (blocks or bytes) is full.
    Total,
    /// The chain's share is full.
    Chain,
    /// The sender's share is full.
    Origin,
}

/// Blocks waiting for their predecessors, by (chain, height).
#[derive(Debug, Default)]
pub struct OutOfOrder {
    waiting: BTreeMap<(ChainId, u64), (Waiting, usize)>,
    per_origin: HashMap<Origin, (usize, usize)>,
    bytes: usize,
}

impl OutOfOrder {
    /// Adds a block (first dropping what has waited past [`BUFFER_TTL_MS`]); whether it was
    /// added. A second block for the same position replaces nothing: the first stays
    /// (equivocation is judged when it is applied), and `false` says so, so that the sender is
    /// not rewarded for it (no fetch of the gap on its word a second time).
    pub fn insert(&mut self, waiting: Waiting, now_ms: u64) -> Result<bool, Full> {
        self.expire(now_ms);
        let header = &waiting.pending.block().header;
        let key = (header.chain, header.height);
        if self.waiting.contains_key(&key) {
            return Ok(false);
        }
        let size = waiting.pending.size();
        if self.waiting.len() >= MAX_BUFFERED_BLOCKS || self.bytes + size > MAX_BUFFERED_BYTES {
            return Err(Full::Total);
        }
        if self.count(&header.chain) >= MAX_BUFFERED_PER_CHAIN {
            return Err(Full::Chain);
        }
        let (blocks, bytes) = self
            .per_origin
            .get(&waiting.origin)
            .copied()
            .unwrap_or((0, 0));
        if blocks >= MAX_BUFFERED_PER_ORIGIN || bytes + size > MAX_BUFFERED_BYTES_PER_ORIGIN {
            return Err(Full::Origin);
        }
        self.per_origin
            .insert(waiting.origin, (blocks + 1, bytes + size));
        self.bytes += size;
        self.waiting.insert(key, (waiting, size));
        Ok(true)
    }

    /// Takes the block waiting at (chain, height), if any (and not expired at `now_ms`).
    pub fn take(&mut self, chain: &ChainId, height: u64, now_ms: u64) -> Option<Waiting> {
        let (waiting, size) = self.waiting.remove(&(*chain, height))?;
        self.forget(waiting.origin, size);
        (now_ms.saturating_sub(waiting.since_ms) <= BUFFER_TTL_MS).then_some(waiting)
    }

    /// Drops every waiting block of `chain` at or below `height` (now held or superseded).
    pub fn drop_through(&mut self, chain: &ChainId, height: u64) {
        let gone: Vec<(ChainId, u64)> = self
            .waiting
            .range((*chain, 0)..=(*chain, height))
            .map(|(key, _)| *key)
            .collect();
        for key in gone {
            if let Some((waiting, size)) = self.waiting.remove(&key) {
                self.forget(waiting.origin, size);
            }
        }
    }

    /// Drops every block that has waited past [`BUFFER_TTL_MS`].
    pub fn expire(&mut self, now_ms: u64) {
        let old: Vec<(ChainId, u64)> = self
            .waiting
            .iter()
            .filter(|(_, (w, _))| now_ms.saturating_sub(w.since_ms) > BUFFER_TTL_MS)
            .map(|(key, _)| *key)
            .collect();
        for key in old {
            if let Some((waiting, size)) = self.waiting.remove(&key) {
                self.forget(waiting.origin, size);
            }
        }
    }

    fn forget(&mut self, origin: Origin, size: usize) {
        self.bytes = self.bytes.saturating_sub(size);
        if let Some((blocks, bytes)) = self.per_origin.get_mut(&origin) {
            *blocks = blocks.saturating_sub(1);
            *bytes = bytes.saturating_sub(size);
            if *blocks == 0 {
                self.per_origin.remove(&origin);
            }
        }
    }

    /// Blocks waiting for `chain`.
    pub fn count(&self, chain: &ChainId) -> usize {
        self.waiting.range((*chain, 0)..=(*chain, u64::MAX)).count()
    }

    /// Blocks waiting in total.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Bytes waiting in total.
    pub fn bytes(&self) -> usize {
        self.bytes
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
