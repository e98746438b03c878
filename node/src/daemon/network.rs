//! The glue between the network and the ledger: the only place that knows both.
//!
//! - Gossip in: decode, validate through the ledger, report Accept / Reject / Ignore to
//!   gossipsub (nothing is forwarded before that), fetch the gap or missing payloads, gossip new
//!   equivocation evidence. Refusals are logged like the paper's Figure 3.
//! - Sync in: answered from the store by `responder`.
//! - Blocks we author: gossiped on the blocks topic.
//! - Anti-entropy: every few seconds, when a peer is admitted, and at once when the verifier has
//!   quarantined a damaged run, compare heads with each admitted peer and fetch what is missing,
//!   then fetch the holes quarantine left below our heads (heads do not show those), so a node
//!   that was offline or whose store was repaired catches up without new gossip. Blocks fetched
//!   go through the same validation; a range that does not verify is dropped and another peer
//!   is asked next round.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medchain_chain::{Rejection, Verdict};
use medchain_net::{Acceptance, Client, Event, GossipMessage, InboundRequest, PeerId, Topic};
use medchain_protocol::limits::{MAX_BLOCKS_PER_RANGE, MAX_EVIDENCE_PER_RESPONSE};
use medchain_protocol::message::{SyncError, SyncErrorCode, WireMessage};
use medchain_protocol::{
    BlockMessage, ChainHead, ChainId, EquivocationEvidence, PayloadHash, SyncResponse,
};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::intake::{Intake, count_rejection, take_block};
use super::startup::now_ms;
use crate::metrics::{ChainLabels, Metrics};
use crate::service::Service;

/// Seconds between anti-entropy rounds.
pub const ANTI_ENTROPY_SECS: u64 = 5;

/// Gossip messages and sync requests handled at once. More waited on the ledger's lock each
/// holding its block (about a megabyte with payloads): a provider under load grew past 1 GiB
/// of such waiting work. Beyond this, events wait in the network layer's bounded channel, and
/// what it drops comes back by anti-entropy.
const MAX_IN_FLIGHT: usize = 4;

/// Shared state of the glue.
#[derive(Clone)]
pub struct Glue {
    service: Arc<Service>,
    client: Client,
    metrics: Arc<Metrics>,
    syncing: Arc<Mutex<HashSet<PeerId>>>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl Glue {
    /// The glue over `service` and the network `client`.
    pub fn new(service: Arc<Service>, client: Client, metrics: Arc<Metrics>) -> Self {
        Self {
            service,
            client,
            metrics,
            syncing: Arc::default(),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
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
                () = self.service.repair_requested() => {
                    let glue = self.clone();
                    tokio::spawn(async move { glue.anti_entropy().await });
                }
                () = &mut stop => break,
            }
        }
    }

    /// Handles one network event; waits while [`MAX_IN_FLIGHT`] messages are being handled.
    async fn on_event(&self, event: Event) {
        let glue = self.clone();
        match event {
            Event::Gossip(message) => {
                let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    glue.on_gossip(message).await;
                    drop(permit);
                });
            }
            Event::SyncRequest(request) => {
                let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(async move {
                    glue.answer(request).await;
                    drop(permit);
                });
            }
            Event::PeerAdmitted { peer, role, org } => {
                info!(%peer, role = role.as_str(), %org, "peer admitted");
                tokio::spawn(async move { glue.sync_with(peer).await });
            }
            Event::PeerRefused { peer, reason } => {
                warn!(%peer, reason = %reason, "peer refused, disconnected and blocked")
            }
            Event::Listening(address) => info!(%address, "p2p listening"),
            Event::Connected { .. } | Event::Disconnected(_) => {}
        }
    }

    async fn on_gossip(&self, message: GossipMessage) {
        let acceptance = match message.topic {
            Topic::Blocks => self.on_block(&message).await,
            Topic::Evidence => self.on_evidence(&message).await,
        };
        if let Err(e) = self
            .client
            .report(message.id, message.propagation_source, acceptance)
            .await
        {
            debug!(error = %e, "validation result not reported");
        }
    }

    async fn on_block(&self, message: &GossipMessage) -> Acceptance {
        let source = message.source;
        match take_block(&self.service, &self.metrics, &message.data, &source).await {
            Intake::Committed(run) => {
                if let Some(first) = run.first() {
                    self.fetch_missing_payloads(
                        message.propagation_source,
                        first.chain,
                        first.height,
                    )
                    .await;
                }
                Acceptance::Accept
            }
            Intake::Buffered(gap) => {
                let glue = self.clone();
                let peer = message.propagation_source;
                tokio::spawn(async move { glue.sync_chain(peer, gap.chain, gap.to + 1).await });
                Acceptance::Ignore
            }
            Intake::Equivocation { evidence, new } => {
                if new {
                    self.publish_evidence(&evidence).await;
                }
                Acceptance::Ignore
            }
            Intake::Malformed(_) => Acceptance::Reject,
            Intake::Refused { rejection, .. } => verdict(&rejection),
            Intake::Interrupted => Acceptance::Ignore,
        }
    }

    async fn on_evidence(&self, message: &GossipMessage) -> Acceptance {
        let Ok(evidence) = EquivocationEvidence::from_wire(&message.data) else {
            return Acceptance::Reject;
        };
        let service = self.service.clone();
        match blocking(move || service.with_ledger(|l| l.ingest_evidence(&evidence))).await {
            Some(Ok(true)) => {
                warn!("equivocation evidence received and kept");
                Acceptance::Accept
            }
            Some(Ok(false)) => Acceptance::Ignore,
            Some(Err(rejection)) => verdict(&rejection),
            None => Acceptance::Ignore,
        }
    }

    async fn publish_evidence(&self, evidence: &EquivocationEvidence) {
        if let Err(e) = self
            .client
            .publish(Topic::Evidence, evidence.to_wire())
            .await
        {
            debug!(error = %e, "evidence not gossiped");
        }
    }

    /// Answers one sync request from the store.
    async fn answer(&self, request: InboundRequest) {
        let service = self.service.clone();
        let query = request.request.clone();
        let response = blocking(move || super::responder::respond(&service, query))
            .await
            .unwrap_or(SyncResponse::Error(SyncError {
                code: SyncErrorCode::Internal,
                message: "the responder failed".into(),
            }));
        if let Err(e) = self.client.respond(request.reply, response).await {
            debug!(peer = %request.peer, error = %e, "sync response not sent");
        }
    }

    /// One anti-entropy round with every admitted peer.
    async fn anti_entropy(&self) {
        let peers = self.client.admitted_peers().await;
        if let Ok(peers) = &peers {
            self.metrics
                .peers
                .set(i64::try_from(peers.len()).unwrap_or(i64::MAX));
        }
        let Ok(peers) = peers else {
            return;
        };
        for (peer, _) in peers {
            self.sync_with(peer).await;
        }
    }

    /// Fetches from `peer` every block it holds that we do not.
    async fn sync_with(&self, peer: PeerId) {
        if !self
            .syncing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer)
        {
            return;
        }
        let answer = self.client.heads(peer).await;
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
            self.fill_holes(peer, &heads).await;
            for head in heads {
                let ours = self.our_next_height(head.chain).await;
                let lag = head.height.saturating_add(1).saturating_sub(ours);
                self.metrics
                    .chain_lag
                    .get_or_create(&ChainLabels {
                        chain: head.chain.to_hex(),
                    })
                    .set(i64::try_from(lag).unwrap_or(i64::MAX));
                if head.height.saturating_add(1) > ours {
                    self.sync_chain(peer, head.chain, head.height.saturating_add(1))
                        .await;
                }
            }
            self.sync_evidence(peer).await;
            if self.service.resume_writes() {
                info!(%peer, "caught up with a peer after the store was rebuilt: writes resume");
            }
        }
        self.syncing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
        let service = self.service.clone();
        if let Some(Ok(restored)) =
            blocking(move || service.with_ledger(|l| l.complete_restores(now_ms()))).await
        {
            self.metrics.repairs.inc_by(restored.len() as u64);
            for event in restored {
                info!(chain = %event.chain, from_height = event.from_height, event = event.id, "chain restored from peers: confirmed");
            }
        }
    }

    /// Fetches the equivocation evidence `peer` holds and keeps what is new and checks out, so
    /// evidence reaches a node that missed its gossip (it was restarting, or outside the mesh).
    async fn sync_evidence(&self, peer: PeerId) {
        let mut skip = 0_u32;
        // Bounded: at most 64 pages per round.
        for _ in 0..64 {
            let Ok(SyncResponse::Evidence(items)) = self.client.evidence(peer, skip).await else {
                return;
            };
            let count = items.len().min(MAX_EVIDENCE_PER_RESPONSE);
            for evidence in items.into_iter().take(MAX_EVIDENCE_PER_RESPONSE) {
                let service = self.service.clone();
                let (chain, height) = (evidence.first.header.chain, evidence.first.header.height);
                match blocking(move || service.with_ledger(|l| l.ingest_evidence(&evidence))).await
                {
                    Some(Ok(true)) => {
                        warn!(%peer, %chain, height, "equivocation evidence received from a peer by anti-entropy and kept")
                    }
                    Some(Err(rejection)) => {
                        warn!(%peer, reason = rejection.reason(), detail = %rejection, "evidence from peer does not check out")
                    }
                    _ => {}
                }
            }
            if count < MAX_EVIDENCE_PER_RESPONSE {
                return;
            }
            skip = skip.saturating_add(MAX_EVIDENCE_PER_RESPONSE as u32);
        }
    }

    async fn our_next_height(&self, chain: ChainId) -> u64 {
        let service = self.service.clone();
        blocking(move || service.with_ledger(|l| l.store().head(&chain)))
            .await
            .and_then(Result::ok)
            .flatten()
            .map_or(0, |h| h.height.saturating_add(1))
    }

    /// Fetches `chain` from `peer` until our copy reaches `until` (exclusive) or the peer stops
    /// answering with blocks that verify.
    async fn sync_chain(&self, peer: PeerId, chain: ChainId, until: u64) {
        // One range at a time: fetching the next while committing this one was measured and
        // gained nothing (the commit and the responder's reads share the same two cores).
        loop {
            let from = self.our_next_height(chain).await;
            if from >= until {
                return;
            }
            let Some(messages) = self
                .fetch_range(peer, chain, from, MAX_BLOCKS_PER_RANGE)
                .await
            else {
                return;
            };
            if self
                .commit_range(peer, chain, from, messages)
                .await
                .is_none()
            {
                return;
            }
        }
    }

    /// Fetches from `peer` the holes quarantine left below our heads, for the chains whose head
    /// `peer` holds above the hole. Before the heads comparison: a hole blocks nothing there,
    /// but the data in it is unreadable until it is filled.
    async fn fill_holes(&self, peer: PeerId, heads: &[ChainHead]) {
        let service = self.service.clone();
        let Some(Ok(holes)) = blocking(move || service.with_ledger(|l| l.holes())).await else {
            return;
        };
        for hole in holes {
            let covered = heads
                .iter()
                .any(|h| h.chain == hole.chain && h.height.saturating_add(1) >= hole.to);
            if !covered {
                continue;
            }
            info!(%peer, chain = %hole.chain, from = hole.from, to = hole.to - 1, "request quarantined range from peer");
            let mut from = hole.from;
            while from < hole.to {
                let limit = u32::try_from(hole.to - from)
                    .unwrap_or(u32::MAX)
                    .min(MAX_BLOCKS_PER_RANGE);
                let Some(messages) = self.fetch_range(peer, hole.chain, from, limit).await else {
                    break;
                };
                match self.commit_range(peer, hole.chain, from, messages).await {
                    Some(last) if last >= from => from = last + 1,
                    _ => break,
                }
            }
        }
    }

    /// Asks `peer` for up to `limit` blocks of `chain` from `from`; `None` if it has none or
    /// fails.
    async fn fetch_range(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
        limit: u32,
    ) -> Option<Vec<BlockMessage>> {
        match self.client.range(peer, chain, from, limit).await {
            Ok(SyncResponse::Range(messages)) if !messages.is_empty() => Some(messages),
            _ => None,
        }
    }

    /// Validates and commits one range from `peer`; the last height committed, if any.
    async fn commit_range(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
        messages: Vec<BlockMessage>,
    ) -> Option<u64> {
        info!(%peer, %chain, from, count = messages.len(), "request blocks from peer");
        // Payloads too large to travel inline are fetched by hash afterwards; when every block
        // brought all of its payloads, there is nothing to look for.
        let all_inline = messages.iter().all(|m| {
            let referenced: HashSet<PayloadHash> = m
                .block
                .entries
                .iter()
                .filter_map(|e| e.payload.as_ref().map(|p| p.hash))
                .collect();
            referenced.len() == m.payloads.len()
        });
        let service = self.service.clone();
        let result =
            blocking(move || service.with_ledger(|l| l.ingest_messages(messages, now_ms()))).await;
        let (committed, failure) = result?;
        self.metrics.blocks_accepted.inc_by(committed.len() as u64);
        if let Some(rejection) = &failure {
            count_rejection(&self.metrics, rejection);
            warn!(%peer, %chain, from, reason = rejection.reason(), detail = %rejection, "range from peer does not verify; asking another peer next round");
        }
        let last = committed.last().map(|c| c.height)?;
        info!(%peer, %chain, from, to = last, "blocks confirmed");
        if !all_inline {
            self.fetch_missing_payloads(peer, chain, from).await;
        }
        Some(last)
    }

    /// Fetches from `peer` the payloads of `chain` from height `from` that we do not hold.
    async fn fetch_missing_payloads(&self, peer: PeerId, chain: ChainId, from: u64) {
        let service = self.service.clone();
        let missing = blocking(move || missing_payloads(&service, chain, from))
            .await
            .unwrap_or_default();
        for hash in missing {
            match self.client.payload(peer, hash).await {
                Ok(SyncResponse::Payload(bytes)) if PayloadHash::of(&bytes) == hash => {
                    let service = self.service.clone();
                    let stored =
                        blocking(move || service.with_ledger(|l| l.restore_payload(&bytes))).await;
                    if !matches!(stored, Some(Ok(_))) {
                        warn!(payload = %hash, "payload could not be stored");
                    }
                }
                Ok(SyncResponse::Payload(_)) => {
                    warn!(%peer, payload = %hash, "peer sent a payload that does not match its hash")
                }
                _ => debug!(%peer, payload = %hash, "payload not available from peer"),
            }
        }
    }
}

fn verdict(rejection: &Rejection) -> Acceptance {
    match rejection.verdict() {
        Verdict::Reject => Acceptance::Reject,
        Verdict::Ignore | Verdict::Duplicate => Acceptance::Ignore,
    }
}

/// Runs blocking ledger work off the async runtime; `None` if the task failed.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(work).await.ok()
}

fn missing_payloads(service: &Service, chain: ChainId, from: u64) -> Vec<PayloadHash> {
    service.with_ledger(|ledger| {
        let store = ledger.store();
        let Ok(blocks) = store.blocks_range(&chain, from, MAX_BLOCKS_PER_RANGE) else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        for entry in blocks.iter().flat_map(|b| &b.entries) {
            if let Some(p) = &entry.payload
                && seen.insert(p.hash)
                && !store.has_payload(&p.hash).unwrap_or(true)
            {
                missing.push(p.hash);
            }
        }
        missing
    })
}
