//! Our own chain against the network: the glue's side of "never sign twice at one height"
//! (the rule itself is `medchain_chain::signing`).
//!
//! - Every heads answer a peer gives is checked for our chain. A claim above our head pauses
//!   signing at once and the claimed blocks are fetched from that peer; a claim of another block
//!   at a height we hold is checked by fetching that block: only a block signed by our key is a
//!   fork (the ledger keeps the evidence and pauses `forked`). A peer that answers the fetch with
//!   nothing that backs its claim is *refuted*: its claim is ignored (for
//!   [`REFUTED_FOR`]) and logged, so a member gone rogue cannot keep our writes paused by lying.
//! - While signing is paused, each anti-entropy round (and each newly admitted peer) asks every
//!   admitted peer for its heads and lets the ledger decide ([`Glue::confirm_own_head`]), one
//!   round at a time. A peer that failed [`MAX_FAILED_ROUNDS`] rounds in a row no longer holds
//!   the decision up (it is counted as not holding our chain, with a warning): a peer that
//!   cannot answer heads for that long is down, and one that only pretends is a denial of
//!   service otherwise.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use medchain_chain::{Confirmation, OwnClaim, PeerReport};
use medchain_net::PeerId;
use medchain_protocol::{ChainHead, ChainId, SyncRequest, SyncResponse};
use tracing::{debug, error, info, warn};

use super::network::{Glue, blocking, lock};

/// Fetch-then-confirm steps in one call: a peer may hold more each time we look.
const MAX_CONFIRM_STEPS: usize = 4;
/// How long a refuted claim is ignored.
pub const REFUTED_FOR: Duration = Duration::from_secs(600);
/// Rounds in a row a peer may fail to answer before it no longer holds the decision up.
pub const MAX_FAILED_ROUNDS: u32 = 3;
/// Most peers remembered (refuted claims, failed rounds).
const MAX_REMEMBERED: usize = 1024;

/// What the glue remembers of peers' claims about our chain.
#[derive(Debug, Default)]
pub struct Claims {
    /// Claims a peer could not back, and when they were refuted.
    refuted: HashMap<PeerId, (ChainHead, Instant)>,
    /// Confirmation rounds in a row the peer did not answer.
    failed: HashMap<PeerId, u32>,
}

impl Claims {
    fn refute(&mut self, peer: PeerId, claim: ChainHead) {
        if self.refuted.len() >= MAX_REMEMBERED {
            self.refuted.retain(|_, (_, at)| at.elapsed() < REFUTED_FOR);
            if self.refuted.len() >= MAX_REMEMBERED {
                self.refuted.clear();
            }
        }
        self.refuted.insert(peer, (claim, Instant::now()));
    }

    fn is_refuted(&self, peer: &PeerId, claim: &ChainHead) -> bool {
        self.refuted
            .get(peer)
            .is_some_and(|(refuted, at)| refuted == claim && at.elapsed() < REFUTED_FOR)
    }

    /// Counts a failed round; whether the peer has now failed too many in a row.
    fn failed(&mut self, peer: PeerId) -> bool {
        if self.failed.len() >= MAX_REMEMBERED && !self.failed.contains_key(&peer) {
            self.failed.clear();
        }
        let count = self.failed.entry(peer).or_default();
        *count = count.saturating_add(1);
        *count > MAX_FAILED_ROUNDS
    }

    fn answered(&mut self, peer: &PeerId) {
        self.failed.remove(peer);
    }
}

impl Glue {
    /// Checks `peer`'s heads for our chain: a claim above our head pauses and is fetched; a
    /// claim of another block at a height we hold is fetched and judged by its signature.
    pub(super) async fn observe_own_head(&self, peer: PeerId, heads: &[ChainHead]) {
        let Some(own) = self.service.own_chain() else {
            return;
        };
        let Some(theirs) = heads.iter().find(|h| h.chain == own).copied() else {
            return;
        };
        if lock(&self.claims).is_refuted(&peer, &theirs) {
            return;
        }
        let service = self.service.clone();
        let observed = blocking(move || service.observe_own_head(&theirs)).await;
        match observed {
            Some(Ok(Some(OwnClaim::Ahead))) => {
                warn!(%peer, height = theirs.height, "writes paused: a peer claims this node's chain above its head; fetching it");
                self.back_ahead_claim(peer, theirs).await;
            }
            Some(Ok(Some(OwnClaim::Differs))) => self.check_fork_claim(peer, theirs).await,
            Some(Err(e)) => error!(%peer, error = %e, "could not record a pause of writes"),
            _ => {}
        }
    }

    /// Fetches the blocks `peer` claims above our head; refutes the claim if it gives none.
    async fn back_ahead_claim(&self, peer: PeerId, claim: ChainHead) {
        let until = claim.height.saturating_add(1);
        // Nothing committed, and our copy still short of the claim (another peer's fetch may
        // have brought the same blocks meanwhile: that backs the claim too).
        if !self.fetch_chain(peer, claim.chain, until).await
            && self.our_next_height(claim.chain).await < until
        {
            warn!(%peer, height = claim.height, "a peer claimed this node's chain above its head but served no block of it: its claim is ignored");
            lock(&self.claims).refute(peer, claim);
        }
    }

    /// Fetches the block `peer` claims at a height we hold with another hash. Signed by our key,
    /// it is a fork: the ledger keeps the evidence and pauses. Anything else refutes the claim.
    async fn check_fork_claim(&self, peer: PeerId, claim: ChainHead) {
        let request = SyncRequest::Range {
            chain: claim.chain,
            from: claim.height,
            limit: 1,
        };
        let messages = match self.ask(peer, request).await {
            Ok(SyncResponse::Range(messages)) => messages,
            _ => return,
        };
        let service = self.service.clone();
        let (chain, height) = (claim.chain, claim.height);
        let outcome = blocking(move || {
            service.ingest_prechecked(medchain_chain::precheck_range(chain, height, messages))
        })
        .await;
        match outcome {
            Some((_, Some(rejection))) if rejection.reason() == "equivocation" => {
                error!(%peer, height, "a second block of this node's own chain, signed by its key, exists at a height it holds: its key signed twice; writes stay paused until an operator decides (docs/operations.md)");
            }
            Some((committed, None)) if !committed.is_empty() => {}
            _ => {
                warn!(%peer, height, "a peer claimed another block of this node's chain but could not show one signed by its key: its claim is ignored");
                lock(&self.claims).refute(peer, claim);
            }
        }
    }

    /// While signing is paused: rounds of heads from every admitted peer, each decided by the
    /// ledger; claims above our head are fetched first and claimed forks checked (bounded).
    /// One confirmation at a time.
    pub(super) async fn confirm_own_head(&self) {
        let Some(own) = self.service.own_chain() else {
            return;
        };
        if self.confirming.swap(true, Ordering::SeqCst) {
            return;
        }
        for _ in 0..MAX_CONFIRM_STEPS {
            if !self.confirm_step(own).await {
                break;
            }
        }
        self.confirming.store(false, Ordering::SeqCst);
    }

    /// One round; whether another should follow at once (something was fetched or checked).
    async fn confirm_step(&self, own: ChainId) -> bool {
        if self.service.writes_paused().is_none() {
            return false;
        }
        let Ok(peers) = self.client.admitted_peers().await else {
            return false;
        };
        let peers: Vec<PeerId> = peers.into_iter().map(|(peer, _)| peer).collect();
        let service = self.service.clone();
        let Some(Some(epoch)) = blocking(move || service.signing_epoch()).await else {
            return false;
        };
        let reports = self.own_head_reports(&peers, own).await;
        let service = self.service.clone();
        let step_reports = reports.clone();
        let decided = blocking(move || service.confirm_own_head(&step_reports, epoch)).await;
        let claim_of = |peer: usize| match reports.get(peer) {
            Some(PeerReport::Holds(head)) => peers.get(peer).map(|p| (*p, *head)),
            _ => None,
        };
        match decided {
            Some(Ok(Confirmation::Resumed)) => {
                info!(
                    peers = peers.len(),
                    "writes resume: this node's head is confirmed by the peers that hold its chain"
                );
                false
            }
            Some(Ok(Confirmation::FetchFirst { peer, height })) => {
                let Some((peer, claim)) = claim_of(peer) else {
                    return false;
                };
                info!(%peer, height, "a peer holds more of this node's chain: fetching it before writes resume");
                self.back_ahead_claim(peer, claim).await;
                let service = self.service.clone();
                let _ = blocking(move || service.complete_restores()).await;
                true
            }
            Some(Ok(Confirmation::VerifyFork { peer, .. })) => {
                let Some((peer, claim)) = claim_of(peer) else {
                    return false;
                };
                self.check_fork_claim(peer, claim).await;
                true
            }
            Some(Ok(Confirmation::Waiting(why))) => {
                debug!(why, "writes stay paused");
                false
            }
            Some(Ok(Confirmation::NotPaused)) => false,
            Some(Err(e)) => {
                error!(error = %e, "could not decide whether writes may resume");
                false
            }
            None => false,
        }
    }

    /// What each of `peers` says about our chain now (concurrently). A failed request is
    /// `Failed` (no confirmation) unless the peer failed too many rounds in a row; a claim
    /// refuted lately counts as not holding our chain.
    async fn own_head_reports(&self, peers: &[PeerId], own: ChainId) -> Vec<PeerReport> {
        let asks = peers.iter().map(|peer| self.ask(*peer, SyncRequest::Heads));
        let answers = futures::future::join_all(asks).await;
        let mut claims = lock(&self.claims);
        peers
            .iter()
            .zip(answers)
            .map(|(peer, answer)| match answer {
                Ok(SyncResponse::Heads(heads)) => {
                    claims.answered(peer);
                    match heads.into_iter().find(|h| h.chain == own) {
                        Some(head) if !claims.is_refuted(peer, &head) => PeerReport::Holds(head),
                        _ => PeerReport::Lacks,
                    }
                }
                _ if claims.failed(*peer) => {
                    warn!(%peer, rounds = MAX_FAILED_ROUNDS, "a peer has not answered heads for several rounds: it no longer holds up the confirmation of this node's head");
                    PeerReport::Lacks
                }
                _ => PeerReport::Failed,
            })
            .collect()
    }
}
