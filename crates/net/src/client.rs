//! `net::Client`: the cloneable handle the node uses to drive the network task. Every call sends
//! one [`Command`] over a bounded channel and awaits its oneshot reply.

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::{Multiaddr, PeerId};
use std::sync::Arc;

use medchain_protocol::identity::{Consortium, Role};
use medchain_protocol::ids::{ChainId, PayloadHash};
use medchain_protocol::message::{SyncRequest, SyncResponse};
use tokio::sync::{mpsc, oneshot};

use crate::event::ResponseHandle;
use crate::topics::Topic;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
    /// Gossipsub refused to publish (no peers, too large, duplicate...).
    #[error("publish failed: {0}")]
    Publish(#[from] libp2p::gossipsub::PublishError),
    /// The peer is not admitted, so no sync request is sent to it.
    #[error("peer {0} is not admitted")]
    NotAdmitted(PeerId),
    /// The sync request failed (timeout, connection closed, unsupported, decode error).
    #[error("sync request failed: {0}")]
    Request(#[from] libp2p::request_response::OutboundFailure),
    /// Hellos belong to the network layer; the node cannot send one.
    #[error("hello requests are sent by the network layer only")]
    HelloReserved,
    /// The response channel had already closed (the peer gave up or disconnected).
    #[error("the requesting peer is gone")]
    ResponseDropped,
    /// Dialling failed.
    #[error("dial failed: {0}")]
    Dial(#[from] libp2p::swarm::DialError),
    /// Too many of our sync requests await their response (`Bounds::outbound_requests`).
    #[error("too many sync requests in flight")]
    TooManyRequests,
}

/// A command to the network task; each carries a oneshot for its reply.
#[derive(Debug)]
pub enum Command {
    /// Publish `data` on `topic`.
    Publish {
        /// The topic.
        topic: Topic,
        /// The message bytes.
        data: Vec<u8>,
        /// The message ID, or why it was not published.
        reply: oneshot::Sender<Result<MessageId, Error>>,
    },
    /// Send a sync request to an admitted peer.
    Request {
        /// The peer.
        peer: PeerId,
        /// The request (never a hello: those belong to the network layer).
        request: SyncRequest,
        /// The response.
        reply: oneshot::Sender<Result<SyncResponse, Error>>,
    },
    /// Answer an inbound sync request.
    Respond {
        /// The handle from the inbound request event.
        handle: ResponseHandle,
        /// The answer.
        response: SyncResponse,
        /// Whether it was handed to the peer's stream.
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Report the judgement of a gossip message.
    Report {
        /// The message ID.
        id: MessageId,
        /// The peer that relayed it.
        propagation_source: PeerId,
        /// Accept (forward), Reject (penalise the sender) or Ignore.
        acceptance: MessageAcceptance,
        /// Whether the message was still awaiting judgement.
        reply: oneshot::Sender<bool>,
    },
    /// Dial an address.
    Dial {
        /// The address, ideally ending in `/p2p/<peer id>`.
        address: Multiaddr,
        /// Whether the dial started.
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Close every connection to a peer.
    Disconnect {
        /// The peer.
        peer: PeerId,
        /// Whether it was connected.
        reply: oneshot::Sender<bool>,
    },
    /// Block a peer: close its connections and refuse new ones until the block ends.
    Block {
        /// The peer.
        peer: PeerId,
        /// Done.
        reply: oneshot::Sender<()>,
    },
    /// Blocked peers, the soonest to be unblocked first.
    BlockedPeers {
        /// The peers.
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// The addresses we listen on.
    ListenAddrs {
        /// The addresses.
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    /// Whether we have a connection to a peer.
    IsConnected {
        /// The peer.
        peer: PeerId,
        /// Whether it is connected.
        reply: oneshot::Sender<bool>,
    },
    /// Admitted peers and their roles.
    AdmittedPeers {
        /// The peers.
        reply: oneshot::Sender<Vec<(PeerId, Role)>>,
    },
    /// A peer's gossipsub score.
    PeerScore {
        /// The peer.
        peer: PeerId,
        /// Its score, if scored.
        reply: oneshot::Sender<Option<f64>>,
    },
    /// Peers in our gossip mesh for a topic.
    MeshPeers {
        /// The topic.
        topic: Topic,
        /// The peers.
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// Replace our member certificate in our hello (a renewal for the same key): peers that
    /// admit us from now on see the new one.
    SetCertificate {
        /// The certificate (DER).
        certificate: Vec<u8>,
        /// Done.
        reply: oneshot::Sender<()>,
    },
    /// Replace the consortium trust (a new revocation list): admitted peers whose certificate no
    /// longer verifies are refused, disconnected and blocked.
    SetConsortium {
        /// The new trust.
        consortium: Arc<Consortium>,
        /// The peers refused because of it.
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// Stop the network task.
    Shutdown {
        /// Done.
        reply: oneshot::Sender<()>,
    },
}

/// The cloneable handle to the network task.
#[derive(Clone, Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl Client {
    pub(crate) fn new(commands: mpsc::Sender<Command>, peer_id: PeerId) -> Self {
        Client { commands, peer_id }
    }

    /// Our own PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)
    }

    /// Publishes `data` on `topic`; returns its message ID.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<MessageId, Error> {
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Sends a sync request to an admitted peer and awaits its response.
    pub async fn request(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, Error> {
        self.call(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// Asks a peer for its chain heads.
    pub async fn heads(&self, peer: PeerId) -> Result<SyncResponse, Error> {
        self.request(peer, SyncRequest::Heads).await
    }

    /// Asks a peer for at most `limit` blocks of `chain` from height `from`.
    pub async fn blocks(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
        limit: u32,
    ) -> Result<SyncResponse, Error> {
        self.request(peer, SyncRequest::Blocks { chain, from, limit })
            .await
    }

    /// Asks a peer for up to `limit` blocks of `chain` from `from`, each with its inline payloads.
    pub async fn range(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
        limit: u32,
    ) -> Result<SyncResponse, Error> {
        self.request(peer, SyncRequest::Range { chain, from, limit })
            .await
    }

    /// Asks a peer for a payload.
    pub async fn payload(&self, peer: PeerId, hash: PayloadHash) -> Result<SyncResponse, Error> {
        self.request(peer, SyncRequest::Payload(hash)).await
    }

    /// Asks an admitted peer for the equivocation evidence it holds, after the first `skip` items.
    pub async fn evidence(&self, peer: PeerId, skip: u32) -> Result<SyncResponse, Error> {
        self.request(peer, SyncRequest::Evidence { skip }).await
    }

    /// Answers an inbound sync request.
    pub async fn respond(
        &self,
        handle: ResponseHandle,
        response: SyncResponse,
    ) -> Result<(), Error> {
        self.call(|reply| Command::Respond {
            handle,
            response,
            reply,
        })
        .await?
    }

    /// Reports the judgement of a gossip message; returns whether it was still pending.
    pub async fn report(
        &self,
        id: MessageId,
        propagation_source: PeerId,
        acceptance: MessageAcceptance,
    ) -> Result<bool, Error> {
        self.call(|reply| Command::Report {
            id,
            propagation_source,
            acceptance,
            reply,
        })
        .await
    }

    /// Dials an address.
    pub async fn dial(&self, address: Multiaddr) -> Result<(), Error> {
        self.call(|reply| Command::Dial { address, reply }).await?
    }

    /// Closes every connection to a peer; returns whether it was connected.
    pub async fn disconnect(&self, peer: PeerId) -> Result<bool, Error> {
        self.call(|reply| Command::Disconnect { peer, reply }).await
    }

    /// Blocks a peer: closes its connections and refuses new ones for `Timeouts::block`, or
    /// less if `Bounds::blocked_peers` newer blocks push it out. A block is not a membership
    /// decision: once it ends the peer may connect again and must pass the hello again.
    pub async fn block(&self, peer: PeerId) -> Result<(), Error> {
        self.call(|reply| Command::Block { peer, reply }).await
    }

    /// Blocked peers (refused by membership gating or blocked by the node), the soonest to be
    /// unblocked first; never more than `Bounds::blocked_peers`.
    pub async fn blocked_peers(&self) -> Result<Vec<PeerId>, Error> {
        self.call(|reply| Command::BlockedPeers { reply }).await
    }

    /// The addresses we listen on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Error> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Whether we have a connection to `peer` (admitted or not).
    pub async fn is_connected(&self, peer: PeerId) -> Result<bool, Error> {
        self.call(|reply| Command::IsConnected { peer, reply })
            .await
    }

    /// Admitted peers and their roles.
    pub async fn admitted_peers(&self) -> Result<Vec<(PeerId, Role)>, Error> {
        self.call(|reply| Command::AdmittedPeers { reply }).await
    }

    /// Replaces our member certificate in our hello (a renewal for the same key).
    pub async fn set_certificate(&self, certificate: Vec<u8>) -> Result<(), Error> {
        self.call(|reply| Command::SetCertificate { certificate, reply })
            .await
    }

    /// Replaces the consortium trust (after a new revocation list); returns the admitted peers
    /// it refused.
    pub async fn set_consortium(&self, consortium: Arc<Consortium>) -> Result<Vec<PeerId>, Error> {
        self.call(|reply| Command::SetConsortium { consortium, reply })
            .await
    }

    /// A peer's gossipsub score.
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, Error> {
        self.call(|reply| Command::PeerScore { peer, reply }).await
    }

    /// Peers in our gossip mesh for `topic`.
    pub async fn mesh_peers(&self, topic: Topic) -> Result<Vec<PeerId>, Error> {
        self.call(|reply| Command::MeshPeers { topic, reply }).await
    }

    /// Stops the network task and waits until it has.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call(|reply| Command::Shutdown { reply }).await
    }
}
