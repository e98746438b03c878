//! `medchain-net`: the libp2p side of a node, and nothing else.
//!
//! One task ([`event_loop`]) owns the Swarm: TCP + noise + yamux (no QUIC: see docs/architecture.md), identify, ping,
//! gossipsub with validation before forwarding, the request-response sync protocol
//! ([`codec`]), and membership gating ([`membership`]). The node drives it through a cloneable
//! [`Client`] over bounded channels and receives [`Event`]s. It knows nothing of chains or
//! stores. Allowed dependencies: `medchain-protocol`.
//!
//! Layout: [`config`] (what the caller passes in), [`topics`] (gossip topic names and filter),
//! [`behaviour`] (the composed libp2p behaviour and gossipsub tuning), [`codec`] (sync frames),
//! [`membership`] (hello checks and the admitted peer table), [`client`] (commands), [`event`]
//! (what comes out), [`event_loop`] (the task owning the Swarm). What a peer can make a node
//! hold is bounded by [`connection_limits`] (connections), [`blocklist`] (blocked peers) and
//! [`quota`] (per-peer shares of sync requests and gossip awaiting the node).

pub mod behaviour;
pub mod blocklist;
pub mod client;
pub mod codec;
pub mod config;
pub mod connection_limits;
pub mod event;
pub mod event_loop;
mod gossip;
pub mod membership;
pub mod quota;
pub mod redial;
mod sync;
pub mod topics;

pub use client::{Client, Command, Error};
pub use config::{Bounds, Config, Timeouts};
pub use event::{Event, GossipMessage, InboundRequest, ResponseHandle};
pub use event_loop::{StartError, start};
pub use libp2p::gossipsub::{MessageAcceptance as Acceptance, MessageId};
pub use libp2p::{Multiaddr, PeerId};
pub use membership::Refusal;
pub use topics::Topic;
