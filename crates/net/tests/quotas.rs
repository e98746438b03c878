//! Per-peer quotas over loopback TCP: a peer with more sync requests at the node than its share
//! is answered `Busy` while another peer is still served, and slots come back when requests end
//! (even when the node drops the handle); a peer relaying more gossip than its share of the
//! judgement queue has the rest Ignored while another peer's gossip still reaches the node.

// The helpers below run only inside tests.
#![allow(clippy::expect_used)]

use std::time::Duration;

use medchain_net::{Error, PeerId, Topic};
use medchain_protocol::identity::Role;
use medchain_protocol::message::{SyncErrorCode, SyncResponse};
use medchain_testkit::net::{Node, Store, config, eventually, spawn};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);

/// A provider serving `store` with `inbound_requests_per_peer` 2 and at most 3 messages per
/// relay awaiting judgement (judged within 2 s), and two providers connected to it only.
async fn star(ca: &TestCa, store: Store) -> (Node, Node, Node) {
    let (mut cfg, _) = config(ca, Role::Provider, "Hospital M");
    cfg.bounds.inbound_requests_per_peer = 2;
    cfg.bounds.validations_per_peer = 3;
    cfg.timeouts.validation = Duration::from_secs(2);
    let hub = spawn(cfg, store).await;
    let mut spokes = Vec::new();
    for name in ["Hospital A", "Hospital C"] {
        let (mut cfg, _) = config(ca, Role::Provider, name);
        cfg.bootstrap = vec![hub.address.clone()];
        spokes.push(spawn(cfg, Store::default()).await);
    }
    let c = spokes.pop().expect("c");
    let a = spokes.pop().expect("a");
    eventually("admitted", Duration::from_secs(10), async || {
        hub.admitted(&a.peer_id).is_some() && hub.admitted(&c.peer_id).is_some()
    })
    .await;
    (hub, a, c)
}

fn is_busy(result: &Result<SyncResponse, Error>) -> bool {
    matches!(result, Ok(SyncResponse::Error(e)) if e.code == SyncErrorCode::Busy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_a_peers_share_are_busy_while_another_peer_is_served() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Requests CA");
        let slow = Store {
            respond_after: Some(Duration::from_secs(1)),
            ..Store::default()
        };
        let (hub, a, c) = star(&ca, slow).await;

        let from_a = futures::future::join_all((0..6).map(|_| a.client.heads(hub.peer_id)));
        let from_c = async {
            // Sent once a's requests are with the node.
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.client.heads(hub.peer_id).await
        };
        let (from_a, from_c) = tokio::join!(from_a, from_c);
        let served = from_a
            .iter()
            .filter(|r| matches!(r, Ok(SyncResponse::Heads(_))))
            .count();
        let busy = from_a.iter().filter(|r| is_busy(r)).count();
        assert_eq!((served, busy), (2, 4), "{from_a:?}");
        assert_eq!(from_c.expect("c served"), SyncResponse::Heads(Vec::new()));
        assert_eq!(hub.seen.lock().expect("lock").requests.len(), 3);

        // Answered requests give their slots back.
        let again = futures::future::join_all((0..2).map(|_| a.client.heads(hub.peer_id))).await;
        assert!(
            again
                .iter()
                .all(|r| matches!(r, Ok(SyncResponse::Heads(_)))),
            "{again:?}"
        );
        for node in [a, c, hub] {
            node.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_response_handles_give_their_slots_back() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Dropping CA");
        let dropping = Store {
            drop_requests: true,
            ..Store::default()
        };
        let (hub, a, c) = star(&ca, dropping).await;
        // Each round takes both of a's slots; were a dropped handle to keep its slot, the
        // second round would be answered Busy.
        for round in 0..3 {
            let results =
                futures::future::join_all((0..2).map(|_| a.client.heads(hub.peer_id))).await;
            for result in &results {
                assert!(
                    matches!(result, Err(Error::Request(_))),
                    "round {round}: {result:?}"
                );
            }
            // libp2p reports the dropped handle to the hub as the stream closes; give that
            // report the time to arrive before the next round.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(hub.seen.lock().expect("lock").requests.len(), 6);
        for node in [a, c, hub] {
            node.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

fn from_relay(node: &Node, relay: &PeerId) -> usize {
    let seen = node.seen.lock().expect("lock");
    seen.gossip_ids.iter().filter(|(_, r)| r == relay).count()
}

async fn mesh_formed(node: &Node) {
    eventually("mesh formed", Duration::from_secs(20), async || {
        !node
            .client
            .mesh_peers(Topic::Blocks)
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_beyond_its_share_of_the_judgement_queue_is_ignored() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Validations CA");
        // The hub never judges, so what it took stays in the queue until the 2 s deadline.
        let mute = Store {
            mute: true,
            ..Store::default()
        };
        let (hub, a, c) = star(&ca, mute).await;
        mesh_formed(&a).await;
        mesh_formed(&c).await;

        for i in 0..8 {
            a.client
                .publish(Topic::Blocks, format!("a block {i}").into_bytes())
                .await
                .expect("publish");
        }
        eventually("a's share taken", Duration::from_secs(5), async || {
            from_relay(&hub, &a.peer_id) >= 3
        })
        .await;
        // Another relay still gets through while a's share is full.
        c.client
            .publish(Topic::Blocks, b"c block".to_vec())
            .await
            .expect("publish");
        eventually("c's message judged", Duration::from_secs(5), async || {
            hub.got(b"c block")
        })
        .await;
        assert_eq!(from_relay(&hub, &a.peer_id), 3, "a went past its share");

        // Once the deadline Ignores what was taken, a's share is free again.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        a.client
            .publish(Topic::Blocks, b"a block after".to_vec())
            .await
            .expect("publish");
        eventually("a's share freed", Duration::from_secs(5), async || {
            hub.got(b"a block after")
        })
        .await;
        assert_eq!(from_relay(&hub, &a.peer_id), 4);
        for node in [a, c, hub] {
            node.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}
