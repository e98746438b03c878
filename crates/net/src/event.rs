//! `net::Event`: what the network layer reports to the node.

use libp2p::gossipsub::MessageId;
use libp2p::request_response::{InboundRequestId, ResponseChannel};
use libp2p::{Multiaddr, PeerId};
use medchain_protocol::identity::Role;
use medchain_protocol::message::{SyncRequest, SyncResponse};

use crate::membership::Refusal;
use crate::topics::Topic;

/// A gossip message awaiting the node's judgement. Report exactly one Accept, Reject or Ignore
/// for it with [`Client::report`](crate::Client::report), passing `id` and `propagation_source`;
/// a message not judged within the validation timeout is Ignored by the network layer.
#[derive(Clone, Debug)]
pub struct GossipMessage {
    /// The message ID (blake3 of the data in the gossip-message-id domain).
    pub id: MessageId,
    /// The topic.
    pub topic: Topic,
    /// The author (strict signing proves it).
    pub source: PeerId,
    /// The admitted provider that relayed it to us.
    pub propagation_source: PeerId,
    /// The message bytes (a `BlockMessage` or `EquivocationEvidence` on the wire).
    pub data: Vec<u8>,
}

/// The handle to answer one inbound sync request, with
/// [`Client::respond`](crate::Client::respond). Dropping it makes the request fail for the peer.
/// While the node holds it, the request counts against the peer's
/// `Bounds::inbound_requests_per_peer`.
#[derive(Debug)]
pub struct ResponseHandle {
    pub(crate) channel: ResponseChannel<SyncResponse>,
    /// Who asked, and which request: to give back the peer's slot when answered.
    pub(crate) peer: PeerId,
    pub(crate) request: InboundRequestId,
}

/// An inbound sync request from an admitted peer (hellos are handled by the network layer).
#[derive(Debug)]
pub struct InboundRequest {
    /// The requesting peer.
    pub peer: PeerId,
    /// The requesting peer's role.
    pub role: Role,
    /// The member certificate (DER) the peer was admitted on: who asks, for answers that
    /// depend on it (a key is released only to the organisation a grant names, wrapped to the
    /// encryption key this certificate binds).
    pub certificate: std::sync::Arc<[u8]>,
    /// The request.
    pub request: SyncRequest,
    /// Where to send the answer.
    pub reply: ResponseHandle,
}

/// Something that happened on the network.
#[derive(Debug)]
pub enum Event {
    /// We listen on a new address.
    Listening(Multiaddr),
    /// A connection to a peer opened (the peer is not yet admitted).
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its address.
        address: Multiaddr,
    },
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A peer proved membership.
    PeerAdmitted {
        /// The peer.
        peer: PeerId,
        /// Its role.
        role: Role,
        /// Its organisation.
        org: String,
    },
    /// A peer was refused, disconnected and blocked.
    PeerRefused {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: Refusal,
    },
    /// A gossip message to validate.
    Gossip(GossipMessage),
    /// A sync request to answer.
    SyncRequest(InboundRequest),
}
