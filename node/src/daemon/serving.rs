//! Answering peers' sync requests, shared fairly.
//!
//! Answers are read from the store without the ledger's lock (`responder`), on slots of their
//! own ([`SYNC_SLOTS`], apart from gossip validation's), one per peer at most, and each peer has
//! a byte budget: a token bucket refilled at [`SERVE_BYTES_PER_SEC`] up to
//! [`SERVE_BURST_BYTES`]. A request that finds no free slot, its peer already being served, or
//! its peer's budget spent is answered `Busy` at once (the event loop never waits on a slot, so
//! answers cannot hold up gossip or admissions). The network layer already limits each peer to
//! two requests in progress; together these keep a member gone rogue (asking for 16 MiB ranges
//! as fast as it can) to one slot and its budget, while an honest catch-up (a range committing
//! and at most one fetched ahead, far below the rate) is never slowed.

use std::collections::HashMap;
use std::time::Instant;

use medchain_net::{InboundRequest, PeerId};
use medchain_protocol::SyncResponse;
use medchain_protocol::message::{SyncError, SyncErrorCode};
use tracing::debug;

use super::network::{Glue, blocking, lock};

/// Sync answers being prepared at once (reads of up to 16 MiB each, on the blocking pool).
pub const SYNC_SLOTS: usize = 2;
/// What one peer may be served per second, sustained.
pub const SERVE_BYTES_PER_SEC: f64 = 128.0 * 1024.0 * 1024.0;
/// What one peer may be served in a burst.
pub const SERVE_BURST_BYTES: f64 = 512.0 * 1024.0 * 1024.0;
/// Most peers with a budget tracked (admitted members; more are forgotten, full again).
const MAX_BUDGETS: usize = 1024;

/// Per-peer token buckets of bytes served.
#[derive(Debug, Default)]
pub struct Budgets {
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl Budgets {
    /// Whether `peer` has budget left at `now` (refilled since its last answer).
    pub fn allows(&mut self, peer: &PeerId, now: Instant) -> bool {
        self.refill(peer, now) > 0.0
    }

    /// Charges `bytes` served to `peer`.
    pub fn charge(&mut self, peer: PeerId, bytes: usize, now: Instant) {
        let left = self.refill(&peer, now) - bytes as f64;
        if self.buckets.len() >= MAX_BUDGETS && !self.buckets.contains_key(&peer) {
            // Forget the peer with the fullest bucket: it loses nothing by it.
            if let Some(full) = self
                .buckets
                .iter()
                .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
                .map(|(p, _)| *p)
            {
                self.buckets.remove(&full);
            }
        }
        self.buckets.insert(peer, (left, now));
    }

    fn refill(&mut self, peer: &PeerId, now: Instant) -> f64 {
        match self.buckets.get(peer) {
            None => SERVE_BURST_BYTES,
            Some((tokens, at)) => {
                let earned = now.saturating_duration_since(*at).as_secs_f64() * SERVE_BYTES_PER_SEC;
                (tokens + earned).min(SERVE_BURST_BYTES)
            }
        }
    }
}

impl Glue {
    /// Takes one sync request without waiting: a slot free and none held by this peer, it is
    /// answered on a task of its own; otherwise answered `Busy`.
    pub(super) fn on_sync_request(&self, request: InboundRequest) {
        let glue = self.clone();
        let peer = request.peer;
        let first_for_peer = lock(&self.serving).insert(peer);
        let permit = first_for_peer
            .then(|| self.sync_slots.clone().try_acquire_owned().ok())
            .flatten();
        let Some(permit) = permit else {
            if first_for_peer {
                lock(&self.serving).remove(&peer);
            }
            tokio::spawn(async move {
                let busy = error_answer(SyncErrorCode::Busy, "node busy: try again shortly");
                if let Err(e) = glue.client.respond(request.reply, busy).await {
                    debug!(%peer, error = %e, "busy answer not sent");
                }
            });
            return;
        };
        tokio::spawn(async move {
            glue.answer(request).await;
            lock(&glue.serving).remove(&peer);
            drop(permit);
        });
    }

    /// Answers one sync request from the store, within the peer's byte budget.
    async fn answer(&self, request: InboundRequest) {
        let peer = request.peer;
        let response = if lock(&self.budgets).allows(&peer, Instant::now()) {
            let service = self.service.clone();
            let query = request.request.clone();
            let requester = request.certificate.clone();
            match blocking(move || super::responder::respond(&service, query, &requester)).await {
                Some((response, size)) => {
                    lock(&self.budgets).charge(peer, size, Instant::now());
                    response
                }
                None => error_answer(SyncErrorCode::Internal, "the responder failed"),
            }
        } else {
            debug!(%peer, "sync answer refused: the peer has used its share of bytes for now");
            error_answer(
                SyncErrorCode::Busy,
                "this peer's share of answers is used up for now",
            )
        };
        if let Err(e) = self.client.respond(request.reply, response).await {
            debug!(%peer, error = %e, "sync response not sent");
        }
    }
}

fn error_answer(code: SyncErrorCode, message: &str) -> SyncResponse {
    SyncResponse::Error(SyncError {
        code,
        message: message.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_that_spent_its_budget_waits_for_it_to_refill() {
        let mut budgets = Budgets::default();
        let (rogue, honest) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        assert!(budgets.allows(&rogue, now));
        budgets.charge(rogue, SERVE_BURST_BYTES as usize + 1, now);
        assert!(!budgets.allows(&rogue, now));
        assert!(budgets.allows(&honest, now));
        assert!(budgets.allows(&rogue, now + Duration::from_millis(100)));
    }
}
