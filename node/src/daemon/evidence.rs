//! Evidence by anti-entropy: the equivocation evidence a peer holds, fetched page by page and
//! kept when it checks out, so evidence reaches a node that missed its gossip.

use medchain_net::PeerId;
use medchain_protocol::limits::MAX_EVIDENCE_PER_RESPONSE;
use medchain_protocol::{SyncRequest, SyncResponse};
use tracing::warn;

use super::network::{Glue, blocking};

impl Glue {
    /// Fetches the equivocation evidence `peer` holds and keeps what is new and checks out, so
    /// evidence reaches a node that missed its gossip (it was restarting, or outside the mesh).
    pub(super) async fn fetch_evidence(&self, peer: PeerId) {
        let mut skip = 0_u32;
        // Bounded: at most 64 pages per round.
        for _ in 0..64 {
            let request = SyncRequest::Evidence { skip };
            let Ok(SyncResponse::Evidence(items)) = self.ask(peer, request).await else {
                return;
            };
            let count = items.len().min(MAX_EVIDENCE_PER_RESPONSE);
            for evidence in items.into_iter().take(MAX_EVIDENCE_PER_RESPONSE) {
                let service = self.service.clone();
                let (chain, height) = (evidence.first.header.chain, evidence.first.header.height);
                match blocking(move || service.ingest_evidence(&evidence)).await {
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
}
