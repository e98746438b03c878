//! Gossip on five nodes in a line over loopback TCP: an accepted message reaches every node; a
//! rejected one goes no further than the first hop and lowers the publisher's score there.

use std::time::Duration;

use libp2p::gossipsub::PublishError;
use medchain_net::Topic;
use medchain_net::behaviour::MAX_TRANSMIT_SIZE;
use medchain_protocol::identity::Role;
use medchain_protocol::limits::MAX_GOSSIP_BYTES;
use medchain_testkit::net::{BAD, Node, Store, config, eventually, spawn, start_member};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);

/// Five providers in a line, each bootstrapping from the previous; returns once every link is
/// admitted and every node has its neighbours in its blocks mesh.
async fn line(ca: &TestCa) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    for i in 0..5 {
        let (mut cfg, _) = config(ca, Role::Provider, &format!("Hospital {i}"));
        if let Some(prev) = nodes.last() {
            cfg.bootstrap = vec![prev.address.clone()];
        }
        nodes.push(spawn(cfg, Store::default()).await);
    }
    for (i, node) in nodes.iter().enumerate() {
        let want = if i == 0 || i == 4 { 1 } else { 2 };
        eventually("mesh formed", Duration::from_secs(20), async || {
            node.client
                .mesh_peers(Topic::Blocks)
                .await
                .map(|p| p.len() >= want)
                .unwrap_or(false)
        })
        .await;
    }
    // The admission event reaches the test's event reader a moment after the mesh forms.
    for pair in nodes.windows(2) {
        eventually("both sides admitted", Duration::from_secs(10), async || {
            pair[0].admitted(&pair[1].peer_id) == Some(Role::Provider)
                && pair[1].admitted(&pair[0].peer_id) == Some(Role::Provider)
        })
        .await;
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_message_reaches_every_node_of_a_line() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Gossip CA");
        let nodes = line(&ca).await;
        let data = b"block message 1".to_vec();
        nodes[0]
            .client
            .publish(Topic::Blocks, data.clone())
            .await
            .expect("publish");
        for node in &nodes[1..] {
            eventually("message delivered", Duration::from_secs(10), async || {
                node.got(&data)
            })
            .await;
        }
        for node in nodes {
            node.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_message_stops_at_the_first_hop_and_lowers_the_score() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Reject CA");
        let nodes = line(&ca).await;
        let publisher = nodes[0].peer_id;
        let before = nodes[1]
            .client
            .peer_score(publisher)
            .await
            .expect("score")
            .unwrap_or(0.0);
        let bad = [BAD, b" block"].concat();
        nodes[0]
            .client
            .publish(Topic::Blocks, bad.clone())
            .await
            .expect("publish");
        eventually("first hop judged it", Duration::from_secs(10), async || {
            nodes[1].got(&bad)
        })
        .await;
        // A good message published after the bad one reaches the end of the line, so the bad
        // one had every chance to travel too.
        let good = b"good block".to_vec();
        nodes[0]
            .client
            .publish(Topic::Blocks, good.clone())
            .await
            .expect("publish");
        eventually(
            "good message delivered",
            Duration::from_secs(10),
            async || nodes[4].got(&good),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for node in &nodes[2..] {
            assert!(
                !node.got(&bad),
                "rejected message travelled past the first hop"
            );
        }
        let after = nodes[1]
            .client
            .peer_score(publisher)
            .await
            .expect("score")
            .expect("scored");
        assert!(
            after < before - 10.0,
            "score did not drop: {before} -> {after}"
        );
        for node in nodes {
            node.shutdown().await;
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_sized_messages_fit_and_larger_ones_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Size CA");
        let a = start_member(&ca, Role::Provider, "Hospital A", &[], Store::default()).await;
        let b = start_member(&ca, Role::Provider, "Hospital B", &[&a], Store::default()).await;
        eventually("mesh formed", Duration::from_secs(20), async || {
            !a.client
                .mesh_peers(Topic::Blocks)
                .await
                .unwrap_or_default()
                .is_empty()
        })
        .await;
        // A block message at its protocol limit is far over gossipsub's 64 KiB default.
        let block = vec![9u8; MAX_GOSSIP_BYTES];
        a.client
            .publish(Topic::Blocks, block.clone())
            .await
            .expect("publish");
        let evidence = b"evidence".to_vec();
        a.client
            .publish(Topic::Evidence, evidence.clone())
            .await
            .expect("publish");
        eventually("both delivered", Duration::from_secs(10), async || {
            b.got(&block) && b.got(&evidence)
        })
        .await;
        let too_large = vec![1u8; MAX_TRANSMIT_SIZE + 1];
        let result = a.client.publish(Topic::Blocks, too_large).await;
        assert!(
            matches!(
                result,
                Err(medchain_net::Error::Publish(PublishError::MessageTooLarge))
            ),
            "{result:?}"
        );
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}
