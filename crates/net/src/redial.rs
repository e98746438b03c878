//! Bootstrap peers: dialled at start and redialled with exponential backoff whenever the
//! connection is lost or a dial fails.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

#[derive(Debug)]
struct Target {
    address: Multiaddr,
    delay: Duration,
    /// When to dial next; `None` while connected or while a dial is under way.
    next: Option<Instant>,
}

/// The bootstrap peers and their redial schedule.
#[derive(Debug)]
pub struct Redial {
    targets: HashMap<PeerId, Target>,
    initial: Duration,
    max: Duration,
}

/// The peer ID at the end of `address` (`.../p2p/<peer id>`).
pub fn peer_of(address: &Multiaddr) -> Option<PeerId> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

impl Redial {
    /// Bootstrap addresses without a `/p2p/` suffix are returned separately: they are dialled
    /// once and not redialled (their peer is not known in advance).
    pub fn new(
        bootstrap: &[Multiaddr],
        initial: Duration,
        max: Duration,
        now: Instant,
    ) -> (Self, Vec<Multiaddr>) {
        let mut targets = HashMap::new();
        let mut anonymous = Vec::new();
        for address in bootstrap {
            match peer_of(address) {
                Some(peer) => {
                    targets.insert(
                        peer,
                        Target {
                            address: address.clone(),
                            delay: initial,
                            next: Some(now),
                        },
                    );
                }
                None => anonymous.push(address.clone()),
            }
        }
        (
            Redial {
                targets,
                initial,
                max,
            },
            anonymous,
        )
    }

    /// The peer is connected: stop dialling it and reset its backoff.
    pub fn connected(&mut self, peer: &PeerId) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.delay = self.initial;
            target.next = None;
        }
    }

    /// The peer was lost or a dial to it failed: dial again after the backoff, which doubles.
    pub fn lost(&mut self, peer: &PeerId, now: Instant) {
        if let Some(target) = self.targets.get_mut(peer) {
            target.next = Some(now + target.delay);
            target.delay = (target.delay * 2).min(self.max);
        }
    }

    /// Never dial the peer again (it was refused or blocked).
    pub fn forget(&mut self, peer: &PeerId) {
        self.targets.remove(peer);
    }

    /// The addresses due for a dial now; they are not due again until `lost` is called.
    pub fn due(&mut self, now: Instant) -> Vec<Multiaddr> {
        let mut due = Vec::new();
        for target in self.targets.values_mut() {
            if target.next.is_some_and(|next| next <= now) {
                target.next = None;
                due.push(target.address.clone());
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_max_and_resets_on_connect() {
        let peer = PeerId::random();
        let address: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")
            .parse()
            .expect("address");
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let (mut redial, anonymous) = Redial::new(std::slice::from_ref(&address), s, 3 * s, t0);
        assert!(anonymous.is_empty());
        assert_eq!(redial.due(t0), vec![address.clone()]);
        assert!(redial.due(t0).is_empty());
        redial.lost(&peer, t0);
        assert!(redial.due(t0).is_empty());
        assert_eq!(redial.due(t0 + s), vec![address.clone()]);
        redial.lost(&peer, t0);
        assert!(redial.due(t0 + s).is_empty());
        assert_eq!(redial.due(t0 + 2 * s).len(), 1);
        redial.lost(&peer, t0);
        redial.lost(&peer, t0);
        assert_eq!(redial.due(t0 + 3 * s).len(), 1);
        redial.connected(&peer);
        redial.lost(&peer, t0);
        assert_eq!(redial.due(t0 + s).len(), 1);
    }
}
