//! The one task that owns the Swarm: it takes [`Command`]s from the clients, turns swarm events
//! into [`Event`]s, and keeps the state tied to the swarm (pending requests, messages awaiting
//! judgement, membership, blocked peers, bootstrap redials). Gossip handling is in `gossip.rs`,
//! sync and membership handling in `sync.rs`. Every map here is bounded: by the connection
//! limits (per connected peer), by `Bounds`, or by the block record's capacity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, Swarm, SwarmBuilder, noise, tcp, yamux};
use medchain_protocol::identity::Consortium;
use medchain_protocol::message::{Hello, SyncResponse};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::behaviour::{Behaviour, BehaviourEvent, BuildError};
use crate::blocklist::BlockRecord;
use crate::client::{Client, Command, Error};
use crate::config::{Bounds, Config, Timeouts};
use crate::event::Event;
use crate::membership::{Peers, Refusal};
use crate::quota::{InboundSlots, PendingValidations};
use crate::redial::{Redial, peer_of};
use crate::topics::{Topic, Topics};

/// How often timeouts (validation, hello, block, redial) are checked.
const TICK: Duration = Duration::from_millis(200);

/// Why the network task could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The behaviour could not be built.
    #[error(transparent)]
    Behaviour(#[from] BuildError),
    /// The TCP transport's noise upgrade could not be set up.
    #[error("noise: {0}")]
    Noise(#[from] noise::Error),
    /// Listening on an address failed.
    #[error("listen: {0}")]
    Listen(#[from] libp2p::TransportError<std::io::Error>),
    /// Subscribing to a topic failed.
    #[error("subscribe: {0}")]
    Subscribe(#[from] libp2p::gossipsub::SubscriptionError),
}

/// The state owned by the network task.
pub(crate) struct EventLoop {
    pub(crate) swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) network: String,
    pub(crate) consortium: Arc<Consortium>,
    pub(crate) timeouts: Timeouts,
    pub(crate) bounds: Bounds,
    pub(crate) topics: Topics,
    pub(crate) hello: Hello,
    pub(crate) peers: Peers,
    pub(crate) redial: Redial,
    /// Outbound hellos, by request: one per connected peer (sent on its first connection),
    /// and one per admitted peer and announcement of a renewed certificate; dropped when
    /// answered, failed or the peer is gone.
    pub(crate) hellos: HashMap<OutboundRequestId, PeerId>,
    /// While a renewed certificate is being announced: when next, and until when.
    pub(crate) announcing: Option<(Instant, Instant)>,
    /// Outbound sync requests of the node, by request; at most `Bounds::outbound_requests`.
    pub(crate) requests: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, Error>>>,
    /// Gossip awaiting judgement: relaying peer and deadline, with a quota per relay.
    pub(crate) validations: PendingValidations,
    /// Sync requests with the node and not yet answered, per peer.
    pub(crate) inbound: InboundSlots,
    /// Blocked peers and when their blocks end, mirrored in the behaviour's block list.
    pub(crate) blocked: BlockRecord,
    /// libp2p's own metrics, when the caller gave a registry.
    metrics: Option<libp2p::metrics::Metrics>,
}

/// Starts the network task on the current tokio runtime: builds the swarm, listens, subscribes
/// to our topics, dials the bootstrap peers. Returns the client, the event stream and the task.
pub fn start(
    config: Config,
) -> Result<(Client, mpsc::Receiver<Event>, JoinHandle<()>), StartError> {
    let topics = Topics::new(&config.network);
    let behaviour = Behaviour::new(&config, &topics, &config.keypair)?;
    let idle = config.timeouts.idle_connection;
    let mut swarm = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| behaviour)
        .map_err(|never: std::convert::Infallible| -> StartError { match never {} })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    for address in &config.listen {
        swarm.listen_on(address.clone())?;
    }
    for topic in Topic::ALL {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic.ident(&config.network))?;
    }
    let (redial, anonymous) = Redial::new(
        &config.bootstrap,
        config.timeouts.redial_initial,
        config.timeouts.redial_max,
        Instant::now(),
    );
    for address in anonymous {
        if let Err(error) = swarm.dial(address.clone()) {
            tracing::warn!(%address, %error, "bootstrap dial failed");
        }
    }
    let (command_tx, command_rx) = mpsc::channel(config.bounds.commands.max(1));
    let (event_tx, event_rx) = mpsc::channel(config.bounds.events.max(1));
    let peer_id = *swarm.local_peer_id();
    let hello = Hello {
        network: config.network.clone(),
        certificate: config.certificate.clone(),
        agent: config.agent.clone(),
    };
    let metrics = config.metrics.as_ref().map(|registry| {
        let mut registry = registry.lock().unwrap_or_else(|p| p.into_inner());
        // libp2p names its metrics `libp2p_*` itself.
        libp2p::metrics::Metrics::new(&mut registry)
    });
    let event_loop = EventLoop {
        metrics,
        swarm,
        commands: command_rx,
        events: event_tx,
        network: config.network,
        consortium: config.consortium,
        timeouts: config.timeouts,
        bounds: config.bounds.clone(),
        topics,
        hello,
        peers: Peers::default(),
        redial,
        hellos: HashMap::new(),
        announcing: None,
        requests: HashMap::new(),
        validations: PendingValidations::new(
            config.bounds.pending_validations,
            config.bounds.validations_per_peer,
        ),
        inbound: InboundSlots::new(config.bounds.inbound_requests_per_peer),
        blocked: BlockRecord::new(config.bounds.blocked_peers),
    };
    let task = tokio::spawn(event_loop.run());
    Ok((Client::new(command_tx, peer_id), event_rx, task))
}

impl EventLoop {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = tick.tick() => self.on_tick(Instant::now()),
            }
        }
        tracing::debug!("network task stopped");
    }

    /// Hands an event to the node without waiting; returns it back if the channel is full or
    /// closed, so the caller can answer for the node.
    pub(crate) fn emit(&self, event: Event) -> Result<(), Box<Event>> {
        self.events.try_send(event).map_err(|error| match error {
            mpsc::error::TrySendError::Full(event) | mpsc::error::TrySendError::Closed(event) => {
                tracing::warn!("event channel full or closed; event dropped");
                Box::new(event)
            }
        })
    }

    /// Between two announcements of a renewed certificate: the setting, at least a tick, at
    /// most an hour (so adding it to now cannot overflow).
    fn announce_interval(&self) -> Duration {
        self.timeouts
            .announce_every
            .clamp(TICK, Duration::from_secs(3600))
    }

    fn on_tick(&mut self, now: Instant) {
        self.expire_validations(now);
        if let Some((next, until)) = self.announcing
            && now >= next
        {
            self.announce_certificate();
            self.announcing = (now < until).then_some((now + self.announce_interval(), until));
        }
        for peer in self.blocked.expired(now) {
            tracing::debug!(%peer, "block ended");
            self.swarm.behaviour_mut().block_list.unblock_peer(peer);
        }
        for peer in self.peers.expired(now) {
            self.refuse(peer, Refusal::Timeout);
        }
        for address in self.redial.due(now) {
            tracing::debug!(%address, "dialling bootstrap peer");
            if let Err(error) = self.swarm.dial(address.clone()) {
                tracing::debug!(%address, %error, "bootstrap dial failed");
                if let Some(peer) = peer_of(&address) {
                    self.redial.lost(&peer, now);
                }
            }
        }
    }

    /// Refuses a peer: blocks it (closing its connections) and reports why.
    pub(crate) fn refuse(&mut self, peer: PeerId, reason: Refusal) {
        tracing::warn!(%peer, %reason, "peer refused");
        self.block(peer);
        self.peers.disconnected(&peer);
        let _ = self.emit(Event::PeerRefused { peer, reason });
    }

    /// Blocks a peer (closing its connections) until `Timeouts::block` from now, ending the
    /// oldest block if the record is full, and stops redialling it.
    fn block(&mut self, peer: PeerId) {
        let until = Instant::now() + self.timeouts.block;
        let block_list = &mut self.swarm.behaviour_mut().block_list;
        if let Some(evicted) = self.blocked.block(peer, until) {
            tracing::debug!(peer = %evicted, "block ended early: block list full");
            block_list.unblock_peer(evicted);
        }
        block_list.block_peer(peer);
        self.redial.forget(&peer);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if let Some(metrics) = &self.metrics {
            use libp2p::metrics::Recorder;
            metrics.record(&event);
            match &event {
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => metrics.record(e),
                SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
                SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => metrics.record(e),
                _ => {}
            }
        }
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => {
                tracing::trace!(?event, "identify");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(_)) => {}
            SwarmEvent::Behaviour(BehaviourEvent::BlockList(never)) => match never {},
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let _ = self.emit(Event::Listening(address));
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established.get() == 1 {
                    tracing::debug!(peer = %peer_id, "connected");
                    self.redial.connected(&peer_id);
                    self.peers
                        .connected(peer_id, Instant::now() + self.timeouts.hello);
                    self.send_hello(peer_id);
                    let address = endpoint.get_remote_address().clone();
                    let _ = self.emit(Event::Connected {
                        peer: peer_id,
                        address,
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    tracing::debug!(peer = %peer_id, "disconnected");
                    self.peers.disconnected(&peer_id);
                    // libp2p also reports each of its requests failed; these make sure nothing
                    // of the peer stays behind whatever the order of events.
                    self.inbound.forget(&peer_id);
                    self.hellos.retain(|_, peer| *peer != peer_id);
                    self.redial.lost(&peer_id, Instant::now());
                    let _ = self.emit(Event::Disconnected(peer_id));
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
                if let Some(peer) = peer_id {
                    self.redial.lost(&peer, Instant::now());
                }
            }
            other => tracing::trace!(?other, "swarm event"),
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { topic, data, reply } => {
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(self.topics.hash(topic), data)
                    .map_err(Error::from);
                let _ = reply.send(result);
            }
            Command::Request {
                peer,
                request,
                reply,
            } => self.send_request(peer, request, reply),
            Command::Respond {
                handle,
                response,
                reply,
            } => {
                // The slot stays taken until libp2p reports the answer written (`ResponseSent`)
                // or failed: an answer of up to 16 MiB waiting for a slow reader is held for
                // that peer, and counts against its share.
                let result = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(handle.channel, response)
                    .map_err(|_| Error::ResponseDropped);
                if result.is_err() {
                    self.inbound.give_back(&handle.peer, handle.request);
                }
                let _ = reply.send(result);
            }
            Command::Report {
                id,
                propagation_source,
                acceptance,
                reply,
            } => {
                let _ = reply.send(self.report(&id, propagation_source, acceptance));
            }
            Command::Dial { address, reply } => {
                let _ = reply.send(self.swarm.dial(address).map_err(Error::from));
            }
            Command::Disconnect { peer, reply } => {
                let _ = reply.send(self.swarm.disconnect_peer_id(peer).is_ok());
            }
            Command::Block { peer, reply } => {
                self.block(peer);
                let _ = reply.send(());
            }
            Command::BlockedPeers { reply } => {
                let _ = reply.send(self.blocked.peers());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::IsConnected { peer, reply } => {
                let _ = reply.send(self.swarm.is_connected(&peer));
            }
            Command::SetCertificate { certificate, reply } => {
                let changed = self.hello.certificate != certificate;
                self.hello.certificate = certificate;
                if changed {
                    self.announce_certificate();
                    let now = Instant::now();
                    self.announcing = now
                        .checked_add(self.timeouts.announce_for)
                        .map(|until| (now + self.announce_interval(), until));
                }
                let _ = reply.send(());
            }
            Command::SetConsortium { consortium, reply } => {
                self.consortium = consortium;
                let now = crate::membership::now_unix();
                let failing: Vec<(PeerId, crate::membership::Refusal)> = self
                    .peers
                    .admitted_certificates()
                    .into_iter()
                    .filter_map(|(peer, certificate)| {
                        self.consortium
                            .verify(certificate, now, None)
                            .err()
                            .map(|e| (peer, e.into()))
                    })
                    .collect();
                let refused = failing.iter().map(|(peer, _)| *peer).collect();
                for (peer, reason) in failing {
                    self.refuse(peer, reason);
                }
                let _ = reply.send(refused);
            }
            Command::AdmittedPeers { reply } => {
                let _ = reply.send(self.peers.admitted());
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::MeshPeers { topic, reply } => {
                let hash = self.topics.hash(topic);
                let peers = self.swarm.behaviour().gossipsub.mesh_peers(&hash).copied();
                let _ = reply.send(peers.collect());
            }
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }
}
