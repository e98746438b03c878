//! The composed libp2p behaviour: the block list used by membership gating, connection limits,
//! gossipsub (validated, strictly signed, scored, filtered), the sync request-response protocol,
//! identify and ping.

use std::time::Duration;

use libp2p::gossipsub::{
    self, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    ValidationMode, WhitelistSubscriptionFilter,
};
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{allow_block_list, identify, ping, request_response};
use medchain_protocol::hash::Domain;
use medchain_protocol::limits::MAX_GOSSIP_BYTES;
use medchain_protocol::message::{SyncRequest, SyncResponse};

use crate::codec::{PROTOCOL, SyncCodec};
use crate::config::Config;
use crate::connection_limits;
use crate::topics::{Topic, Topics};

/// The largest gossipsub frame we send or accept: one block message at its protocol limit
/// ([`MAX_GOSSIP_BYTES`], about 2 MiB: a 1 MiB block plus 1 MiB of inline payloads) plus room for
/// the protobuf envelope (topic, author, sequence number, 64-byte signature, public key). The
/// gossipsub default of 64 KiB would silently drop ordinary blocks; anything larger than a block
/// message travels by sync request instead.
pub const MAX_TRANSMIT_SIZE: usize = MAX_GOSSIP_BYTES + 4096;

/// Gossipsub with our subscription filter.
pub type Gossipsub =
    gossipsub::Behaviour<gossipsub::IdentityTransform, WhitelistSubscriptionFilter>;

/// The identify protocol version we announce.
const IDENTIFY_PROTOCOL: &str = "/medchain/id/1";

/// The node's libp2p behaviour. The swarm asks each field in order whether to accept a
/// connection: the block list and the limits come first, so a connection they deny never
/// reaches a behaviour that would record it.
#[derive(NetworkBehaviour)]
#[behaviour(to_swarm = "BehaviourEvent")]
pub struct Behaviour {
    /// Peers refused by membership gating (or by the node); their connections are denied. What
    /// it holds mirrors the event loop's bounded, expiring `BlockRecord`.
    pub block_list: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Limits on pending and established connections.
    pub connection_limits: connection_limits::Behaviour,
    /// Gossip of blocks and evidence.
    pub gossipsub: Gossipsub,
    /// Sync requests (hello, heads, block ranges, payloads).
    pub sync: request_response::Behaviour<SyncCodec>,
    /// Identify.
    pub identify: identify::Behaviour,
    /// Ping (keeps connections alive and measures round trips).
    pub ping: ping::Behaviour,
}

/// Events of the composed behaviour.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum BehaviourEvent {
    /// The block list and the connection limits have no events.
    BlockList(std::convert::Infallible),
    /// A gossipsub event.
    Gossipsub(gossipsub::Event),
    /// A sync event.
    Sync(request_response::Event<SyncRequest, SyncResponse>),
    /// An identify event.
    Identify(identify::Event),
    /// A ping event.
    Ping(ping::Event),
}

impl From<std::convert::Infallible> for BehaviourEvent {
    fn from(e: std::convert::Infallible) -> Self {
        BehaviourEvent::BlockList(e)
    }
}
impl From<gossipsub::Event> for BehaviourEvent {
    fn from(e: gossipsub::Event) -> Self {
        BehaviourEvent::Gossipsub(e)
    }
}
impl From<request_response::Event<SyncRequest, SyncResponse>> for BehaviourEvent {
    fn from(e: request_response::Event<SyncRequest, SyncResponse>) -> Self {
        BehaviourEvent::Sync(e)
    }
}
impl From<identify::Event> for BehaviourEvent {
    fn from(e: identify::Event) -> Self {
        BehaviourEvent::Identify(e)
    }
}
impl From<ping::Event> for BehaviourEvent {
    fn from(e: ping::Event) -> Self {
        BehaviourEvent::Ping(e)
    }
}

/// The gossipsub message ID: blake3 of the message data in its own hash domain, so the same
/// block relayed by different peers is one message.
pub fn message_id(message: &gossipsub::Message) -> MessageId {
    MessageId::from(Domain::GossipMessageId.hash(&message.data).to_vec())
}

/// Why the behaviour could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Gossipsub refused its configuration.
    #[error("gossipsub configuration: {0}")]
    GossipConfig(#[from] gossipsub::ConfigBuilderError),
    /// Gossipsub refused to start.
    #[error("gossipsub: {0}")]
    Gossip(&'static str),
    /// Gossipsub refused the scoring parameters.
    #[error("gossipsub peer scoring: {0}")]
    Scoring(String),
}

/// Topic score parameters, the same for every topic. Registered for every topic: without them a
/// Reject would not lower the sender's score. Tuned for a small consortium where quiet periods
/// are normal: no mesh-delivery-rate penalty (P3, P3b), a small bonus for time in the mesh and
/// first deliveries, and a heavy, slowly decaying penalty for invalid messages (P4).
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 100.0,
        mesh_message_deliveries_threshold: 1.0,
        mesh_message_deliveries_window: Duration::from_millis(10),
        mesh_message_deliveries_activation: Duration::from_secs(60),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        invalid_message_deliveries_weight: -50.0,
        invalid_message_deliveries_decay: 0.95,
    }
}

/// Gossip messages queued for sending per connection.
const GOSSIP_QUEUE_PER_CONNECTION: usize = 128;

fn gossipsub(config: &Config, topics: &Topics) -> Result<Gossipsub, BuildError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validate_messages()
        .validation_mode(ValidationMode::Strict)
        .message_id_fn(message_id)
        .max_transmit_size(MAX_TRANSMIT_SIZE)
        .heartbeat_interval(config.timeouts.heartbeat)
        .heartbeat_initial_delay(config.timeouts.heartbeat_initial_delay)
        // Per connection, messages waiting to be sent (default 5000). Ours are blocks of up to
        // 2 MiB: 5000 of them could hold gigabytes for one slow peer. What a full queue drops,
        // the peer fetches by anti-entropy.
        .connection_handler_queue_len(GOSSIP_QUEUE_PER_CONNECTION)
        .build()?;
    let mut behaviour = gossipsub::Behaviour::new_with_subscription_filter(
        MessageAuthenticity::Signed(config.keypair.clone()),
        gossip_config,
        topics.filter(),
    )
    .map_err(BuildError::Gossip)?;
    let mut params = PeerScoreParams::default();
    for topic in Topic::ALL {
        params
            .topics
            .insert(topics.hash(topic), topic_score_params());
    }
    behaviour
        .with_peer_score(params, PeerScoreThresholds::default())
        .map_err(BuildError::Scoring)?;
    Ok(behaviour)
}

impl Behaviour {
    /// Builds the behaviour for `config`.
    pub fn new(config: &Config, topics: &Topics, keypair: &Keypair) -> Result<Self, BuildError> {
        let sync_config = request_response::Config::default()
            .with_request_timeout(config.timeouts.request)
            .with_max_concurrent_streams(config.bounds.streams_per_connection);
        let sync = request_response::Behaviour::with_codec(
            SyncCodec::new(config.timeouts.decode),
            [(PROTOCOL, request_response::ProtocolSupport::Full)],
            sync_config,
        );
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL.to_owned(), keypair.public())
                .with_agent_version(config.agent.clone()),
        );
        Ok(Behaviour {
            block_list: allow_block_list::Behaviour::default(),
            connection_limits: connection_limits::Behaviour::new((&config.bounds).into()),
            gossipsub: gossipsub(config, topics)?,
            sync,
            identify,
            ping: ping::Behaviour::default(),
        })
    }
}
