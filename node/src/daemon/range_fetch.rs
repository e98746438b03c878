//! Fetching a chain from one peer, range by range, as a pipeline: while one range commits
//! (the ledger's one writer, on the blocking pool), the next is fetched and prechecked
//! (structure, hashes and inline payloads: `medchain_chain::precheck_range`, off the ledger's
//! lock, at most [`PRECHECK_SLOTS`] at once). A range answer must be consecutive heights of the
//! chain asked for, from the height asked for.
//!
//! Memory: each chain fetch holds the range it commits, as it did before the pipeline, and at
//! most [`RANGES_AHEAD`] ranges are fetched ahead on the node at once. A fetch ahead takes its
//! slot only if one is free, never waits for it, and holds it until its range becomes the one
//! its chain fetch commits (the slot goes into the blocking precheck, so a round cut short by
//! its time limit cannot free it while the range is still in memory). A slow or hostile peer
//! keeping the slot busy therefore only turns the other pipelines back into one range at a
//! time; it cannot stall them. The chain fetch holding the slot usually takes it again for its
//! next range, so one chain at a time is pipelined: the commits, one at a time under the
//! ledger's lock, are the bound anyway. A fetch ahead is aborted when nothing of the range
//! before it commits, and none starts before a range of the same fetch has committed.

use std::collections::HashSet;

use medchain_chain::{PrecheckedRange, precheck_range};
use medchain_net::PeerId;
use medchain_protocol::limits::MAX_BLOCKS_PER_RANGE;
use medchain_protocol::{BlockMessage, ChainId, PayloadHash, SyncRequest, SyncResponse};
use tokio::sync::OwnedSemaphorePermit;
use tracing::{info, warn};

use super::network::{Glue, blocking};
use crate::flows::block_intake::count_rejection;

/// Ranges prechecked at once on this node (decoding and hashing on the blocking pool).
pub const PRECHECK_SLOTS: usize = 2;
/// `Range` answers fetched ahead of their turn at once on this node, from request until they
/// are the range their chain fetch commits (each up to `MAX_SYNC_RESPONSE_BYTES`, 16 MiB, on the
/// wire).
pub const RANGES_AHEAD: usize = 1;

/// Where a fetch starts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Start {
    /// At our copy's next height, read again after every range (anti-entropy, gossip gaps).
    OurHead,
    /// At this height, below our head (a hole quarantine left), then after each range committed.
    Hole(u64),
}

/// Blocks to ask for from `from`: at most [`MAX_BLOCKS_PER_RANGE`], none at or above `until`.
fn limit(from: u64, until: u64) -> u32 {
    u32::try_from(until.saturating_sub(from))
        .unwrap_or(u32::MAX)
        .min(MAX_BLOCKS_PER_RANGE)
}

/// A range fetched from a peer and prechecked, waiting for its commit.
pub(super) struct FetchedRange {
    /// The height asked for.
    from: u64,
    range: PrecheckedRange,
    /// Whether every block brought every payload it references (nothing to fetch by hash).
    all_inline: bool,
    /// Its share of [`RANGES_AHEAD`] while it waits as the range fetched ahead.
    ahead: Option<OwnedSemaphorePermit>,
}

impl Glue {
    /// [`Glue::fetch_chain`] for a caller that holds the chain's fetch turn: from our head up.
    pub(super) async fn fetch_chain_in_turn(
        &self,
        peer: PeerId,
        chain: ChainId,
        until: u64,
    ) -> bool {
        self.fetch_heights(peer, chain, Start::OurHead, until).await
    }

    /// Fetches and commits `chain` from `peer`, range by range as a pipeline, from `start` up to
    /// `until` (exclusive), until the peer stops answering with blocks that verify; whether
    /// anything was committed. The caller holds the chain's fetch turn.
    pub(super) async fn fetch_heights(
        &self,
        peer: PeerId,
        chain: ChainId,
        start: Start,
        until: u64,
    ) -> bool {
        let mut committed = false;
        let mut prefetched: Option<FetchedRange> = None;
        let mut hole_from = match start {
            Start::OurHead => None,
            Start::Hole(from) => Some(from),
        };
        loop {
            let from = match hole_from {
                Some(from) => from,
                None => self.our_next_height(chain).await,
            };
            if from >= until {
                return committed;
            }
            // The range fetched while the last one committed is used if it starts where it
            // should now (gossip may have moved our head meanwhile); a stale one is dropped
            // before anything else is awaited.
            let current = match prefetched.take().filter(|range| range.from == from) {
                // Now this chain fetch's range in hand: its slot ahead is free for the next.
                Some(range) => FetchedRange {
                    ahead: None,
                    ..range
                },
                None => match self
                    .fetch_range(peer, chain, from, limit(from, until), None)
                    .await
                {
                    Some(range) => range,
                    None => return committed,
                },
            };
            // If this range commits whole, the next one starts where it ends: fetched meanwhile
            // if a slot is free, once a range of this fetch has committed. Not before: a peer
            // must first show it serves blocks that verify, or a rogue announcing made-up
            // chains would draw two requests per chain instead of one.
            let ahead = current
                .range
                .next_height()
                .filter(|next| committed && *next < until && current.range.failure().is_none())
                .and_then(|next| self.fetch_ahead(peer, chain, next, until));
            let last = self.commit_range(peer, chain, current).await;
            let Some(last) = last.filter(|last| *last >= from) else {
                // Dropping `ahead` aborts the fetch ahead.
                return committed;
            };
            let next = match ahead {
                Some(mut ahead) => (&mut ahead.0).await.ok().flatten(),
                None => None,
            };
            committed = true;
            prefetched = next;
            if hole_from.is_some() {
                hole_from = Some(last.saturating_add(1));
            }
        }
    }

    /// Starts fetching the range from `next` ahead of its turn, if one of the node's
    /// [`RANGES_AHEAD`] slots is free.
    fn fetch_ahead(
        &self,
        peer: PeerId,
        chain: ChainId,
        next: u64,
        until: u64,
    ) -> Option<AbortOnDrop<Option<FetchedRange>>> {
        let slot = self.ahead_slots.clone().try_acquire_owned().ok()?;
        let glue = self.clone();
        Some(AbortOnDrop(tokio::spawn(async move {
            glue.fetch_range(peer, chain, next, limit(next, until), Some(slot))
                .await
        })))
    }

    /// Asks `peer` for up to `limit` blocks of `chain` from `from` and prechecks the answer;
    /// `None` if it has none or fails. `ahead` is the slot of a range fetched ahead.
    pub(super) async fn fetch_range(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
        limit: u32,
        ahead: Option<OwnedSemaphorePermit>,
    ) -> Option<FetchedRange> {
        info!(%peer, %chain, from, limit, "request blocks from peer");
        let messages = match self
            .ask(peer, SyncRequest::Range { chain, from, limit })
            .await
        {
            Ok(SyncResponse::Range(messages)) if !messages.is_empty() => messages,
            _ => return None,
        };
        let slot = self.precheck_slots.clone().acquire_owned().await.ok()?;
        // Both slots go with the work: if this task is aborted meanwhile, they are freed only
        // when the precheck ends and its range is dropped. The walk over every entry for
        // `all_inline` is done there too, off the async runtime's threads.
        let (range, all_inline, ahead) = blocking(move || {
            let _slot = slot;
            let all_inline = messages.iter().all(brings_every_payload);
            (precheck_range(chain, from, messages), all_inline, ahead)
        })
        .await?;
        Some(FetchedRange {
            from,
            range,
            all_inline,
            ahead,
        })
    }

    /// Validates and commits one fetched range from `peer`; the last height committed, if any.
    pub(super) async fn commit_range(
        &self,
        peer: PeerId,
        chain: ChainId,
        fetched: FetchedRange,
    ) -> Option<u64> {
        let FetchedRange {
            from,
            range,
            all_inline,
            ahead,
        } = fetched;
        let range_end = range.next_height();
        let service = self.service.clone();
        let (committed, failure) = blocking(move || {
            // Always `None` here (a range fetched ahead hands its slot back when it becomes
            // current); dropped with the work all the same.
            let _ahead = ahead;
            service.ingest_prechecked(range)
        })
        .await?;
        self.metrics.blocks_accepted.inc_by(committed.len() as u64);
        if let Some(rejection) = &failure {
            count_rejection(&self.metrics, rejection);
            warn!(%peer, %chain, from, reason = rejection.reason(), detail = %rejection, "range from peer does not verify; asking another peer next round");
        }
        let last = committed.last().map(|c| c.height)?;
        info!(%peer, %chain, from, to = last, count = committed.len(), "blocks confirmed");
        // Payloads too large to travel inline are fetched by hash afterwards; when every block
        // brought all of its payloads, there is nothing to look for. Blocks the range released
        // from the out-of-order buffer (gossiped ahead of it, above its end) came without the
        // range: whatever they did not bring is looked for too.
        let released = range_end.is_some_and(|end| last >= end);
        if !all_inline || released {
            self.fetch_missing_payloads(peer, chain, from).await;
        }
        Some(last)
    }
}

/// A spawned task aborted when its handle is dropped (a fetch ahead nobody will use).
pub(super) struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `message` brings every payload its entries reference.
fn brings_every_payload(message: &BlockMessage) -> bool {
    let referenced: HashSet<PayloadHash> = message
        .block
        .entries
        .iter()
        .filter_map(|e| e.payload.as_ref().map(|p| p.hash))
        .collect();
    referenced.len() == message.payloads.len()
}
