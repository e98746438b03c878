//! Catch-up: the anti-entropy round, and anti-entropy with one peer. Compare heads and fetch
//! what the peer holds above our copy (ranges of blocks with their inline payloads; larger
//! payloads by hash, `repair::payloads`), after the holes quarantine left below our heads
//! (`repair::ranges`), which heads cannot show. Blocks fetched go through the same validation
//! as gossip (range by range, pipelined: `range_fetch`); a range that does not verify is
//! dropped and another peer is asked next round.

use std::collections::{HashMap, HashSet};

use medchain_net::PeerId;
use medchain_protocol::limits::MAX_HEADS;
use medchain_protocol::{ChainHead, ChainId, SyncRequest, SyncResponse};
use tracing::{debug, warn};

use super::network::{Glue, PEER_ROUND_LIMIT, blocking, lock};
use crate::metrics::ChainLabels;

/// Chains a peer announces that we do not hold, fetched per peer and round at most.
pub const MAX_NEW_CHAINS_PER_ROUND: usize = 8;

impl Glue {
    /// Fetches from `peer` every block it holds that we do not.
    pub(super) async fn catch_up_with(&self, peer: PeerId) {
        let Some(_catching_up) = CatchingUp::begin(&self.catching_up, peer) else {
            return;
        };
        let answer = self.ask(peer, SyncRequest::Heads).await;
        match &answer {
            Ok(SyncResponse::Heads(heads)) => {
                debug!(%peer, chains = heads.len(), "anti-entropy: heads received")
            }
            Ok(other) => {
                debug!(%peer, answer = ?std::mem::discriminant(other), "anti-entropy: peer did not send heads")
            }
            Err(e) => debug!(%peer, error = %e, "anti-entropy: heads request failed"),
        }
        if let Ok(SyncResponse::Heads(heads)) = answer {
            self.observe_own_head(peer, &heads).await;
            self.fill_holes(peer, &heads).await;
            self.catch_up(peer, heads).await;
            self.fetch_evidence(peer).await;
        }
        drop(_catching_up);
        self.confirm_restores().await;
    }

    pub(super) async fn our_next_height(&self, chain: ChainId) -> u64 {
        let service = self.service.clone();
        blocking(move || service.reader().next_height(&chain))
            .await
            .and_then(Result::ok)
            .unwrap_or(0)
    }

    /// Fetches every chain `peer` holds above our copy, unless the peer's claim of it gave
    /// nothing valid lately (`fetching`). A chain we do not hold yet is fetched at most
    /// [`MAX_NEW_CHAINS_PER_ROUND`] per peer and round: a member gone rogue answering with
    /// thousands of made-up chains costs a few requests a round, not thousands. Lag metrics are
    /// kept for chains we hold only (labels from a peer's answer would be unbounded).
    ///
    /// Chains another peer's round is fetching now come last: every peer's round starts at
    /// once with the same heads, and taking them in one order made the rounds fetch one chain at
    /// a time between them, each waiting for the one before.
    async fn catch_up(&self, peer: PeerId, heads: Vec<ChainHead>) {
        let held: HashMap<ChainId, u64> = match self.service.reader().heads() {
            Ok(ours) => ours.into_iter().map(|h| (h.chain, h.height)).collect(),
            Err(e) => {
                warn!(error = %e, "cannot read our heads for anti-entropy");
                return;
            }
        };
        let mut new_chains = 0;
        let mut claims = Vec::new();
        for head in heads.into_iter().take(MAX_HEADS) {
            let until = head.height.saturating_add(1);
            let ours = held.get(&head.chain).map(|h| h.saturating_add(1));
            if let Some(ours) = ours {
                self.metrics
                    .chain_lag
                    .get_or_create(&ChainLabels {
                        chain: head.chain.to_hex(),
                    })
                    .set(i64::try_from(until.saturating_sub(ours)).unwrap_or(i64::MAX));
                if until > ours && !self.recently_unproductive(peer, head.chain) {
                    claims.push((head.chain, until, true));
                }
                continue;
            }
            if new_chains >= MAX_NEW_CHAINS_PER_ROUND
                || self.recently_unproductive(peer, head.chain)
            {
                continue;
            }
            new_chains += 1;
            claims.push((head.chain, until, false));
        }
        let mut busy = Vec::new();
        for (chain, until, held) in claims {
            match self.try_chain_turn(chain) {
                Some(turn) => self.fetch_claim(peer, (chain, until, held), turn).await,
                None => busy.push((chain, until, held)),
            }
        }
        for (chain, until, held) in busy {
            let turn = self.chain_turn(chain).await;
            self.fetch_claim(peer, (chain, until, held), turn).await;
        }
    }

    /// Fetches what `peer` claims of `chain` (up to `until`), in the chain's fetch `turn`;
    /// remembers the claim as unproductive if it gave nothing and our copy is still short of it.
    async fn fetch_claim(
        &self,
        peer: PeerId,
        (chain, until, held): (ChainId, u64, bool),
        turn: tokio::sync::OwnedMutexGuard<()>,
    ) {
        let committed = self.fetch_chain_in_turn(peer, chain, until).await;
        drop(turn);
        if !committed && self.our_next_height(chain).await < until {
            self.note_unproductive(peer, chain, held);
        }
    }

    /// Fetches `chain` from `peer` until our copy reaches `until` (exclusive) or the peer stops
    /// answering with blocks that verify; whether anything was committed.
    /// Waits for the chain's fetch turn first (`fetching`).
    pub(super) async fn fetch_chain(&self, peer: PeerId, chain: ChainId, until: u64) -> bool {
        let _turn = self.chain_turn(chain).await;
        self.fetch_chain_in_turn(peer, chain, until).await
    }
}

impl Glue {
    /// One anti-entropy round: a catch-up with every admitted peer, each on its own (one at a
    /// time per peer, at most [`PEER_ROUND_LIMIT`]: a slow or lying peer delays its own part
    /// only, and what is cut short continues next time), then the upkeep that involves every
    /// peer: confirming our own head while writes are paused, then repairing payloads (at most
    /// [`PEER_ROUND_LIMIT`]), each one at a time.
    pub(super) async fn anti_entropy(&self) {
        let peers = self.client.admitted_peers().await;
        if let Ok(peers) = &peers {
            self.metrics
                .peers
                .set(i64::try_from(peers.len()).unwrap_or(i64::MAX));
        }
        let Ok(peers) = peers else {
            return;
        };
        let peers: Vec<PeerId> = peers.into_iter().map(|(peer, _)| peer).collect();
        for peer in peers.iter().copied() {
            let glue = self.clone();
            tokio::spawn(async move {
                if tokio::time::timeout(PEER_ROUND_LIMIT, glue.catch_up_with(peer))
                    .await
                    .is_err()
                {
                    debug!(%peer, "anti-entropy with this peer cut short: it continues next round");
                }
            });
        }
        // Each one at a time; the confirmation first and apart, so that a payload repair held up
        // by a peer that does not answer (stopped, cut off) never delays lifting a pause.
        self.confirm_own_head().await;
        let Some(_repairing) = OneAtATime::begin(&self.in_payload_repair) else {
            return;
        };
        if tokio::time::timeout(PEER_ROUND_LIMIT, self.repair_payloads(&peers))
            .await
            .is_err()
        {
            debug!("payload repair cut short: it continues next round");
        }
    }
}

/// A flag set while one task runs, cleared however the task ends (finished, cut short, or
/// unwound by a panic), so the work it guards never stops for good.
struct OneAtATime<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> OneAtATime<'a> {
    /// `None` when another task holds the flag (`then`, not `then_some`: a guard built eagerly
    /// and dropped would clear the other task's flag).
    fn begin(flag: &'a std::sync::atomic::AtomicBool) -> Option<Self> {
        (!flag.swap(true, std::sync::atomic::Ordering::SeqCst)).then(|| Self(flag))
    }
}

impl Drop for OneAtATime<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The mark that a round with a peer runs (one at a time per peer), removed however the round
/// ends: finished, or cut short by its time limit.
struct CatchingUp<'a> {
    set: &'a std::sync::Mutex<HashSet<PeerId>>,
    peer: PeerId,
}

impl<'a> CatchingUp<'a> {
    fn begin(set: &'a std::sync::Mutex<HashSet<PeerId>>, peer: PeerId) -> Option<Self> {
        // The set's guard ends with this statement, before a `CatchingUp` can exist (its drop
        // takes the same lock).
        let first = lock(set).insert(peer);
        first.then(|| CatchingUp { set, peer })
    }
}

impl Drop for CatchingUp<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.peer);
    }
}

#[cfg(test)]
mod tests {
    use super::OneAtATime;

    #[test]
    fn a_second_task_is_refused_without_clearing_the_first_ones_flag() {
        let flag = std::sync::atomic::AtomicBool::new(false);
        let first = OneAtATime::begin(&flag);
        assert!(first.is_some());
        assert!(OneAtATime::begin(&flag).is_none());
        assert!(
            OneAtATime::begin(&flag).is_none(),
            "the refusal cleared the flag"
        );
        drop(first);
        assert!(OneAtATime::begin(&flag).is_some());
    }
}
