//! Fetching the data keys grants open to this node: each owner is asked, by key request, for
//! the wanted keys of its chain (at most one request's worth per chain per round), and the
//! keys it releases are kept wrapped under our node key (`service::received_keys`).
//!
//! A round runs when keys are wanted (after a commit that brought a grant, or a payload a
//! patient grant covers), when a peer is admitted (an owner back), every
//! [`KEY_RETRY_SECS`], and after each full reconciliation (every [`KEY_SWEEP_SECS`], and at
//! start), which finds again what a restart or a full queue lost. One round at a time.
//!
//! Key backups (`medchain_protocol::key_backup`) travel the same way: a node keeps those of
//! every other provider's chain, asked of their owner (from the height after the last it holds
//! to its own head)
//! when new blocks of that chain arrive; our own, if we make them, come back from every peer
//! (`own_backups`), asked when blocks of our chain come from peers and at each sweep.

use std::sync::atomic::Ordering;

use medchain_net::PeerId;
use medchain_protocol::{ChainId, SyncRequest, SyncResponse};
use tracing::{debug, warn};

use super::network::{Glue, blocking};

/// Seconds between rounds while keys are wanted and owners did not answer.
pub const KEY_RETRY_SECS: u64 = 30;
/// Most pages of another chain's key backups fetched from its owner in one round (256 blocks
/// each).
const MAX_BACKUP_PAGES: usize = 64;

/// Seconds between full reconciliations of every patient with grant, revoke or erase entries.
pub const KEY_SWEEP_SECS: u64 = 300;

impl Glue {
    /// Reconciles every patient with terms entries (keys to fetch, keys to delete), then runs a
    /// round.
    pub(super) async fn sweep_keys(&self) {
        let service = self.service.clone();
        match blocking(move || {
            let chains = service.reader().heads().unwrap_or_default();
            (service.reconcile_all_keys(), chains)
        })
        .await
        {
            Some((Ok(found), chains)) => {
                let wanted = self.coordination.wanted_keys();
                wanted.add(found.wanted);
                // Backups a round missed (an owner away) are asked for again; our own wherever
                // blocks held here have none (a rebuild a restart cut short), if we make them.
                let own = self.service.own_chain();
                let own_too = self.service.backs_up_keys();
                for head in chains {
                    if Some(head.chain) != own || own_too {
                        wanted.want_backups(head.chain);
                    }
                }
            }
            Some((Err(e), _)) => warn!(error = %e, "keys could not be reconciled"),
            None => return,
        }
        self.fetch_keys().await;
    }

    /// Rounds until one settles nothing: each owner chain with wanted keys is asked for a
    /// request's worth. A call while a round runs makes that one go again.
    pub(super) async fn fetch_keys(&self) {
        self.fetch_keys_again.store(true, Ordering::SeqCst);
        if self.fetching_keys.swap(true, Ordering::SeqCst) {
            return;
        }
        loop {
            while self.fetch_keys_again.swap(false, Ordering::SeqCst) {
                if self.key_round().await > 0 {
                    self.fetch_keys_again.store(true, Ordering::SeqCst);
                }
                let chains = self.coordination.wanted_keys().take_backup_chains();
                self.fetch_key_backups(chains).await;
            }
            self.fetching_keys.store(false, Ordering::SeqCst);
            if self.coordination.wanted_keys().backups_waiting()
                && !self.backup_wake_scheduled.swap(true, Ordering::SeqCst)
            {
                // Chains asked for a moment ago: their turn comes after the interval (one
                // wake-up pending at a time).
                let glue = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(crate::coordination::BACKUP_REQUEST_INTERVAL).await;
                    glue.backup_wake_scheduled.store(false, Ordering::SeqCst);
                    glue.coordination.wanted_keys().wake();
                });
            }
            // A call that came after the last check and before the flag fell found it set and
            // left: go again unless another run took over.
            if !self.fetch_keys_again.load(Ordering::SeqCst)
                || self.fetching_keys.swap(true, Ordering::SeqCst)
            {
                break;
            }
        }
    }

    /// One round; how many entries it settled.
    async fn key_round(&self) -> usize {
        let mut settled_in_round = 0;
        for (chain, entries) in self.coordination.wanted_keys().next_requests() {
            let Some(peer) = self.owner_peer(chain).await else {
                debug!(%chain, "no key for the owner of a chain with wanted keys");
                continue;
            };
            match self.ask(peer, SyncRequest::DataKeys(entries.clone())).await {
                Ok(SyncResponse::DataKeys(answers)) => {
                    let service = self.service.clone();
                    let asked = entries.clone();
                    if let Some(settled) =
                        blocking(move || service.keep_released(&asked, answers)).await
                    {
                        self.coordination.wanted_keys().settle(&settled);
                        settled_in_round += settled.len();
                    }
                }
                Ok(other) => {
                    debug!(%chain, answer = ?std::mem::discriminant(&other), "key request not answered with keys")
                }
                // The owner is away: asked again next round.
                Err(e) => debug!(%chain, error = %e, "key request failed"),
            }
        }
        settled_in_round
    }

    /// Fetches the key backups of `chains`: another provider's from its owner only (so no
    /// peer can plant one), from the height after the last we hold; our own from every
    /// admitted peer (a restore checks each key against its payload), where ours have gaps.
    async fn fetch_key_backups(&self, chains: Vec<ChainId>) {
        let own = self.service.own_chain();
        for chain in chains {
            if Some(chain) == own {
                self.fetch_own_key_backups(chain).await;
                continue;
            }
            let Some(peer) = self.owner_peer(chain).await else {
                continue;
            };
            let service = self.service.clone();
            let held = blocking(move || {
                let store = service.reader();
                Ok::<_, medchain_store::StoreError>((
                    store.last_key_backup(&chain)?,
                    store.head(&chain)?,
                ))
            })
            .await;
            let (last, head) = match held {
                Some(Ok((last, Some(head)))) => (last, head.height),
                _ => continue,
            };
            let from = match last {
                None => 0,
                Some(h) => match h.checked_add(1) {
                    Some(next) => next,
                    None => continue,
                },
            };
            // Only heights this node holds are kept: during a catch-up, asking beyond our head
            // would fetch backups only to drop them, taking the owner's serving slots from the
            // catch-up itself.
            if from > head {
                continue;
            }
            self.fetch_backups_from(peer, chain, from, head.saturating_add(1))
                .await;
        }
    }

    /// Pages through `peer`'s backups of `chain` from height `from` up to (not including)
    /// `end`, for at most [`MAX_BACKUP_PAGES`] pages. Whether the peer answered every request
    /// with backups (none, maybe), rather than not at all, busy or with an error.
    pub(super) async fn fetch_backups_from(
        &self,
        peer: PeerId,
        chain: ChainId,
        mut from: u64,
        end: u64,
    ) -> bool {
        let most = medchain_protocol::limits::MAX_BLOCKS_PER_RANGE;
        for _ in 0..MAX_BACKUP_PAGES {
            if from >= end {
                return true;
            }
            let limit = u32::try_from(end - from).unwrap_or(most).min(most);
            let request = SyncRequest::KeyBackups { chain, from, limit };
            let backups = match self.ask(peer, request).await {
                Ok(SyncResponse::KeyBackups(backups)) if !backups.is_empty() => backups,
                Ok(SyncResponse::KeyBackups(_)) => return true,
                Ok(_) => return false,
                Err(e) => {
                    debug!(%peer, %chain, error = %e, "key backup request failed");
                    return false;
                }
            };
            let last = backups.iter().map(|b| b.height).max();
            // The answer runs on past `end` when the peer lacks heights below it: those are
            // not what was asked for (and were fetched already, or are asked in their turn).
            let backups: Vec<_> = backups.into_iter().filter(|b| b.height < end).collect();
            let service = self.service.clone();
            match blocking(move || service.keep_key_backups(&chain, &backups)).await {
                Some(Ok(kept)) if kept > 0 => debug!(%peer, %chain, kept, "key backups kept"),
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    warn!(%chain, error = %e, "key backups not kept");
                    return false;
                }
                None => return false,
            }
            // The next page starts after the last height this answer gave.
            // An answer may stop short of the limit (the response size) with more to come: go on
            // while answers move forward.
            match last.and_then(|h| h.checked_add(1)) {
                Some(next) if next > from => from = next,
                _ => return true,
            }
        }
        true
    }

    /// The peer that owns `chain`: its libp2p identity is the chain's Ed25519 key.
    async fn owner_peer(&self, chain: ChainId) -> Option<PeerId> {
        let service = self.service.clone();
        let key = blocking(move || service.owner_key(&chain)).await??;
        medchain_net::membership::peer_id_of(&key)
    }
}
