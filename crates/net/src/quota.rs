//! Per-peer quotas on what a peer can make the node hold for it, so that one peer (a member gone
//! rogue) cannot take the capacity honest peers need: sync requests handed to the node and not
//! yet answered ([`InboundSlots`]), and gossip awaiting the node's judgement
//! ([`PendingValidations`]).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use libp2p::request_response::InboundRequestId;

/// Sync requests handed to the node and not yet answered in full, per peer. A slot is taken
/// when a request goes to the node and given back when libp2p reports the answer written or the
/// request failed (timeout, connection closed, handle dropped), when the answer cannot be handed
/// to libp2p, or when the peer disconnects; giving back twice is harmless. Not when the node
/// hands over its answer: an answer still being written to a slow reader holds memory for that
/// peer.
#[derive(Debug)]
pub struct InboundSlots {
    per_peer: usize,
    /// Only peers holding at least one slot have an entry; each set holds at most `per_peer`.
    held: HashMap<PeerId, HashSet<InboundRequestId>>,
}

impl InboundSlots {
    /// At most `per_peer` requests of each peer with the node at once (at least one).
    pub fn new(per_peer: usize) -> Self {
        InboundSlots {
            per_peer: per_peer.max(1),
            held: HashMap::new(),
        }
    }

    /// Takes a slot of `peer` for `request`; false if the peer has none left.
    pub fn take(&mut self, peer: PeerId, request: InboundRequestId) -> bool {
        let held = self.held.entry(peer).or_default();
        if held.len() >= self.per_peer {
            return false;
        }
        held.insert(request);
        true
    }

    /// Gives back the slot `request` of `peer` holds, if it holds one.
    pub fn give_back(&mut self, peer: &PeerId, request: InboundRequestId) {
        if let Some(held) = self.held.get_mut(peer) {
            held.remove(&request);
            if held.is_empty() {
                self.held.remove(peer);
            }
        }
    }

    /// Gives back every slot of `peer` (it disconnected).
    pub fn forget(&mut self, peer: &PeerId) {
        self.held.remove(peer);
    }

    /// Slots `peer` holds.
    pub fn held(&self, peer: &PeerId) -> usize {
        self.held.get(peer).map_or(0, HashSet::len)
    }
}

/// Why a gossip message was not queued for the node's judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueueFull {
    /// Every slot is taken.
    #[error("too many messages await judgement")]
    Total,
    /// The relaying peer has used its quota.
    #[error("too many messages from this relay await judgement")]
    Relay,
}

/// Gossip messages awaiting the node's judgement, with their relaying peer and deadline: at most
/// `total` of them, and at most `per_relay` from any one relaying peer.
#[derive(Debug)]
pub struct PendingValidations {
    total: usize,
    per_relay: usize,
    messages: HashMap<MessageId, (PeerId, Instant)>,
    /// Messages pending per relay; only relays with at least one have an entry.
    by_relay: HashMap<PeerId, usize>,
}

impl PendingValidations {
    /// At most `total` messages, `per_relay` from any one relay.
    pub fn new(total: usize, per_relay: usize) -> Self {
        PendingValidations {
            total,
            per_relay,
            messages: HashMap::new(),
            by_relay: HashMap::new(),
        }
    }

    /// Queues message `id` from `relay`, to be judged by `deadline`.
    pub fn insert(
        &mut self,
        id: MessageId,
        relay: PeerId,
        deadline: Instant,
    ) -> Result<(), QueueFull> {
        // Gossipsub delivers a message once; should it come again, the new copy replaces the old.
        self.remove(&id);
        if self.messages.len() >= self.total {
            return Err(QueueFull::Total);
        }
        let from_relay = self.by_relay.entry(relay).or_default();
        if *from_relay >= self.per_relay {
            if *from_relay == 0 {
                self.by_relay.remove(&relay);
            }
            return Err(QueueFull::Relay);
        }
        *from_relay += 1;
        self.messages.insert(id, (relay, deadline));
        Ok(())
    }

    /// Removes message `id`; returns its relay if it was pending.
    pub fn remove(&mut self, id: &MessageId) -> Option<PeerId> {
        let (relay, _) = self.messages.remove(id)?;
        if let Some(count) = self.by_relay.get_mut(&relay) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.by_relay.remove(&relay);
            }
        }
        Some(relay)
    }

    /// Removes and returns the messages whose deadline has passed by `now`, with their relays.
    pub fn overdue(&mut self, now: Instant) -> Vec<(MessageId, PeerId)> {
        let overdue: Vec<MessageId> = self
            .messages
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        overdue
            .into_iter()
            .filter_map(|id| self.remove(&id).map(|relay| (id, relay)))
            .collect()
    }

    /// Messages pending.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Messages pending from `relay`.
    pub fn from_relay(&self, relay: &PeerId) -> usize {
        self.by_relay.get(relay).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn id(n: u8) -> MessageId {
        MessageId::from(vec![n])
    }

    #[test]
    fn one_relay_cannot_take_every_slot() {
        let now = Instant::now();
        let mut pending = PendingValidations::new(4, 2);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(pending.insert(id(1), a, now), Ok(()));
        assert_eq!(pending.insert(id(2), a, now), Ok(()));
        assert_eq!(pending.insert(id(3), a, now), Err(QueueFull::Relay));
        assert_eq!(pending.insert(id(4), b, now), Ok(()));
        assert_eq!(pending.remove(&id(1)), Some(a));
        assert_eq!(pending.insert(id(3), a, now), Ok(()));
        assert_eq!(pending.insert(id(5), b, now), Ok(()));
        assert_eq!(
            pending.insert(id(6), PeerId::random(), now),
            Err(QueueFull::Total)
        );
        assert_eq!(pending.from_relay(&a), 2);
        let late = now + Duration::from_secs(1);
        assert_eq!(pending.overdue(late).len(), 4);
        assert!(pending.is_empty());
        assert_eq!(pending.from_relay(&a), 0);
        assert!(pending.by_relay.is_empty());
    }

    #[test]
    fn a_zero_quota_leaves_no_entry_behind() {
        let mut pending = PendingValidations::new(4, 0);
        let relay = PeerId::random();
        assert_eq!(
            pending.insert(id(1), relay, Instant::now()),
            Err(QueueFull::Relay)
        );
        assert!(pending.by_relay.is_empty());
    }
}
