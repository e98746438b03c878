//! Gossip handling in the network task: every received message gets exactly one judgement.
//! Messages from peers that are not admitted, or published by auditors, are judged here; so are
//! those beyond the queue of messages awaiting the node (in total, or from their relaying peer);
//! the rest go to the node, and those it does not judge within the validation timeout are
//! Ignored.

use std::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use medchain_protocol::identity::Role;

use crate::event::{Event, GossipMessage};
use crate::event_loop::EventLoop;
use crate::quota::QueueFull;

impl EventLoop {
    pub(crate) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => self.on_message(propagation_source, message_id, message),
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(peer = %peer_id, %topic, "peer subscribed");
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                tracing::debug!(peer = %peer_id, "slow gossip peer");
            }
            other => tracing::trace!(?other, "gossipsub"),
        }
    }

    fn judge(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_message(&mut self, relay: PeerId, id: MessageId, message: gossipsub::Message) {
        let Some(topic) = self.topics.lookup(&message.topic) else {
            tracing::debug!(%relay, "gossip on a foreign topic; rejected");
            return self.judge(&id, &relay, MessageAcceptance::Reject);
        };
        let Some(source) = message.source else {
            tracing::debug!(%relay, "unsigned gossip; rejected");
            return self.judge(&id, &relay, MessageAcceptance::Reject);
        };
        match (self.peers.role(&relay), self.peers.role(&source)) {
            (None, _) => {
                tracing::debug!(%relay, "gossip from a peer not admitted; ignored");
                return self.judge(&id, &relay, MessageAcceptance::Ignore);
            }
            (_, Some(Role::Auditor)) => {
                tracing::warn!(%relay, %source, "gossip published by an auditor; rejected");
                return self.judge(&id, &relay, MessageAcceptance::Reject);
            }
            (Some(Role::Auditor), _) => {
                // An auditor relaying someone else's message: not forwarded, not penalised.
                return self.judge(&id, &relay, MessageAcceptance::Ignore);
            }
            (Some(Role::Provider), _) => {}
        }
        let deadline = Instant::now() + self.timeouts.validation;
        if let Err(full) = self.validations.insert(id.clone(), relay, deadline) {
            // Ignored, not Rejected: a busy node is not the relay's fault. Not forwarded either;
            // the node fetches what it missed by anti-entropy.
            match full {
                QueueFull::Total => tracing::warn!(%relay, "{full}; ignored"),
                // A flooding relay must not flood the log too.
                QueueFull::Relay => tracing::debug!(%relay, "{full}; ignored"),
            }
            return self.judge(&id, &relay, MessageAcceptance::Ignore);
        }
        let event = Event::Gossip(GossipMessage {
            id: id.clone(),
            topic,
            source,
            propagation_source: relay,
            data: message.data,
        });
        if self.emit(event).is_err() {
            self.validations.remove(&id);
            self.judge(&id, &relay, MessageAcceptance::Ignore);
        }
    }

    /// The node's judgement; returns whether the message was still awaiting it.
    pub(crate) fn report(
        &mut self,
        id: &MessageId,
        relay: PeerId,
        acceptance: MessageAcceptance,
    ) -> bool {
        match self.validations.remove(id) {
            Some(pending_relay) => {
                if pending_relay != relay {
                    tracing::debug!(%relay, %pending_relay, "judgement names another relay");
                }
                self.judge(id, &pending_relay, acceptance);
                true
            }
            None => false,
        }
    }

    /// Ignores every message whose judgement is overdue.
    pub(crate) fn expire_validations(&mut self, now: Instant) {
        for (id, relay) in self.validations.overdue(now) {
            tracing::debug!(message = %id, "judgement overdue; ignored");
            self.judge(&id, &relay, MessageAcceptance::Ignore);
        }
    }
}
