//! Gossip in: a block or evidence message from the mesh is decoded and judged (blocks through
//! `flows::block_intake`, the same door as `POST /v1/blocks`) before gossipsub hears Accept,
//! Reject or Ignore: nothing is forwarded before that. A block that waits for earlier heights
//! has its gap fetched from the peer that relayed it; a committed one, its payloads that did not
//! travel inline; new equivocation evidence is gossiped on.

use medchain_chain::{Rejection, Verdict};
use medchain_net::{Acceptance, GossipMessage, Topic};
use medchain_protocol::EquivocationEvidence;
use medchain_protocol::message::WireMessage;
use tracing::{debug, warn};

use super::network::{Glue, blocking};
use crate::flows::block_intake::{Intake, take_block};

impl Glue {
    pub(super) async fn on_gossip(&self, message: GossipMessage) {
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
                self.fetch_gap(message.propagation_source, gap);
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
        match blocking(move || service.ingest_evidence(&evidence)).await {
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
}

fn verdict(rejection: &Rejection) -> Acceptance {
    match rejection.verdict() {
        Verdict::Reject => Acceptance::Reject,
        Verdict::Ignore | Verdict::Duplicate => Acceptance::Ignore,
    }
}
