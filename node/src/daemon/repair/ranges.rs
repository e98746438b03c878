//! Repair of quarantined ranges: the holes quarantine left below our heads are fetched from a
//! peer whose head covers them (heads comparisons cannot show them), and once refilled their
//! quarantine events are confirmed as restored (the paper's Figure 4: "Request Block to other
//! ... Confirmed").

use medchain_net::PeerId;
use medchain_protocol::ChainHead;
use tracing::info;

use crate::daemon::network::{Glue, blocking};
use crate::daemon::range_fetch::Start;

impl Glue {
    /// Fetches from `peer` the holes quarantine left below our heads, for the chains whose head
    /// `peer` holds above the hole. Before the heads comparison: a hole blocks nothing there,
    /// but the data in it is unreadable until it is filled.
    pub(in crate::daemon) async fn fill_holes(&self, peer: PeerId, heads: &[ChainHead]) {
        let service = self.service.clone();
        let Some(Ok(holes)) = blocking(move || service.holes()).await else {
            return;
        };
        for hole in holes {
            let covered = heads
                .iter()
                .any(|h| h.chain == hole.chain && h.height.saturating_add(1) >= hole.to);
            if !covered {
                continue;
            }
            let _turn = self.chain_turn(hole.chain).await;
            info!(%peer, chain = %hole.chain, from = hole.from, to = hole.to - 1, "request quarantined range from peer");
            self.fetch_heights(peer, hole.chain, Start::Hole(hole.from), hole.to)
                .await;
        }
    }

    /// Marks the quarantines whose ranges peers have refilled as restored, and says so.
    pub(in crate::daemon) async fn confirm_restores(&self) {
        let service = self.service.clone();
        if let Some(Ok(restored)) = blocking(move || service.complete_restores()).await {
            self.metrics.repairs.inc_by(restored.len() as u64);
            for event in restored {
                info!(chain = %event.chain, from_height = event.from_height, event = event.id, "chain restored from peers: confirmed");
            }
        }
    }
}
