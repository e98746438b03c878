//! Connection limits: how many connections may be pending (in handshake) and established, in
//! each direction, in total and per peer. Beyond a limit the swarm refuses the connection
//! before any other behaviour sees it.
//!
//! This is `libp2p::connection_limits` with one difference, and the reason it exists:
//! libp2p-connection-limits 0.7 keeps an (empty) per-peer entry for every peer that ever
//! connected, so an outsider minting a fresh PeerId per connection grows it without bound. Here
//! a peer's entry is removed with its last connection, so every set is bounded by the limits.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::swarm::behaviour::{ConnectionEstablished, DialFailure, ListenFailure};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

use crate::config::Bounds;

/// The limits enforced; each is the most connections allowed of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Incoming connections still in their handshake (noise, multiplexer).
    pub pending_incoming: usize,
    /// Outgoing dials not yet established.
    pub pending_outgoing: usize,
    /// Established incoming connections.
    pub established_incoming: usize,
    /// Established outgoing connections.
    pub established_outgoing: usize,
    /// Established connections in both directions.
    pub established_total: usize,
    /// Established connections with one peer.
    pub established_per_peer: usize,
}

impl From<&Bounds> for Limits {
    fn from(bounds: &Bounds) -> Self {
        Limits {
            pending_incoming: bounds.pending_incoming_connections,
            pending_outgoing: bounds.pending_outgoing_connections,
            established_incoming: bounds.established_incoming_connections,
            established_outgoing: bounds.established_outgoing_connections,
            established_total: bounds.established_connections,
            established_per_peer: bounds.connections_per_peer,
        }
    }
}

/// Which limit refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// [`Limits::pending_incoming`].
    PendingIncoming,
    /// [`Limits::pending_outgoing`].
    PendingOutgoing,
    /// [`Limits::established_incoming`].
    EstablishedIncoming,
    /// [`Limits::established_outgoing`].
    EstablishedOutgoing,
    /// [`Limits::established_total`].
    EstablishedTotal,
    /// [`Limits::established_per_peer`].
    EstablishedPerPeer,
}

/// A connection refused because a limit was reached; the cause inside the swarm's
/// `ListenError::Denied` or `DialError::Denied`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection limit reached: {kind:?} at {limit}")]
pub struct Exceeded {
    /// The limit reached.
    pub kind: Kind,
    /// Its value.
    pub limit: usize,
}

fn check(kind: Kind, limit: usize, current: usize) -> Result<(), ConnectionDenied> {
    if current >= limit {
        return Err(ConnectionDenied::new(Exceeded { kind, limit }));
    }
    Ok(())
}

/// The behaviour enforcing [`Limits`]. Every set holds at most as many connections as its limit
/// allows (pending sets: only connections that passed the check are recorded).
#[derive(Debug)]
pub struct Behaviour {
    limits: Limits,
    pending_incoming: HashSet<ConnectionId>,
    pending_outgoing: HashSet<ConnectionId>,
    established_incoming: HashSet<ConnectionId>,
    established_outgoing: HashSet<ConnectionId>,
    /// Only peers with at least one established connection have an entry.
    per_peer: HashMap<PeerId, HashSet<ConnectionId>>,
}

impl Behaviour {
    /// A behaviour enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Behaviour {
            limits,
            pending_incoming: HashSet::new(),
            pending_outgoing: HashSet::new(),
            established_incoming: HashSet::new(),
            established_outgoing: HashSet::new(),
            per_peer: HashMap::new(),
        }
    }

    /// Peers with at least one established connection.
    pub fn peers(&self) -> usize {
        self.per_peer.len()
    }

    fn check_established(&self, peer: &PeerId, direction: Kind) -> Result<(), ConnectionDenied> {
        let (limit, current) = match direction {
            Kind::EstablishedIncoming => (
                self.limits.established_incoming,
                self.established_incoming.len(),
            ),
            _ => (
                self.limits.established_outgoing,
                self.established_outgoing.len(),
            ),
        };
        check(direction, limit, current)?;
        check(
            Kind::EstablishedPerPeer,
            self.limits.established_per_peer,
            self.per_peer.get(peer).map_or(0, HashSet::len),
        )?;
        check(
            Kind::EstablishedTotal,
            self.limits.established_total,
            self.established_incoming.len() + self.established_outgoing.len(),
        )
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        check(
            Kind::PendingIncoming,
            self.limits.pending_incoming,
            self.pending_incoming.len(),
        )?;
        self.pending_incoming.insert(connection_id);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_incoming.remove(&connection_id);
        self.check_established(&peer, Kind::EstablishedIncoming)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _: Option<PeerId>,
        _: &[Multiaddr],
        _: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        check(
            Kind::PendingOutgoing,
            self.limits.pending_outgoing,
            self.pending_outgoing.len(),
        )?;
        self.pending_outgoing.insert(connection_id);
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_outgoing.remove(&connection_id);
        self.check_established(&peer, Kind::EstablishedOutgoing)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            // Counted only once every behaviour accepted the connection: one refused by a later
            // behaviour is never established, and would otherwise stay counted.
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                match endpoint {
                    ConnectedPoint::Listener { .. } => {
                        self.established_incoming.insert(connection_id);
                    }
                    ConnectedPoint::Dialer { .. } => {
                        self.established_outgoing.insert(connection_id);
                    }
                }
                self.per_peer
                    .entry(peer_id)
                    .or_default()
                    .insert(connection_id);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                ..
            }) => {
                self.established_incoming.remove(&connection_id);
                self.established_outgoing.remove(&connection_id);
                if let Some(connections) = self.per_peer.get_mut(&peer_id) {
                    connections.remove(&connection_id);
                    if connections.is_empty() {
                        self.per_peer.remove(&peer_id);
                    }
                }
            }
            FromSwarm::DialFailure(DialFailure { connection_id, .. }) => {
                self.pending_outgoing.remove(&connection_id);
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.pending_incoming.remove(&connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener() -> ConnectedPoint {
        ConnectedPoint::Listener {
            local_addr: Multiaddr::empty(),
            send_back_addr: Multiaddr::empty(),
        }
    }

    fn establish(limits: &mut Behaviour, peer: PeerId, id: usize) -> Result<(), ConnectionDenied> {
        let connection = ConnectionId::new_unchecked(id);
        let addr = Multiaddr::empty();
        limits.handle_pending_inbound_connection(connection, &addr, &addr)?;
        limits.handle_established_inbound_connection(connection, peer, &addr, &addr)?;
        limits.on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished {
            peer_id: peer,
            connection_id: connection,
            endpoint: &listener(),
            failed_addresses: &[],
            other_established: 0,
        }));
        Ok(())
    }

    fn close(limits: &mut Behaviour, peer: PeerId, id: usize) {
        limits.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed {
            peer_id: peer,
            connection_id: ConnectionId::new_unchecked(id),
            endpoint: &listener(),
            cause: None,
            remaining_established: 0,
        }));
    }

    fn limits() -> Limits {
        Limits {
            pending_incoming: 4,
            pending_outgoing: 4,
            established_incoming: 3,
            established_outgoing: 4,
            established_total: 8,
            established_per_peer: 2,
        }
    }

    #[test]
    fn a_peer_that_leaves_leaves_nothing_behind() {
        let mut limits = Behaviour::new(limits());
        for id in 0..100 {
            let peer = PeerId::random();
            establish(&mut limits, peer, id).expect("within limits");
            close(&mut limits, peer, id);
        }
        assert_eq!(limits.peers(), 0);
        assert!(limits.per_peer.is_empty() && limits.established_incoming.is_empty());
        assert!(limits.pending_incoming.is_empty());
    }

    #[test]
    fn per_peer_and_incoming_limits_refuse() {
        let mut limits = Behaviour::new(limits());
        let peer = PeerId::random();
        establish(&mut limits, peer, 1).expect("first");
        establish(&mut limits, peer, 2).expect("second");
        let denied = establish(&mut limits, peer, 3).expect_err("third from one peer");
        let exceeded = denied.downcast::<Exceeded>().expect("our refusal");
        assert_eq!(exceeded.kind, Kind::EstablishedPerPeer);
        establish(&mut limits, PeerId::random(), 4).expect("another peer");
        let denied = establish(&mut limits, PeerId::random(), 5).expect_err("fourth incoming");
        let exceeded = denied.downcast::<Exceeded>().expect("our refusal");
        assert_eq!(exceeded.kind, Kind::EstablishedIncoming);
        close(&mut limits, peer, 1);
        establish(&mut limits, PeerId::random(), 6).expect("room again");
    }
}
