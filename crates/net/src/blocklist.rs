//! The record of blocked peers: bounded and expiring.
//!
//! libp2p's `allow_block_list` keeps every blocked PeerId forever, and anyone can mint fresh
//! PeerIds that fail the hello and get blocked. This record says which peers are blocked and
//! until when; the event loop mirrors it into the libp2p block list, unblocking a peer when its
//! block expires or when it is evicted to make room (oldest first). A peer refused again after
//! its block ended is simply blocked again: a block protects the node for a while, it is not
//! the membership decision (the hello is).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use libp2p::PeerId;

/// Blocked peers and when their blocks end, at most `capacity` of them.
#[derive(Debug)]
pub struct BlockRecord {
    capacity: usize,
    /// Each blocked peer's key in `by_end`.
    peers: HashMap<PeerId, (Instant, u64)>,
    /// Blocks by end, then by order of blocking (so equal ends stay distinct): the first entry
    /// ends soonest and, every block lasting the same time, is also the oldest.
    by_end: BTreeMap<(Instant, u64), PeerId>,
    /// Order of the next block.
    next: u64,
}

impl BlockRecord {
    /// An empty record holding at most `capacity` blocks (at least one).
    pub fn new(capacity: usize) -> Self {
        BlockRecord {
            capacity: capacity.max(1),
            peers: HashMap::new(),
            by_end: BTreeMap::new(),
            next: 0,
        }
    }

    /// Blocks `peer` until `until` (a peer blocked again gets the new end). Returns the peer
    /// evicted to make room, which the caller must unblock, if the record was full.
    pub fn block(&mut self, peer: PeerId, until: Instant) -> Option<PeerId> {
        if let Some(key) = self.peers.remove(&peer) {
            self.by_end.remove(&key);
        }
        let evicted = if self.peers.len() >= self.capacity {
            self.by_end.pop_first().map(|(_, oldest)| {
                self.peers.remove(&oldest);
                oldest
            })
        } else {
            None
        };
        let key = (until, self.next);
        self.next = self.next.wrapping_add(1);
        self.peers.insert(peer, key);
        self.by_end.insert(key, peer);
        evicted
    }

    /// Removes and returns the peers whose block has ended by `now`; the caller unblocks them.
    pub fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let mut expired = Vec::new();
        while let Some(entry) = self.by_end.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let peer = entry.remove();
            self.peers.remove(&peer);
            expired.push(peer);
        }
        expired
    }

    /// Whether `peer` is blocked.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Blocked peers, the soonest to be unblocked first.
    pub fn peers(&self) -> Vec<PeerId> {
        self.by_end.values().copied().collect()
    }

    /// How many peers are blocked.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is blocked.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_oldest_block_is_evicted_when_full() {
        let now = Instant::now();
        let mut record = BlockRecord::new(2);
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        assert_eq!(record.block(peers[0], now), None);
        assert_eq!(record.block(peers[1], now), None);
        assert_eq!(record.block(peers[2], now), Some(peers[0]));
        assert_eq!(record.len(), 2);
        assert!(!record.contains(&peers[0]));
        // Blocking a blocked peer again does not evict anyone.
        assert_eq!(record.block(peers[1], now), None);
        assert_eq!(record.peers(), vec![peers[2], peers[1]]);
    }

    #[test]
    fn blocks_expire_in_order() {
        let now = Instant::now();
        let s = Duration::from_secs(1);
        let mut record = BlockRecord::new(10);
        let a = PeerId::random();
        let b = PeerId::random();
        record.block(a, now + s);
        record.block(b, now + 2 * s);
        assert!(record.expired(now).is_empty());
        assert_eq!(record.expired(now + s), vec![a]);
        // Blocked again: the new end counts.
        record.block(b, now + 3 * s);
        assert!(record.expired(now + 2 * s).is_empty());
        assert_eq!(record.expired(now + 3 * s), vec![b]);
        assert!(record.is_empty());
    }
}
