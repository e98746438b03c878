//! Our own chain against the network: the glue's side of "never sign twice at one height"
//! (the rule itself is `medchain_chain::signing`).
//!
//! - Every heads answer a peer gives is checked for our chain: a peer above our head, or with
//!   another block at a height we hold, pauses signing at once ([`Glue::observe_own_head`]).
//! - While signing is paused, each anti-entropy round (and each newly admitted peer) asks every
//!   admitted peer for its heads and lets the ledger decide ([`Glue::confirm_own_head`]): a peer
//!   holding more of our chain is fetched from first; the pause lifts only when every admitted
//!   peer answered, one holds our chain, and none holds more or other.

use medchain_chain::{Confirmation, PeerReport};
use medchain_net::PeerId;
use medchain_protocol::{ChainHead, SyncResponse};
use tracing::{debug, error, info, warn};

use super::network::{Glue, blocking};
use super::startup::now_ms;

/// Fetch-then-confirm rounds in one call: a peer may hold more each time we look.
const MAX_CONFIRM_ROUNDS: usize = 3;

impl Glue {
    /// Checks `peer`'s heads for our chain while signing is allowed; pauses on a peer ahead or
    /// a fork.
    pub(super) async fn observe_own_head(&self, peer: PeerId, heads: &[ChainHead]) {
        let Some(own) = self.service.own_chain() else {
            return;
        };
        let Some(theirs) = heads.iter().find(|h| h.chain == own).copied() else {
            return;
        };
        let service = self.service.clone();
        let observed =
            blocking(move || service.with_ledger(|l| l.observe_own_head(&theirs, now_ms()))).await;
        match observed {
            Some(Ok(Some(kind))) => {
                warn!(%peer, height = theirs.height, reason = kind.as_str(), "writes paused: a peer holds this node's chain beyond or other than its own copy")
            }
            Some(Err(e)) => error!(%peer, error = %e, "could not record a pause of writes"),
            _ => {}
        }
    }

    /// While signing is paused: one round of heads from every admitted peer, then the ledger's
    /// decision; a peer ahead is fetched from first and the round repeated (bounded).
    pub(super) async fn confirm_own_head(&self) {
        let Some(own) = self.service.own_chain() else {
            return;
        };
        for _ in 0..MAX_CONFIRM_ROUNDS {
            if self.service.writes_paused().is_none() {
                return;
            }
            let Ok(peers) = self.client.admitted_peers().await else {
                return;
            };
            let peers: Vec<PeerId> = peers.into_iter().map(|(peer, _)| peer).collect();
            let reports = self.own_head_reports(&peers, own).await;
            let service = self.service.clone();
            let decided =
                blocking(move || service.with_ledger(|l| l.confirm_own_head(&reports, now_ms())))
                    .await;
            match decided {
                Some(Ok(Confirmation::Resumed)) => {
                    info!(
                        peers = peers.len(),
                        "writes resume: this node's head is confirmed by the peers that hold its chain"
                    );
                    return;
                }
                Some(Ok(Confirmation::FetchFirst { peer, height })) => {
                    let Some(&peer) = peers.get(peer) else {
                        return;
                    };
                    info!(%peer, height, "a peer holds more of this node's chain: fetching it before writes resume");
                    self.sync_chain(peer, own, height.saturating_add(1)).await;
                    let service = self.service.clone();
                    let _ =
                        blocking(move || service.with_ledger(|l| l.complete_restores(now_ms())))
                            .await;
                }
                Some(Ok(Confirmation::Forked { height })) => {
                    error!(
                        height,
                        "a peer holds another block of this node's own chain at a height it holds: its key signed twice; writes stay paused until an operator decides (docs/operations.md)"
                    );
                    return;
                }
                Some(Ok(Confirmation::Waiting(why))) => {
                    debug!(why, "writes stay paused");
                    return;
                }
                Some(Ok(Confirmation::NotPaused)) => return,
                Some(Err(e)) => {
                    error!(error = %e, "could not decide whether writes may resume");
                    return;
                }
                None => return,
            }
        }
    }

    /// What each of `peers` says about our chain now (concurrently; a failed request is
    /// `Failed`, which confirms nothing).
    async fn own_head_reports(
        &self,
        peers: &[PeerId],
        own: medchain_protocol::ChainId,
    ) -> Vec<PeerReport> {
        let asks = peers
            .iter()
            .map(|peer| self.ask(*peer, medchain_protocol::SyncRequest::Heads));
        futures::future::join_all(asks)
            .await
            .into_iter()
            .map(|answer| match answer {
                Ok(SyncResponse::Heads(heads)) => heads
                    .into_iter()
                    .find(|h| h.chain == own)
                    .map_or(PeerReport::Lacks, PeerReport::Holds),
                _ => PeerReport::Failed,
            })
            .collect()
    }
}
