//! The network layer's test harness: nodes on loopback TCP, each with a driver that plays the
//! part of the node (judges gossip by a policy, answers sync requests from a map of payloads
//! and a chain of blocks) and records what it saw; raw libp2p peers in [`raw`].
#![allow(missing_docs)] // plain data fields, named for what they hold

pub mod raw;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use medchain_net::{Acceptance, Config, Event, Multiaddr, PeerId, Refusal};
use medchain_protocol::Block;
use medchain_protocol::identity::{Consortium, MemberKey, Role};
use medchain_protocol::ids::PayloadHash;
use medchain_protocol::message::{SyncRequest, SyncResponse};
use tokio::task::JoinHandle;

use crate::pki::TestCa;

/// The network name of every test node.
pub const NETWORK: &str = "testnet";

/// What a node's driver saw.
#[derive(Default)]
pub struct Seen {
    pub gossip: Vec<Vec<u8>>,
    pub gossip_ids: Vec<(medchain_net::MessageId, PeerId)>,
    pub admitted: Vec<(PeerId, Role)>,
    pub refused: Vec<(PeerId, String)>,
    pub requests: Vec<SyncRequest>,
    /// The certificate each request's peer was admitted on, as the request came.
    pub requesters: Vec<std::sync::Arc<[u8]>>,
}

/// Data a node serves to sync requests.
#[derive(Default, Clone)]
pub struct Store {
    pub payloads: HashMap<PayloadHash, Vec<u8>>,
    pub blocks: Vec<Block>,
    /// Never judge gossip (to exercise the judgement timeout).
    pub mute: bool,
    /// Answer each sync request only after this long (each in its own task, so they overlap).
    pub respond_after: Option<Duration>,
    /// Drop every sync request's handle without answering.
    pub drop_requests: bool,
}

/// A running node of the network layer and what its driver saw.
pub struct Node {
    pub client: medchain_net::Client,
    pub peer_id: PeerId,
    pub address: Multiaddr,
    pub seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
    driver: JoinHandle<()>,
}

/// Gossip whose data starts with this is Rejected by the drivers; the rest is Accepted.
pub const BAD: &[u8] = b"bad";

/// A node configuration for a new member of `ca` (on loopback, with short timeouts), and its key.
pub fn config(ca: &TestCa, role: Role, org: &str) -> (Config, MemberKey) {
    let (cert, key) = ca.cert_and_key(role, org);
    let config = test_config(ca.consortium.clone(), cert, &key);
    (config, key)
}

/// A node configuration for the member `cert`/`key` of `consortium`: loopback, short timeouts.
pub fn test_config(consortium: Arc<Consortium>, cert: Vec<u8>, key: &MemberKey) -> Config {
    let mut config = Config::new(NETWORK, key, cert, consortium).expect("config");
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")];
    config.timeouts.heartbeat = Duration::from_millis(100);
    config.timeouts.heartbeat_initial_delay = Duration::from_millis(100);
    config.timeouts.request = Duration::from_secs(5);
    config.timeouts.decode = Duration::from_secs(2);
    config.timeouts.renewal_check = Duration::from_millis(500);
    config.timeouts.announce_every = Duration::from_secs(1);
    config
}

/// Starts a new member of `ca` (`role`, `org`) on loopback, dialling `bootstrap`, its driver
/// serving `store`: the set-up most network tests repeat for each peer.
pub async fn start_member(
    ca: &TestCa,
    role: Role,
    org: &str,
    bootstrap: &[&Node],
    store: Store,
) -> Node {
    let (mut config, _) = config(ca, role, org);
    config.bootstrap = bootstrap.iter().map(|n| n.address.clone()).collect();
    spawn(config, store).await
}

/// Starts a node with `config`, driven by a driver that serves `store`; waits for its address.
pub async fn spawn(config: Config, store: Store) -> Node {
    let (client, mut events, task) = medchain_net::start(config).expect("start");
    let address = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(Event::Listening(address))) => break address,
            Ok(Some(_)) => continue,
            _ => panic!("no listen address"),
        }
    };
    let peer_id = client.peer_id();
    let address = address.with(libp2p::multiaddr::Protocol::P2p(peer_id));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let driver = tokio::spawn(drive(client.clone(), events, seen.clone(), store));
    Node {
        client,
        peer_id,
        address,
        seen,
        task,
        driver,
    }
}

async fn drive(
    client: medchain_net::Client,
    mut events: tokio::sync::mpsc::Receiver<Event>,
    seen: Arc<Mutex<Seen>>,
    store: Store,
) {
    while let Some(event) = events.recv().await {
        match event {
            Event::Gossip(message) => {
                let verdict = if message.data.starts_with(BAD) {
                    Acceptance::Reject
                } else {
                    Acceptance::Accept
                };
                {
                    let mut seen = seen.lock().expect("lock");
                    seen.gossip.push(message.data.clone());
                    seen.gossip_ids
                        .push((message.id.clone(), message.propagation_source));
                }
                if store.mute {
                    continue;
                }
                let _ = client
                    .report(message.id, message.propagation_source, verdict)
                    .await;
            }
            Event::SyncRequest(inbound) => {
                {
                    let mut seen = seen.lock().expect("lock");
                    seen.requests.push(inbound.request.clone());
                    seen.requesters.push(inbound.certificate.clone());
                }
                if store.drop_requests {
                    continue;
                }
                let response = answer(&store, &inbound.request);
                match store.respond_after {
                    Some(delay) => {
                        let client = client.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = client.respond(inbound.reply, response).await;
                        });
                    }
                    None => {
                        let _ = client.respond(inbound.reply, response).await;
                    }
                }
            }
            Event::PeerAdmitted { peer, role, .. } => {
                seen.lock().expect("lock").admitted.push((peer, role));
            }
            Event::PeerRefused { peer, reason } => {
                let reason = match reason {
                    Refusal::KeyMismatch => "key mismatch".to_owned(),
                    Refusal::Timeout => "timeout".to_owned(),
                    other => other.to_string(),
                };
                seen.lock().expect("lock").refused.push((peer, reason));
            }
            _ => {}
        }
    }
}

/// The blocks of `chain` from height `from` a driver serves, at most `limit`.
fn served<'a>(
    store: &'a Store,
    chain: &'a medchain_protocol::ChainId,
    from: u64,
    limit: u32,
) -> impl Iterator<Item = &'a Block> {
    store
        .blocks
        .iter()
        .filter(move |b| b.header.chain == *chain && b.header.height >= from)
        .take(limit as usize)
}

fn answer(store: &Store, request: &SyncRequest) -> SyncResponse {
    match request {
        SyncRequest::Heads => SyncResponse::Heads(Vec::new()),
        SyncRequest::Blocks { chain, from, limit } => {
            SyncResponse::Blocks(served(store, chain, *from, *limit).cloned().collect())
        }
        SyncRequest::Payload(hash) => match store.payloads.get(hash) {
            Some(bytes) => SyncResponse::Payload(serde_bytes::ByteBuf::from(bytes.clone())),
            None => SyncResponse::NotFound,
        },
        SyncRequest::Range { chain, from, limit } => SyncResponse::Range(
            served(store, chain, *from, *limit)
                .map(|b| medchain_protocol::BlockMessage {
                    block: b.clone(),
                    payloads: Vec::new(),
                })
                .collect(),
        ),
        SyncRequest::Evidence { .. } => SyncResponse::Evidence(Vec::new()),
        // A scripted peer holds no keys: it answers for every entry that it holds none.
        SyncRequest::DataKeys(entries) => SyncResponse::DataKeys(
            entries
                .iter()
                .map(|at| medchain_protocol::message::KeyAnswer {
                    at: *at,
                    outcome: medchain_protocol::message::KeyOutcome::NotHeld,
                })
                .collect(),
        ),
        SyncRequest::KeyBackups { .. } => SyncResponse::KeyBackups(Vec::new()),
        SyncRequest::Hello(_) => SyncResponse::NotFound,
    }
}

impl Node {
    /// The role `peer` was admitted with, if it was.
    pub fn admitted(&self, peer: &PeerId) -> Option<Role> {
        let seen = self.seen.lock().expect("lock");
        seen.admitted
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, role)| *role)
    }

    /// Why `peer` was refused, if it was.
    pub fn refused(&self, peer: &PeerId) -> Option<String> {
        let seen = self.seen.lock().expect("lock");
        seen.refused
            .iter()
            .find(|(p, _)| p == peer)
            .map(|(_, reason)| reason.clone())
    }

    /// Whether gossip with exactly `data` arrived.
    pub fn got(&self, data: &[u8]) -> bool {
        self.seen
            .lock()
            .expect("lock")
            .gossip
            .iter()
            .any(|d| d == data)
    }

    /// Stops the node (bounded: 5 s) and its driver.
    pub async fn shutdown(self) {
        let _ = self.client.shutdown().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        self.driver.abort();
    }
}

/// Polls `condition` every 50 ms until it holds, or panics after `limit`.
pub async fn eventually(what: &str, limit: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
