//! The glue between the network and the ledger: the only place that knows both.
//!
//! This file is the event loop, which only dispatches, and the helpers the flows share; each
//! flow is a file of its own:
//!
//! - Gossip in (`gossip`): decode, validate through the ledger (`flows::block_intake`), report
//!   Accept / Reject / Ignore to gossipsub (nothing is forwarded before that), fetch the gap or
//!   missing payloads, gossip new equivocation evidence. Refusals are logged like the paper's
//!   Figure 3.
//! - Sync in: `serving` (slots and per-peer byte budgets), answered from the store by
//!   `responder`.
//! - Blocks we author: gossiped on the blocks topic (here).
//! - Anti-entropy (`catch_up`, `evidence`): every few seconds, when a peer is admitted, and at
//!   once when the verifier has quarantined a damaged run, compare heads with each admitted
//!   peer, fill the holes quarantine left below our heads (`repair::ranges`) and fetch what is
//!   missing; then confirm our own chain's head while writes are paused (`own_chain`) and
//!   fetch damaged or missing payloads by hash (`repair::payloads`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medchain_net::{Client, Event, PeerId, Topic};
use medchain_protocol::BlockMessage;
use medchain_protocol::message::WireMessage;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::coordination::Coordination;
use crate::metrics::Metrics;
use crate::service::Service;

/// Seconds between anti-entropy rounds.
pub const ANTI_ENTROPY_SECS: u64 = 5;

/// Longest one catch-up with one peer runs (each peer's runs on its own).
pub const PEER_ROUND_LIMIT: Duration = Duration::from_secs(60);

/// Gossip messages validated at once. More waited on the ledger's lock each holding its block
/// (about a megabyte with payloads): a provider under load grew past 1 GiB of such waiting
/// work. Beyond this, events wait in the network layer's bounded channel, and what it drops
/// comes back by anti-entropy. Sync answers have slots of their own (`serving::SYNC_SLOTS`), so
/// a peer asking for ranges cannot hold up gossip, nor gossip hold up answers.
const GOSSIP_SLOTS: usize = 4;

/// Shared state of the glue.
#[derive(Clone)]
pub struct Glue {
    pub(super) service: Arc<Service>,
    /// The run's coordination: repair wake-ups, wanted payloads, the store's verdict.
    pub(super) coordination: Arc<Coordination>,
    pub(super) client: Client,
    pub(super) metrics: Arc<Metrics>,
    pub(super) catching_up: Arc<Mutex<HashSet<PeerId>>>,
    gossip_slots: Arc<tokio::sync::Semaphore>,
    pub(super) sync_slots: Arc<tokio::sync::Semaphore>,
    /// Ranges prechecked at once (`range_fetch`).
    pub(super) precheck_slots: Arc<tokio::sync::Semaphore>,
    /// Sync ranges fetched ahead of their turn at once (`range_fetch`).
    pub(super) ahead_slots: Arc<tokio::sync::Semaphore>,
    /// Peers with a sync answer being prepared: one slot per peer at most (`serving`).
    pub(super) serving: Arc<Mutex<HashSet<PeerId>>>,
    /// What peers claimed about our own chain (`own_chain`).
    pub(super) claims: Arc<Mutex<super::own_chain::Claims>>,
    /// Set while a confirmation of our own head runs: one at a time.
    pub(super) confirming: Arc<std::sync::atomic::AtomicBool>,
    /// Set while a round's payload repair runs: one at a time.
    pub(super) in_payload_repair: Arc<std::sync::atomic::AtomicBool>,
    /// Per-peer byte budgets of sync answers (`serving`).
    pub(super) budgets: Arc<Mutex<super::serving::Budgets>>,
    /// (peer, chain) pairs a peer claimed and gave nothing valid of (`fetching`).
    pub(super) unproductive: Arc<Mutex<super::fetching::Unproductive>>,
    /// One fetch per chain at a time (`fetching`).
    pub(super) fetches: Arc<Mutex<super::fetching::ChainFetches>>,
    /// Gap fetches each peer's gossip started lately (`fetching`).
    pub(super) gaps: Arc<Mutex<super::fetching::GapFetches>>,
    /// Set while a round of key requests runs: one at a time (`key_fetch`).
    pub(super) fetching_keys: Arc<std::sync::atomic::AtomicBool>,
    /// Set when a round of key requests is asked for while one runs.
    pub(super) fetch_keys_again: Arc<std::sync::atomic::AtomicBool>,
    /// Set while a wake-up for chains whose key backups wait their turn is pending.
    pub(super) backup_wake_scheduled: Arc<std::sync::atomic::AtomicBool>,
    /// What this run learnt of our own chain's key backups (`own_backups`).
    pub(super) own_backups: Arc<super::own_backups::OwnBackups>,
}

impl Glue {
    /// The glue over `service` and the network `client`.
    pub fn new(
        service: Arc<Service>,
        coordination: Arc<Coordination>,
        client: Client,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            service,
            coordination,
            client,
            metrics,
            catching_up: Arc::default(),
            gossip_slots: Arc::new(tokio::sync::Semaphore::new(GOSSIP_SLOTS)),
            sync_slots: Arc::new(tokio::sync::Semaphore::new(super::serving::SYNC_SLOTS)),
            precheck_slots: Arc::new(tokio::sync::Semaphore::new(
                super::range_fetch::PRECHECK_SLOTS,
            )),
            ahead_slots: Arc::new(tokio::sync::Semaphore::new(
                super::range_fetch::RANGES_AHEAD,
            )),
            serving: Arc::default(),
            claims: Arc::default(),
            confirming: Arc::default(),
            in_payload_repair: Arc::default(),
            budgets: Arc::default(),
            unproductive: Arc::default(),
            fetches: Arc::default(),
            gaps: Arc::default(),
            fetching_keys: Arc::default(),
            fetch_keys_again: Arc::default(),
            backup_wake_scheduled: Arc::default(),
            own_backups: Arc::default(),
        }
    }

    /// Runs until the event stream ends or `stop` resolves.
    pub async fn run(
        self,
        mut events: mpsc::Receiver<Event>,
        mut published: mpsc::Receiver<BlockMessage>,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut anti_entropy = tokio::time::interval(Duration::from_secs(ANTI_ENTROPY_SECS));
        let mut key_sweep =
            tokio::time::interval(Duration::from_secs(super::key_fetch::KEY_SWEEP_SECS));
        let mut key_retry =
            tokio::time::interval(Duration::from_secs(super::key_fetch::KEY_RETRY_SECS));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.on_event(event).await,
                    None => break,
                },
                Some(message) = published.recv() => {
                    let height = message.block.header.height;
                    if let Err(e) = self.client.publish(Topic::Blocks, message.to_wire()).await {
                        // No peers in the mesh yet: they fetch it by sync.
                        debug!(height, error = %e, "block not gossiped");
                    }
                }
                _ = anti_entropy.tick() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.anti_entropy().await });
                }
                _ = key_sweep.tick() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.sweep_keys().await });
                }
                _ = key_retry.tick(), if !self.coordination.wanted_keys().is_empty() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.fetch_keys().await });
                }
                () = self.coordination.wanted_keys().added() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.fetch_keys().await });
                }
                () = self.coordination.repair_requested() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.anti_entropy().await });
                }
                () = &mut stop => break,
            }
        }
    }

    /// Handles one network event; waits while every slot of its kind is taken.
    async fn on_event(&self, event: Event) {
        let glue = self.clone();
        match event {
            Event::Gossip(message) => {
                let Ok(permit) = self.gossip_slots.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    glue.on_gossip(message).await;
                    drop(permit);
                });
            }
            // Never waits: a request that finds no slot is answered Busy (`serving`), so a peer
            // keeping the answer slots busy cannot hold up the event loop, gossip, or admissions.
            Event::SyncRequest(request) => self.on_sync_request(request),
            Event::PeerAdmitted { peer, role, org } => {
                info!(%peer, role = role.as_str(), %org, "peer admitted");
                self.service.note_member(org);
                // It may own keys we asked for in vain while it was away.
                self.coordination.wanted_keys().wake();
                // It may hold payloads asked for in vain while it was away (their author, back).
                self.coordination.wanted_payloads().all_due_now();
                tokio::spawn(async move {
                    glue.catch_up_with(peer).await;
                    glue.confirm_own_head().await;
                });
            }
            Event::PeerRefused { peer, reason } => {
                warn!(%peer, reason = %reason, "peer refused, disconnected and blocked")
            }
            Event::Listening(address) => info!(%address, "p2p listening"),
            Event::Connected { .. } | Event::Disconnected(_) => {}
        }
    }
}

impl Glue {
    /// Sends `request` to `peer`; an answer `Busy` (the peer is serving its share of requests
    /// from us already: several of our flows may ask it at once) is retried a few times after a
    /// short wait, so an honest burst costs a moment, not a whole anti-entropy round.
    pub(super) async fn ask(
        &self,
        peer: PeerId,
        request: medchain_protocol::SyncRequest,
    ) -> Result<medchain_protocol::SyncResponse, medchain_net::Error> {
        let mut wait = std::time::Duration::from_millis(50);
        for _ in 0..BUSY_RETRIES {
            let answer = self.client.request(peer, request.clone()).await?;
            if !is_busy(&answer) {
                return Ok(answer);
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(3);
        }
        self.client.request(peer, request).await
    }
}

/// How many times a `Busy` answer is asked again (waiting 50, 150, 450 ms).
const BUSY_RETRIES: usize = 3;

fn is_busy(answer: &medchain_protocol::SyncResponse) -> bool {
    matches!(
        answer,
        medchain_protocol::SyncResponse::Error(e)
            if e.code == medchain_protocol::message::SyncErrorCode::Busy
    )
}

/// A mutex of the glue's own bookkeeping: a panic while holding one leaves plain values that
/// are only ever replaced whole, so a poisoned lock is taken over.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs blocking ledger work off the async runtime; `None` if the task failed.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}
