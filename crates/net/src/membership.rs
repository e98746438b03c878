//! Membership gating: checking a peer's hello (network, certificate chain to the consortium root,
//! revocation, and that the certificate's key is the peer's libp2p identity), and the table of
//! peers awaiting admission and admitted, with their roles.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use libp2p::identity::{PublicKey, ed25519};
use medchain_protocol::identity::{CertError, Consortium, Member, Role};
use medchain_protocol::message::{Hello, HelloError};

/// Why a peer was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The hello itself is unacceptable (other network, sizes, agent text).
    #[error("bad hello: {0}")]
    Hello(#[from] HelloError),
    /// The certificate does not verify against the consortium (foreign CA, expired, revoked...).
    #[error("certificate refused: {0}")]
    Certificate(#[from] CertError),
    /// The certificate is valid but its key is not the peer's libp2p identity.
    #[error("certificate key does not match the peer's identity")]
    KeyMismatch,
    /// No valid hello arrived in time.
    #[error("no valid hello within the deadline")]
    Timeout,
    /// The peer's hello request or response failed (protocol not supported, stream error).
    #[error("hello exchange failed")]
    ExchangeFailed,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks `hello` from `peer` at `now_unix`: the network name and sizes, the certificate against
/// `consortium` (either role), and that the certificate's Ed25519 key is `peer`'s identity.
pub fn check_hello(
    consortium: &Consortium,
    network: &str,
    hello: &Hello,
    peer: &PeerId,
    now_unix: u64,
) -> Result<Member, Refusal> {
    hello.check(network)?;
    let member = consortium.verify(&hello.certificate, now_unix, None)?;
    let key =
        ed25519::PublicKey::try_from_bytes(&member.public_key).map_err(|_| Refusal::KeyMismatch)?;
    if PublicKey::from(key).to_peer_id() != *peer {
        return Err(Refusal::KeyMismatch);
    }
    Ok(member)
}

/// The peer ID of the member whose Ed25519 public key is `key` (a member's key is its node's
/// network identity); `None` if the bytes are not an Ed25519 key.
pub fn peer_id_of(key: &[u8]) -> Option<PeerId> {
    let key = ed25519::PublicKey::try_from_bytes(key).ok()?;
    Some(PublicKey::from(key).to_peer_id())
}

/// What we know of a connected peer.
#[derive(Clone, Debug)]
enum State {
    /// Connected; must be admitted before the deadline.
    Pending { deadline: Instant },
    /// Proven member, with the certificate it proved itself with (re-checked when the
    /// consortium's revocation list changes).
    Admitted {
        role: Role,
        certificate: Arc<[u8]>,
        /// Its certificate's end of validity, unix seconds: a renewal must end later.
        not_after: i64,
        /// When another certificate it presented was last checked (kept across a renewal, so
        /// alternating certificates cannot make every hello a check).
        renewal_checked: Option<Instant>,
    },
}

/// The membership table of connected peers.
#[derive(Debug, Default)]
pub struct Peers {
    peers: HashMap<PeerId, State>,
}

impl Peers {
    /// A peer connected: it must be admitted before `deadline`. Does nothing if it is known.
    pub fn connected(&mut self, peer: PeerId, deadline: Instant) {
        self.peers
            .entry(peer)
            .or_insert(State::Pending { deadline });
    }

    /// The peer's last connection closed.
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }

    /// Admits the peer with `role` on `certificate` (valid until `not_after`); returns true if
    /// it was not admitted before.
    pub fn admit(
        &mut self,
        peer: PeerId,
        role: Role,
        certificate: Vec<u8>,
        not_after: i64,
    ) -> bool {
        let was = matches!(self.peers.get(&peer), Some(State::Admitted { .. }));
        self.peers.insert(
            peer,
            State::Admitted {
                role,
                certificate: certificate.into(),
                not_after,
                renewal_checked: None,
            },
        );
        !was
    }

    /// The admitted `peer`'s certificate is now `renewed` (valid until `not_after`), if that
    /// ends later than the one it holds; whether it was taken.
    pub fn renew(&mut self, peer: &PeerId, renewed: Vec<u8>, until: i64) -> bool {
        match self.peers.get_mut(peer) {
            Some(State::Admitted {
                certificate,
                not_after,
                ..
            }) if until > *not_after => {
                *certificate = renewed.into();
                *not_after = until;
                true
            }
            _ => false,
        }
    }

    /// Admitted peers and the certificates they were admitted on.
    pub fn admitted_certificates(&self) -> Vec<(PeerId, &[u8])> {
        self.peers
            .iter()
            .filter_map(|(peer, state)| match state {
                State::Admitted { certificate, .. } => Some((*peer, &certificate[..])),
                State::Pending { .. } => None,
            })
            .collect()
    }

    /// The peer's role, if it is admitted.
    pub fn role(&self, peer: &PeerId) -> Option<Role> {
        match self.peers.get(peer) {
            Some(State::Admitted { role, .. }) => Some(*role),
            _ => None,
        }
    }

    /// The peer's role and the certificate it was admitted on, if it is admitted.
    pub fn admission(&self, peer: &PeerId) -> Option<(Role, Arc<[u8]>)> {
        match self.peers.get(peer) {
            Some(State::Admitted {
                role, certificate, ..
            }) => Some((*role, certificate.clone())),
            _ => None,
        }
    }

    /// Whether another certificate the admitted `peer` presents may be checked at `now` (not
    /// within `interval` of the last check); if so, the check is counted.
    pub fn may_check_renewal(&mut self, peer: &PeerId, now: Instant, interval: Duration) -> bool {
        let Some(State::Admitted {
            renewal_checked, ..
        }) = self.peers.get_mut(peer)
        else {
            return false;
        };
        if renewal_checked.is_some_and(|at| now.duration_since(at) < interval) {
            return false;
        }
        *renewal_checked = Some(now);
        true
    }

    /// Admitted peers and their roles.
    pub fn admitted(&self) -> Vec<(PeerId, Role)> {
        self.peers
            .iter()
            .filter_map(|(peer, state)| match state {
                State::Admitted { role, .. } => Some((*peer, *role)),
                State::Pending { .. } => None,
            })
            .collect()
    }

    /// Removes and returns the pending peers whose deadline has passed.
    pub fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .peers
            .iter()
            .filter_map(|(peer, state)| match state {
                State::Pending { deadline } if *deadline <= now => Some(*peer),
                _ => None,
            })
            .collect();
        for peer in &expired {
            self.peers.remove(peer);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pending_peers_expire_and_admitted_do_not() {
        let mut peers = Peers::default();
        let now = Instant::now();
        let a = PeerId::random();
        let b = PeerId::random();
        peers.connected(a, now);
        peers.connected(b, now);
        assert!(peers.admit(b, Role::Auditor, vec![1], 100));
        assert!(!peers.admit(b, Role::Auditor, vec![1], 100));
        // A renewal ends later, or is not taken; a check at most every interval.
        assert!(!peers.renew(&b, vec![2], 100));
        assert!(peers.renew(&b, vec![3], 200));
        assert_eq!(peers.admission(&b).unwrap().1[..], [3]);
        let (now, every) = (Instant::now(), Duration::from_secs(10));
        assert!(peers.may_check_renewal(&b, now, every));
        assert!(!peers.may_check_renewal(&b, now + Duration::from_secs(9), every));
        assert!(peers.may_check_renewal(&b, now + Duration::from_secs(10), every));
        assert_eq!(peers.expired(now + Duration::from_millis(1)), vec![a]);
        assert_eq!(peers.role(&b), Some(Role::Auditor));
        assert_eq!(peers.role(&a), None);
    }
}
