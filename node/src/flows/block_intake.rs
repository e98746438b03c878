//! One way in for blocks that come from outside the node, whatever carried them: gossip, or
//! `POST /v1/blocks` (a block handed over out of band). Both decode, validate through the ledger,
//! count and log the outcome here, so a block is judged the same whichever door it knocks on.
//!
//! Refusals are logged like the paper's Figure 3 ("drop block" with chain, height, source and
//! reason); nothing refused is stored or forwarded.

use std::fmt::Display;
use std::sync::Arc;

use medchain_chain::{Committed, Decoded, Gap, Ingested, Rejection, Verdict};
use medchain_protocol::message::WireMessage;
use medchain_protocol::{BlockMessage, ChainId, EquivocationEvidence};
use tracing::{debug, error, warn};

use crate::metrics::{Metrics, ReasonLabels};
use crate::service::Service;

/// What became of one block.
#[derive(Debug)]
pub enum Intake {
    /// The bytes are not a block message; `detail` says why.
    Malformed(String),
    /// The block (and any buffered blocks it released) is stored.
    Committed(Vec<Committed>),
    /// The block waits for the blocks of `gap`.
    Buffered(Gap),
    /// Another block is held at this height: the first stays, this evidence is kept.
    Equivocation {
        /// Our block first, the conflicting one second.
        evidence: Box<EquivocationEvidence>,
        /// Whether the evidence is new to this node (and should be gossiped).
        new: bool,
    },
    /// Refused; nothing was stored.
    Refused {
        /// The block's chain.
        chain: ChainId,
        /// The block's height.
        height: u64,
        /// Why.
        rejection: Rejection,
    },
    /// The validation task failed (the node is shutting down).
    Interrupted,
}

/// Decodes `bytes` as a block message from `source` and ingests it.
pub async fn take_block(
    service: &Arc<Service>,
    metrics: &Metrics,
    bytes: &[u8],
    source: &(dyn Display + Sync),
) -> Intake {
    let decoded = match BlockMessage::from_wire(bytes) {
        Ok(message) => Decoded::from_message(message),
        Err(e) => {
            count_reason(metrics, "malformed");
            warn!(%source, reason = "malformed", detail = %e, "drop block");
            return Intake::Malformed(e.to_string());
        }
    };
    let (chain, height) = (decoded.block().header.chain, decoded.block().header.height);
    let service = service.clone();
    // A block that must wait for earlier heights counts against its sender's share.
    let origin = medchain_chain::Origin::named(&source.to_string());
    let outcome = tokio::task::spawn_blocking(move || service.ingest_block(decoded, origin))
        .await
        .map(|(outcome, buffered)| {
            metrics
                .buffered_blocks
                .set(i64::try_from(buffered).unwrap_or(i64::MAX));
            outcome
        });
    match outcome {
        Ok(Ok(Ingested::Committed(run))) => {
            metrics.blocks_accepted.inc_by(run.len() as u64);
            for c in &run {
                debug!(chain = %c.chain, height = c.height, entries = c.entries, "block accepted");
            }
            Intake::Committed(run)
        }
        Ok(Ok(Ingested::Buffered(gap))) => {
            // Debug: a member gone rogue can gossip such blocks by the hundred a second.
            debug!(chain = %gap.chain, from = gap.from, to = gap.to, %source, "gap: block waits for earlier ones");
            Intake::Buffered(gap)
        }
        Ok(Ok(Ingested::Equivocation { evidence, new })) => {
            error!(%chain, height, %source, "equivocation: a second block signed for this height; the first stays, evidence kept");
            Intake::Equivocation { evidence, new }
        }
        Ok(Err(rejection)) => {
            count_rejection(metrics, &rejection);
            log_drop(&rejection, &chain, height, source);
            Intake::Refused {
                chain,
                height,
                rejection,
            }
        }
        Err(_) => Intake::Interrupted,
    }
}

/// Counts a refusal by reason (duplicates are not refusals worth counting).
pub fn count_rejection(metrics: &Metrics, rejection: &Rejection) {
    if rejection.verdict() != Verdict::Duplicate {
        count_reason(metrics, rejection.reason());
    }
}

fn count_reason(metrics: &Metrics, reason: &str) {
    metrics
        .blocks_rejected
        .get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        })
        .inc();
}

/// The paper's Figure 3: a dropped block with its chain, height, source and reason.
fn log_drop(rejection: &Rejection, chain: &ChainId, height: u64, source: &dyn Display) {
    match rejection.verdict() {
        Verdict::Reject => {
            warn!(%chain, height, %source, reason = rejection.reason(), detail = %rejection, "drop block")
        }
        Verdict::Ignore => {
            debug!(%chain, height, %source, reason = rejection.reason(), "block not applied now")
        }
        Verdict::Duplicate => {}
    }
}
