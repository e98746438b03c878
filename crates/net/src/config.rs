//! `net::Config`: everything the network layer needs, passed in by the caller (no environment
//! variables or files are read here).

use std::sync::Arc;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::identity::Keypair;
use medchain_protocol::identity::{Consortium, MemberKey};

/// Timeouts and bounds of the network layer.
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// A gossip message the node has not judged within this time is reported as Ignore.
    pub validation: Duration,
    /// A peer that has not proven membership within this time is disconnected and blocked.
    pub hello: Duration,
    /// An outbound sync request without a response within this time fails.
    pub request: Duration,
    /// Reading one sync frame (request or response) must finish within this time.
    pub decode: Duration,
    /// Connections with nothing to do are closed after this time.
    pub idle_connection: Duration,
    /// Gossipsub heartbeat interval.
    pub heartbeat: Duration,
    /// Delay of the first gossipsub heartbeat (the mesh forms only after it).
    pub heartbeat_initial_delay: Duration,
    /// First delay before redialling a lost bootstrap peer; doubled on each failure.
    pub redial_initial: Duration,
    /// Longest delay between redials of a bootstrap peer.
    pub redial_max: Duration,
    /// How long a refused or blocked peer stays blocked. After it, the peer may connect again
    /// (and must pass the hello again: a peer still revoked or foreign is refused and blocked
    /// anew), so the block list does not grow with every PeerId ever refused. Default 10 min.
    pub block: Duration,
    /// Least time between two checks of another certificate an admitted peer presents (a
    /// renewal): re-hellos cost a peer's chain checks nothing more often. Default 10 s.
    pub renewal_check: Duration,
    /// After this node takes a renewed certificate, it says hello again to every admitted peer
    /// this often, for `announce_for`, so a peer that missed one (a failed request, its clock
    /// behind, connected meanwhile) takes it later. Defaults 60 s and 30 min.
    pub announce_every: Duration,
    /// See `announce_every`.
    pub announce_for: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            validation: Duration::from_secs(10),
            hello: Duration::from_secs(5),
            request: Duration::from_secs(30),
            decode: Duration::from_secs(10),
            idle_connection: Duration::from_secs(60),
            heartbeat: Duration::from_secs(1),
            heartbeat_initial_delay: Duration::from_millis(500),
            redial_initial: Duration::from_secs(1),
            redial_max: Duration::from_secs(60),
            block: Duration::from_secs(600),
            renewal_check: Duration::from_secs(10),
            announce_every: Duration::from_secs(60),
            announce_for: Duration::from_secs(1800),
        }
    }
}

/// Bounds on queues, concurrency and connections: nothing a peer can make the network layer hold
/// grows past them. The defaults suit a consortium of up to a few hundred members.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Capacity of the command channel (client to event loop).
    pub commands: usize,
    /// Capacity of the event channel (event loop to node). When full, gossip is Ignored and
    /// sync requests are answered `Busy` rather than queued.
    pub events: usize,
    /// Gossip messages awaiting the node's judgement; beyond this, new ones are Ignored.
    pub pending_validations: usize,
    /// Gossip messages relayed by one peer awaiting the node's judgement; beyond this, that
    /// peer's new messages are Ignored (not forwarded) at once, so one peer cannot fill
    /// [`pending_validations`](Self::pending_validations) for everyone. Default 512, an eighth
    /// of the total.
    pub validations_per_peer: usize,
    /// Concurrent sync streams per connection (inbound and outbound).
    pub streams_per_connection: usize,
    /// Sync requests of one peer handed to the node and not yet answered; beyond this, the
    /// network layer answers `Busy` at once without involving the node. Default 2.
    pub inbound_requests_per_peer: usize,
    /// Sync requests of the node awaiting their response (all peers together); beyond this,
    /// [`Client::request`](crate::Client::request) fails with `TooManyRequests`. Default 1024.
    pub outbound_requests: usize,
    /// Blocked peers remembered (refused by membership gating or blocked by the node); when
    /// full, the oldest block ends early. Each block also ends after [`Timeouts::block`].
    /// Default 4096.
    pub blocked_peers: usize,
    /// Established connections with one peer. Two members dialling each other at the same time
    /// end up with two; one more leaves room for a reconnection overlapping the old connection.
    /// Default 3.
    pub connections_per_peer: usize,
    /// Incoming connections still in their handshake (TCP + noise + yamux). Bounds
    /// the CPU an outsider can make us spend on handshakes at once; a refused member retries.
    /// Default 128.
    pub pending_incoming_connections: usize,
    /// Outgoing dials not yet established; a bootstrap dial refused by this limit is retried
    /// with backoff. Default 128.
    pub pending_outgoing_connections: usize,
    /// Established incoming connections. Default 768: every member of a few hundred dialling
    /// us, with room for duplicates and for outsiders awaiting their hello deadline.
    pub established_incoming_connections: usize,
    /// Established outgoing connections. Default 512.
    pub established_outgoing_connections: usize,
    /// Established connections in both directions. Default 1024. Each costs the multiplexer's
    /// buffers and up to 128 queued gossip messages of up to 2 MiB for a slow peer.
    pub established_connections: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            commands: 256,
            events: 1024,
            pending_validations: 4096,
            validations_per_peer: 512,
            streams_per_connection: 16,
            inbound_requests_per_peer: 2,
            outbound_requests: 1024,
            blocked_peers: 4096,
            connections_per_peer: 3,
            pending_incoming_connections: 128,
            pending_outgoing_connections: 128,
            established_incoming_connections: 768,
            established_outgoing_connections: 512,
            established_connections: 1024,
        }
    }
}

/// Configuration of one node's network layer.
#[derive(Clone)]
pub struct Config {
    /// Network name: namespaces the gossip topics and must match every peer's hello.
    pub network: String,
    /// The node's libp2p identity, which is its member key.
    pub keypair: Keypair,
    /// The trust configuration used to check peers' certificates.
    pub consortium: Arc<Consortium>,
    /// Our member certificate (DER), sent in our hello.
    pub certificate: Vec<u8>,
    /// Software name and version sent in our hello and identify.
    pub agent: String,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, each ending in `/p2p/<peer id>`; redialled with backoff when lost.
    pub bootstrap: Vec<Multiaddr>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Bounds.
    pub bounds: Bounds,
    /// A Prometheus registry for libp2p's own metrics (swarm, gossipsub, identify, ping), named
    /// `libp2p_*` under the registry's prefix; `None` to record none.
    pub metrics: Option<Arc<std::sync::Mutex<prometheus_client::registry::Registry>>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("network", &self.network)
            .field("peer_id", &self.keypair.public().to_peer_id())
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("timeouts", &self.timeouts)
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// The member key could not be turned into a libp2p identity.
#[derive(Debug, thiserror::Error)]
#[error("member key is not a valid libp2p Ed25519 key: {0}")]
pub struct KeyError(#[from] libp2p::identity::DecodingError);

impl Config {
    /// A configuration with default timeouts and bounds, no listen addresses and no bootstrap
    /// peers. The libp2p identity is derived from the member key, so the PeerId is bound to the
    /// member certificate by the key itself.
    pub fn new(
        network: impl Into<String>,
        member_key: &MemberKey,
        certificate: Vec<u8>,
        consortium: Arc<Consortium>,
    ) -> Result<Self, KeyError> {
        let mut seed = member_key.secret_seed();
        let keypair = Keypair::ed25519_from_bytes(&mut seed[..])?;
        Ok(Config {
            network: network.into(),
            keypair,
            consortium,
            certificate,
            agent: concat!("medchain/", env!("CARGO_PKG_VERSION")).to_owned(),
            listen: Vec::new(),
            bootstrap: Vec::new(),
            timeouts: Timeouts::default(),
            bounds: Bounds::default(),
            metrics: None,
        })
    }
}
