//! Who fetches what, and on whose word: the bounds on the fetches peers can make us start.
//!
//! - One fetch per chain at a time ([`ChainFetches`]): several peers' rounds (and gossip gaps)
//!   fetching the same range at once would cost as many copies of it. Anti-entropy waits its
//!   turn; a gap from gossip is not fetched while a fetch of its chain runs (that fetch, or the
//!   next round, fills it).
//! - Gaps shown by gossip ([`GapFetches`]): a block that must wait for earlier heights makes us
//!   fetch them from the peer that relayed it, on that peer's word alone. A member gone rogue can
//!   gossip such blocks by the hundred a second (made-up chains, one position resent with new
//!   bytes), so each peer starts at most [`MAX_GAP_FETCHES_PER_WINDOW`] such fetches per
//!   [`GAP_WINDOW`], and none of a chain it recently gave nothing valid of.
//! - Unproductive claims ([`Unproductive`]): a (peer, chain) whose claim gave nothing valid is not
//!   asked again for a while: [`UNPRODUCTIVE_FOR`] for a chain we do not hold (made up, most
//!   likely), [`UNPRODUCTIVE_HELD_FOR`] for one we hold (an honest peer may have failed once;
//!   other peers and gossip carry the chain meanwhile).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medchain_chain::Gap;
use medchain_net::PeerId;
use medchain_protocol::ChainId;
use tokio::sync::OwnedMutexGuard;
use tracing::debug;

use super::network::{ANTI_ENTROPY_SECS, Glue, lock};

/// Gap fetches one peer's gossip may start per [`GAP_WINDOW`].
pub const MAX_GAP_FETCHES_PER_WINDOW: u32 = 8;
/// The window of [`MAX_GAP_FETCHES_PER_WINDOW`]: one anti-entropy interval.
pub const GAP_WINDOW: Duration = Duration::from_secs(ANTI_ENTROPY_SECS);
/// How long a peer that gave nothing valid of a chain we do not hold is not asked for it.
pub const UNPRODUCTIVE_FOR: Duration = Duration::from_secs(600);
/// How long a peer that gave nothing valid above our copy of a chain we hold is not asked.
pub const UNPRODUCTIVE_HELD_FOR: Duration = Duration::from_secs(60);
/// Most peers, or (peer, chain) pairs, remembered by each of these memories.
const MAX_REMEMBERED: usize = 4096;
/// Idle per-chain locks kept before they are swept.
const MAX_IDLE_CHAIN_LOCKS: usize = 256;

/// One fetch per chain at a time.
#[derive(Debug, Default)]
pub struct ChainFetches {
    locks: HashMap<ChainId, Arc<tokio::sync::Mutex<()>>>,
}

impl ChainFetches {
    fn lock_of(&mut self, chain: ChainId) -> Arc<tokio::sync::Mutex<()>> {
        if self.locks.len() >= MAX_IDLE_CHAIN_LOCKS {
            // A lock nobody holds or waits for is only the map's.
            self.locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        self.locks.entry(chain).or_default().clone()
    }
}

/// Gap fetches started per peer in the current window.
#[derive(Debug, Default)]
pub struct GapFetches {
    per_peer: HashMap<PeerId, (Instant, u32)>,
}

impl GapFetches {
    /// Whether `peer` may start one more gap fetch at `now` (counted if so).
    fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.per_peer.len() >= MAX_REMEMBERED && !self.per_peer.contains_key(&peer) {
            self.per_peer
                .retain(|_, (start, _)| now.duration_since(*start) < GAP_WINDOW);
            if self.per_peer.len() >= MAX_REMEMBERED {
                return false;
            }
        }
        let (start, count) = self.per_peer.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= GAP_WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= MAX_GAP_FETCHES_PER_WINDOW {
            return false;
        }
        *count += 1;
        true
    }
}

/// (peer, chain) pairs whose claim gave nothing valid, until when they are not asked again.
#[derive(Debug, Default)]
pub struct Unproductive {
    until: HashMap<(PeerId, ChainId), Instant>,
}

impl Unproductive {
    fn note(&mut self, peer: PeerId, chain: ChainId, for_: Duration) {
        let now = Instant::now();
        if self.until.len() >= MAX_REMEMBERED {
            self.until.retain(|_, until| *until > now);
            if self.until.len() >= MAX_REMEMBERED {
                self.until.clear();
            }
        }
        self.until.insert((peer, chain), now + for_);
    }

    fn holds(&self, peer: PeerId, chain: ChainId) -> bool {
        self.until
            .get(&(peer, chain))
            .is_some_and(|until| *until > Instant::now())
    }
}

impl Glue {
    /// Waits for this chain's fetch turn; the guard is the turn.
    pub(super) async fn chain_turn(&self, chain: ChainId) -> OwnedMutexGuard<()> {
        let lock = lock(&self.fetches).lock_of(chain);
        lock.lock_owned().await
    }

    /// This chain's fetch turn if no fetch of it runs now.
    pub(super) fn try_chain_turn(&self, chain: ChainId) -> Option<OwnedMutexGuard<()>> {
        let lock = lock(&self.fetches).lock_of(chain);
        lock.try_lock_owned().ok()
    }

    /// Whether `peer` recently gave nothing valid of a claim of `chain`.
    pub(super) fn recently_unproductive(&self, peer: PeerId, chain: ChainId) -> bool {
        lock(&self.unproductive).holds(peer, chain)
    }

    /// Remembers (bounded) that `peer` gave nothing valid of its claim of `chain`.
    pub(super) fn note_unproductive(&self, peer: PeerId, chain: ChainId, held: bool) {
        let for_ = if held {
            UNPRODUCTIVE_HELD_FOR
        } else {
            UNPRODUCTIVE_FOR
        };
        lock(&self.unproductive).note(peer, chain, for_);
    }

    /// Fetches the heights `gap` says are missing from `peer`, which gossiped a block after them,
    /// if that peer's share of gap fetches allows and no fetch of the chain runs.
    pub(super) fn fetch_gap(&self, peer: PeerId, gap: Gap) {
        if self.recently_unproductive(peer, gap.chain) {
            return;
        }
        let Some(turn) = self.try_chain_turn(gap.chain) else {
            return;
        };
        if !lock(&self.gaps).allow(peer, Instant::now()) {
            debug!(%peer, chain = %gap.chain, "gap not fetched now: this peer's share of gap fetches is used");
            return;
        }
        let glue = self.clone();
        tokio::spawn(async move {
            let held = glue.our_next_height(gap.chain).await > 0;
            let committed = glue
                .fetch_chain_in_turn(peer, gap.chain, gap.to.saturating_add(1))
                .await;
            drop(turn);
            if !committed && glue.our_next_height(gap.chain).await < gap.to {
                glue.note_unproductive(peer, gap.chain, held);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_starts_a_bounded_number_of_gap_fetches_per_window() {
        let mut gaps = GapFetches::default();
        let (rogue, honest) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        for _ in 0..MAX_GAP_FETCHES_PER_WINDOW {
            assert!(gaps.allow(rogue, now));
        }
        assert!(!gaps.allow(rogue, now + Duration::from_secs(1)));
        assert!(gaps.allow(honest, now), "another peer's share is its own");
        assert!(gaps.allow(rogue, now + GAP_WINDOW), "a new window");
    }

    #[test]
    fn unproductive_claims_are_remembered_for_their_time() {
        let mut memory = Unproductive::default();
        let (peer, chain) = (PeerId::random(), ChainId([7; 32]));
        assert!(!memory.holds(peer, chain));
        memory.note(peer, chain, Duration::from_secs(60));
        assert!(memory.holds(peer, chain));
        memory.note(peer, chain, Duration::ZERO);
        assert!(!memory.holds(peer, chain));
    }

    #[test]
    fn idle_chain_locks_are_swept() {
        let mut fetches = ChainFetches::default();
        let held = fetches.lock_of(ChainId([0; 32]));
        for i in 1..=MAX_IDLE_CHAIN_LOCKS {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            fetches.lock_of(ChainId(id));
        }
        assert!(
            fetches.locks.len() <= 2,
            "only the held lock and the new one stay"
        );
        assert!(fetches.locks.contains_key(&ChainId([0; 32])));
        drop(held);
    }
}
