//! Sync and membership handling in the network task: hellos are answered and checked here (an
//! admitted peer is announced, a refused one blocked); other requests from admitted peers go to
//! the node with a reply handle, up to the peer's share of requests the node has not answered
//! yet (beyond it they are answered `Busy` here); those from anyone else are refused.

use libp2p::PeerId;
use libp2p::request_response::{self, InboundRequestId, Message, ResponseChannel};
use medchain_protocol::limits::MAX_BLOCKS_PER_RANGE;
use medchain_protocol::message::{Hello, SyncError, SyncErrorCode, SyncRequest, SyncResponse};
use tokio::sync::oneshot;

use crate::client::Error;
use crate::event::{Event, InboundRequest, ResponseHandle};
use crate::event_loop::EventLoop;
use crate::membership::{Refusal, check_hello, now_unix};

fn refusal(code: SyncErrorCode, message: &str) -> SyncResponse {
    SyncResponse::Error(SyncError {
        code,
        message: message.to_owned(),
    })
}

impl EventLoop {
    pub(crate) fn send_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, Error>>,
    ) {
        if matches!(request, SyncRequest::Hello(_)) {
            let _ = reply.send(Err(Error::HelloReserved));
            return;
        }
        if self.peers.role(&peer).is_none() {
            let _ = reply.send(Err(Error::NotAdmitted(peer)));
            return;
        }
        if self.requests.len() >= self.bounds.outbound_requests {
            let _ = reply.send(Err(Error::TooManyRequests));
            return;
        }
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.requests.insert(id, reply);
    }

    fn respond(&mut self, channel: ResponseChannel<SyncResponse>, response: SyncResponse) {
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!("sync response channel closed");
        }
    }

    /// Checks a peer's hello; admits or refuses it. Returns whether it is admitted.
    fn on_hello(&mut self, peer: PeerId, hello: &Hello) -> bool {
        if let Some((role, certificate)) = self.peers.admission(&peer) {
            if certificate[..] != hello.certificate[..]
                && self.peers.may_check_renewal(
                    &peer,
                    std::time::Instant::now(),
                    self.timeouts.renewal_check,
                )
            {
                self.on_renewal(peer, role, hello);
            }
            return true;
        }
        if !self.swarm.is_connected(&peer) {
            // Late answer from a peer already gone (or already refused and disconnected).
            return false;
        }
        match check_hello(&self.consortium, &self.network, hello, &peer, now_unix()) {
            Ok(member) => {
                if self.peers.admit(
                    peer,
                    member.role,
                    hello.certificate.clone(),
                    member.not_after,
                ) {
                    tracing::info!(%peer, org = %member.org, role = %member.role.as_str(), "peer admitted");
                    let _ = self.emit(Event::PeerAdmitted {
                        peer,
                        role: member.role,
                        org: member.org,
                    });
                }
                true
            }
            Err(reason) => {
                self.refuse(peer, reason);
                false
            }
        }
    }

    /// An admitted peer says hello again with another certificate (it renewed its own and
    /// announced it): taken when it proves the same member in the same role now and ends later
    /// than the one held, so its admission is re-checked on the certificate it holds, not one
    /// about to expire. Otherwise the admission stays on the certificate it proved itself with
    /// (which the revocation and expiry checks still judge), and the attempt is logged.
    fn on_renewal(&mut self, peer: PeerId, role: medchain_protocol::identity::Role, hello: &Hello) {
        match check_hello(&self.consortium, &self.network, hello, &peer, now_unix()) {
            Ok(member) if member.role == role => {
                if self
                    .peers
                    .renew(&peer, hello.certificate.clone(), member.not_after)
                {
                    tracing::info!(%peer, org = %member.org, "peer's renewed certificate taken");
                } else {
                    tracing::debug!(%peer, "peer presented a certificate ending no later than the one held; not taken");
                }
            }
            Ok(member) => tracing::warn!(
                %peer,
                was = %role.as_str(),
                now = %member.role.as_str(),
                "peer presented a certificate of another role; its admission stays as it was"
            ),
            Err(reason) => tracing::warn!(
                %peer,
                %reason,
                "peer presented another certificate that does not hold; its admission stays on the one it proved itself with"
            ),
        }
    }

    /// Says hello again to every admitted peer: our certificate changed (a renewal), and they
    /// check the rest of our requests against the one they hold. Repeated for a while from the
    /// tick (`Timeouts::announce_every`): a peer holding it already only compares bytes.
    pub(crate) fn announce_certificate(&mut self) {
        for (peer, _) in self.peers.admitted() {
            self.send_hello(peer);
        }
    }

    /// Sends our hello to `peer`; its answer is checked as the peer's hello.
    pub(crate) fn send_hello(&mut self, peer: PeerId) {
        let request = SyncRequest::Hello(self.hello.clone());
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.hellos.insert(id, peer);
    }

    pub(crate) fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => self.on_request(peer, request_id, request, channel),
            request_response::Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if self.hellos.remove(&request_id).is_some() {
                    match response {
                        SyncResponse::Hello(hello) => {
                            self.on_hello(peer, &hello);
                        }
                        // Not logged in full: a response may carry payload bytes.
                        _ => tracing::debug!(%peer, "hello answered without a hello"),
                    }
                } else if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if self.hellos.remove(&request_id).is_some() {
                    // The peer may still prove itself with its own hello before the deadline.
                    tracing::debug!(%peer, %error, "{}", Refusal::ExchangeFailed);
                } else if let Some(reply) = self.requests.remove(&request_id) {
                    tracing::debug!(%peer, %error, "sync request failed");
                    let _ = reply.send(Err(Error::Request(error)));
                }
            }
            // Whatever became of a request the node held (answered, dropped, timed out, the
            // connection closed), its slot is given back, so a lost handle cannot leak one.
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
                self.inbound.give_back(&peer, request_id);
            }
            request_response::Event::ResponseSent {
                peer, request_id, ..
            } => self.inbound.give_back(&peer, request_id),
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if let SyncRequest::Hello(hello) = &request {
            let response = if self.on_hello(peer, hello) {
                SyncResponse::Hello(self.hello.clone())
            } else {
                refusal(SyncErrorCode::NotAdmitted, "membership refused")
            };
            return self.respond(channel, response);
        }
        if let SyncRequest::Blocks { limit, .. } | SyncRequest::Range { limit, .. } = &request
            && (*limit == 0 || *limit > MAX_BLOCKS_PER_RANGE)
        {
            return self.respond(
                channel,
                refusal(SyncErrorCode::BadRequest, "block range limit out of bounds"),
            );
        }
        let Some((role, certificate)) = self.peers.admission(&peer) else {
            return self.respond(
                channel,
                refusal(SyncErrorCode::NotAdmitted, "send a valid hello first"),
            );
        };
        if !self.inbound.take(peer, request_id) {
            tracing::debug!(%peer, "too many requests with the node; busy");
            return self.respond(
                channel,
                refusal(SyncErrorCode::Busy, "too many requests in progress"),
            );
        }
        let event = Event::SyncRequest(InboundRequest {
            peer,
            role,
            certificate,
            request,
            reply: ResponseHandle {
                channel,
                peer,
                request: request_id,
            },
        });
        if let Err(event) = self.emit(event)
            && let Event::SyncRequest(refused) = *event
        {
            self.inbound.give_back(&peer, request_id);
            self.respond(
                refused.reply.channel,
                refusal(SyncErrorCode::Busy, "node busy"),
            );
        }
    }
}
