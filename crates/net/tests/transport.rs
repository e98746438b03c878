//! Transports and timers over loopback: TCP only (QUIC refused), redial of a bootstrap peer that
//! comes up late, and
//! the judgement timeout (a message the node never judges is Ignored, so it is not forwarded).

use std::time::Duration;

use libp2p::multiaddr::Protocol;

use medchain_net::{Acceptance, Multiaddr, Topic};
use medchain_protocol::identity::Role;
use medchain_testkit::net::{Store, config, eventually, spawn, start_member, test_config};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);

/// QUIC is not built in (libp2p-quic brings aws-lc-rs, and rustls with two providers panics at
/// run time): a QUIC listen address is refused when the network starts, not ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quic_listen_address_is_refused_at_start() {
    let ca = TestCa::new("QUIC CA");
    let (mut cfg, _) = config(&ca, Role::Provider, "Hospital Q1");
    cfg.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("addr")];
    assert!(medchain_net::start(cfg).is_err(), "QUIC is not built in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_peer_that_starts_late_is_redialled() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Redial CA");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let (cert, key) = ca.cert_and_key(Role::Provider, "Late Hospital");
        let mut late_cfg = test_config(ca.consortium.clone(), cert, &key);
        let listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("addr");
        late_cfg.listen = vec![listen.clone()];
        let late_id = late_cfg.keypair.public().to_peer_id();

        let (mut cfg, _) = config(&ca, Role::Provider, "Early Hospital");
        cfg.bootstrap = vec![listen.with(Protocol::P2p(late_id))];
        cfg.timeouts.redial_initial = Duration::from_millis(200);
        cfg.timeouts.redial_max = Duration::from_millis(800);
        let early = spawn(cfg, Store::default()).await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert!(early.admitted(&late_id).is_none());

        let late = spawn(late_cfg, Store::default()).await;
        eventually(
            "redialled and admitted",
            Duration::from_secs(10),
            async || early.admitted(&late_id).is_some(),
        )
        .await;
        early.shutdown().await;
        late.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unjudged_message_is_ignored_after_the_timeout() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Timeout CA");
        let a = start_member(&ca, Role::Provider, "Hospital A", &[], Store::default()).await;
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital B");
        cfg.bootstrap = vec![a.address.clone()];
        cfg.timeouts.validation = Duration::from_millis(500);
        let mute = Store {
            mute: true,
            ..Store::default()
        };
        let b = spawn(cfg, mute).await;
        let c = start_member(&ca, Role::Provider, "Hospital C", &[&b], Store::default()).await;
        for node in [&a, &b, &c] {
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
        eventually("b meshed with both", Duration::from_secs(20), async || {
            b.client
                .mesh_peers(Topic::Blocks)
                .await
                .unwrap_or_default()
                .len()
                == 2
        })
        .await;
        let data = b"never judged".to_vec();
        a.client
            .publish(Topic::Blocks, data.clone())
            .await
            .expect("publish");
        eventually("b received", Duration::from_secs(10), async || b.got(&data)).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!c.got(&data), "an unjudged message was forwarded");
        let (id, relay) = b.seen.lock().expect("lock").gossip_ids[0].clone();
        let pending = b
            .client
            .report(id, relay, Acceptance::Accept)
            .await
            .expect("report");
        assert!(
            !pending,
            "the message was still awaiting judgement after the timeout"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!c.got(&data));
        a.shutdown().await;
        b.shutdown().await;
        c.shutdown().await;
    })
    .await
    .expect("test timed out");
}
