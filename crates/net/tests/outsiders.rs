//! What a peer opening connections can make a node hold, over loopback TCP: connections beyond
//! the per-peer and incoming limits are refused; the block list never exceeds its capacity and
//! a block that ends lets the peer connect again; an answer to our hello larger than
//! `MAX_HELLO_BYTES` is refused before it is read.

// The helpers below run only inside tests.
#![allow(clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::{SwarmEvent, dummy};
use medchain_net::PeerId;
use medchain_protocol::identity::Role;
use medchain_protocol::limits::MAX_HELLO_BYTES;
use medchain_protocol::message::{Hello, SyncResponse, WireMessage};
use medchain_testkit::net::{
    Node, Store, config, eventually, raw, spawn, start_member, test_config,
};
use medchain_testkit::pki::TestCa;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(60);

/// Dials `target` with each swarm in `swarms` (`dials` times each), then polls them all until
/// `settle` has passed with every dial resolved; returns how many connections remain open.
async fn open_connections(
    swarms: &mut [libp2p::Swarm<dummy::Behaviour>],
    target: &medchain_net::Multiaddr,
    dials: usize,
    settle: Duration,
) -> usize {
    for swarm in swarms.iter_mut() {
        for _ in 0..dials {
            swarm.dial(target.clone()).expect("dial");
        }
    }
    let mut open = HashSet::new();
    let mut resolved = 0;
    let mut quiet_since = None;
    loop {
        let next = futures::future::select_all(swarms.iter_mut().map(|s| s.select_next_some()));
        match tokio::time::timeout(Duration::from_millis(100), next).await {
            Ok((SwarmEvent::ConnectionEstablished { connection_id, .. }, _, _)) => {
                resolved += 1;
                open.insert(connection_id);
            }
            Ok((SwarmEvent::ConnectionClosed { connection_id, .. }, _, _)) => {
                open.remove(&connection_id);
            }
            Ok((SwarmEvent::OutgoingConnectionError { .. }, _, _)) => resolved += 1,
            Ok(_) | Err(_) => {}
        }
        if resolved >= swarms.len() * dials {
            let since = *quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= settle {
                return open.len();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_per_peer_and_incoming_limits_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Limits CA");
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital M");
        cfg.bounds.connections_per_peer = 2;
        cfg.bounds.established_incoming_connections = 3;
        // The raw peers never send a hello; they must not be refused for it during the test.
        cfg.timeouts.hello = Duration::from_secs(50);
        let member = spawn(cfg, Store::default()).await;

        // One peer dialling five times keeps two connections.
        let mut one = vec![raw::swarm(dummy::Behaviour)];
        let peer = *one[0].local_peer_id();
        let kept = open_connections(&mut one, &member.address, 5, Duration::from_secs(1)).await;
        assert_eq!(kept, 2, "connections kept from one peer");
        assert!(member.client.is_connected(peer).await.expect("state"));

        // Two more peers: the member already has two incoming connections, so only one more
        // of theirs is kept.
        let mut more = vec![raw::swarm(dummy::Behaviour), raw::swarm(dummy::Behaviour)];
        let kept = open_connections(&mut more, &member.address, 1, Duration::from_secs(1)).await;
        assert_eq!(kept, 1, "connections kept beyond the incoming limit");
        drop(one);
        drop(more);
        member.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// A provider whose certificate is issued by a CA the consortium does not trust: refused at
/// its hello, blocked, and redialling the member with backoff until shut down.
async fn outsider(ca: &TestCa, foreign: &TestCa, member: &Node, name: &str) -> Node {
    let (cert, key) = foreign.cert_and_key(Role::Provider, name);
    let mut cfg = test_config(ca.consortium.clone(), cert, &key);
    cfg.bootstrap = vec![member.address.clone()];
    spawn(cfg, Store::default()).await
}

fn admissions(node: &Node, peer: &PeerId) -> usize {
    let seen = node.seen.lock().expect("lock");
    seen.admitted.iter().filter(|(p, _)| p == peer).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_block_list_is_bounded_and_an_ended_block_lets_the_peer_back() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Blocking CA");
        let foreign = TestCa::new("Foreign CA");
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital M");
        cfg.bounds.blocked_peers = 2;
        cfg.timeouts.block = Duration::from_secs(2);
        let member = spawn(cfg, Store::default()).await;

        // Four outsiders refused (and, once their blocks end or are pushed out, refused again
        // as they redial): the list never holds more than two.
        let mut outsiders = Vec::new();
        for i in 0..4 {
            outsiders.push(outsider(&ca, &foreign, &member, &format!("Outsider {i}")).await);
        }
        let mut largest = 0;
        eventually(
            "every outsider refused",
            Duration::from_secs(10),
            async || {
                let blocked = member.client.blocked_peers().await.expect("blocked");
                largest = largest.max(blocked.len());
                outsiders
                    .iter()
                    .all(|o| member.refused(&o.peer_id).is_some())
            },
        )
        .await;
        for _ in 0..20 {
            let blocked = member.client.blocked_peers().await.expect("blocked");
            largest = largest.max(blocked.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(largest <= 2, "the block list held {largest} peers");
        assert!(largest >= 1);
        for o in outsiders {
            o.shutdown().await;
        }
        eventually("blocks ended", Duration::from_secs(4), async || {
            member
                .client
                .blocked_peers()
                .await
                .is_ok_and(|b| b.is_empty())
        })
        .await;

        // A member blocked by the node comes back (by its bootstrap redial) once the block ends.
        let b = start_member(
            &ca,
            Role::Provider,
            "Hospital B",
            &[&member],
            Store::default(),
        )
        .await;
        eventually("admitted", Duration::from_secs(10), async || {
            admissions(&member, &b.peer_id) == 1
        })
        .await;
        member.client.block(b.peer_id).await.expect("block");
        assert_eq!(
            member.client.blocked_peers().await.expect("blocked"),
            vec![b.peer_id]
        );
        eventually("disconnected", Duration::from_secs(2), async || {
            !member.client.is_connected(b.peer_id).await.unwrap_or(true)
        })
        .await;
        eventually("admitted again", Duration::from_secs(15), async || {
            admissions(&member, &b.peer_id) == 2
        })
        .await;
        assert!(
            member
                .client
                .blocked_peers()
                .await
                .expect("blocked")
                .is_empty()
        );
        b.shutdown().await;
        member.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// A raw peer that answers the member's hello with `answer` (a whole frame) and never sends a
/// hello of its own; returns why the member refused it.
async fn refusal_for_hello_answer(member: &Node, answer: Vec<u8>) -> String {
    let mut raw = raw::sync_swarm();
    let raw_peer = *raw.local_peer_id();
    raw.dial(member.address.clone()).expect("dial");
    let refused = async {
        eventually("raw peer refused", Duration::from_secs(10), async || {
            member.refused(&raw_peer).is_some()
        })
        .await;
    };
    let serve = async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message: request_response::Message::Request { channel, .. },
                ..
            }) = raw.select_next_some().await
            {
                let _ = raw.behaviour_mut().send_response(channel, answer.clone());
            }
        }
    };
    tokio::select! {
        () = refused => {}
        () = serve => {}
    }
    member.refused(&raw_peer).expect("refused")
}

fn hello_answer(certificate_len: usize) -> Vec<u8> {
    let hello = SyncResponse::Hello(Hello {
        network: medchain_testkit::net::NETWORK.to_owned(),
        certificate: vec![7u8; certificate_len],
        agent: "raw".to_owned(),
    });
    raw::frame(&hello.to_wire())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_our_hello_over_the_hello_limit_is_not_read() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Hello CA");
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital M");
        cfg.timeouts.hello = Duration::from_secs(2);
        let member = spawn(cfg, Store::default()).await;

        // A small answer with a bogus certificate is read, checked and refused at once.
        let small = hello_answer(100);
        assert!(small.len() < MAX_HELLO_BYTES);
        let reason = refusal_for_hello_answer(&member, small).await;
        assert!(reason.starts_with("certificate refused"), "{reason}");

        // The same answer over the hello limit (well within the 16 MiB of other responses) is
        // refused from its length alone: never decoded, so the peer is refused only for sending
        // no valid hello in time.
        let large = hello_answer(MAX_HELLO_BYTES);
        assert!(large.len() > MAX_HELLO_BYTES + 4);
        let reason = refusal_for_hello_answer(&member, large).await;
        assert_eq!(reason, "timeout");
        member.shutdown().await;
    })
    .await
    .expect("test timed out");
}
