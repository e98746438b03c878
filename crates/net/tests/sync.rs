//! Sync requests between two members over loopback TCP: block ranges, payloads and heads return
//! the right data; out-of-bounds ranges and oversized responses are refused without a panic;
//! requests to peers that are not admitted are not sent.

use std::time::Duration;

use medchain_net::Error;
use medchain_protocol::identity::Role;
use medchain_protocol::ids::PayloadHash;
use medchain_protocol::limits::{MAX_BLOCKS_PER_RANGE, MAX_SYNC_RESPONSE_BYTES};
use medchain_protocol::message::{SyncErrorCode, SyncRequest, SyncResponse};
use medchain_testkit::net::{Node, Store, eventually, start_member};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);

/// Two providers, `b` serving `store`; returns once both are admitted.
async fn pair(ca: &TestCa, store: Store) -> (Node, Node) {
    let b = start_member(ca, Role::Provider, "Hospital B", &[], store).await;
    let a = start_member(ca, Role::Provider, "Hospital A", &[&b], Store::default()).await;
    eventually("admitted", Duration::from_secs(10), async || {
        a.admitted(&b.peer_id).is_some() && b.admitted(&a.peer_id).is_some()
    })
    .await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_range_payload_and_heads_return_the_right_data() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Sync CA");
        let (cert, key) = ca.cert_and_key(Role::Provider, "Hospital C");
        let (chain, blocks) = medchain_testkit::blocks::empty_chain(&key, &cert, 10);
        let big = vec![7u8; 3 << 20];
        let small = b"{\"resourceType\":\"Patient\"}".to_vec();
        let mut store = Store {
            blocks: blocks.clone(),
            ..Store::default()
        };
        store.payloads.insert(PayloadHash::of(&big), big.clone());
        store
            .payloads
            .insert(PayloadHash::of(&small), small.clone());
        let (a, b) = pair(&ca, store).await;

        let got = a
            .client
            .blocks(b.peer_id, chain, 3, 4)
            .await
            .expect("blocks");
        assert_eq!(got, SyncResponse::Blocks(blocks[3..7].to_vec()));
        let tail = a
            .client
            .blocks(b.peer_id, chain, 8, 100)
            .await
            .expect("blocks");
        assert_eq!(tail, SyncResponse::Blocks(blocks[8..].to_vec()));

        let got = a.client.payload(b.peer_id, PayloadHash::of(&big)).await;
        assert_eq!(got.expect("payload"), SyncResponse::Payload(big.into()));
        let got = a.client.payload(b.peer_id, PayloadHash::of(&small)).await;
        assert_eq!(got.expect("payload"), SyncResponse::Payload(small.into()));
        let missing = a
            .client
            .payload(b.peer_id, PayloadHash::of(b"nothing"))
            .await;
        assert_eq!(missing.expect("payload"), SyncResponse::NotFound);

        let heads = a.client.heads(b.peer_id).await.expect("heads");
        assert_eq!(heads, SyncResponse::Heads(Vec::new()));
        let hello = medchain_protocol::message::Hello {
            network: medchain_testkit::net::NETWORK.to_owned(),
            certificate: vec![1],
            agent: "x".to_owned(),
        };
        let result = a.client.request(b.peer_id, SyncRequest::Hello(hello)).await;
        assert!(matches!(result, Err(Error::HelloReserved)), "{result:?}");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_limits_and_oversized_responses_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Limits CA");
        let (cert, key) = ca.cert_and_key(Role::Provider, "Hospital C");
        let (chain, _) = medchain_testkit::blocks::empty_chain(&key, &cert, 1);
        let huge = vec![1u8; MAX_SYNC_RESPONSE_BYTES + 1];
        let mut store = Store::default();
        store.payloads.insert(PayloadHash::of(&huge), huge.clone());
        let (a, b) = pair(&ca, store).await;

        for limit in [0, MAX_BLOCKS_PER_RANGE + 1, u32::MAX] {
            let response = a
                .client
                .request(
                    b.peer_id,
                    SyncRequest::Blocks {
                        chain,
                        from: 0,
                        limit,
                    },
                )
                .await
                .expect("answered");
            match response {
                SyncResponse::Error(error) => assert_eq!(error.code, SyncErrorCode::BadRequest),
                other => panic!("range limit {limit} not refused: {other:?}"),
            }
        }
        assert!(
            b.seen.lock().expect("lock").requests.is_empty(),
            "out-of-bounds requests reached the node"
        );

        // The responder refuses to write a frame over the response limit; the requester gets an
        // error, not a hang, and both keep working.
        let result = a.client.payload(b.peer_id, PayloadHash::of(&huge)).await;
        assert!(matches!(result, Err(Error::Request(_))), "{result:?}");
        let heads = a.client.heads(b.peer_id).await.expect("still serving");
        assert_eq!(heads, SyncResponse::Heads(Vec::new()));
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_peers_not_admitted_are_not_sent() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Unknown CA");
        let a = start_member(&ca, Role::Provider, "Hospital A", &[], Store::default()).await;
        let stranger = medchain_net::PeerId::random();
        let result = a.client.heads(stranger).await;
        assert!(matches!(result, Err(Error::NotAdmitted(p)) if p == stranger));
        a.shutdown().await;
    })
    .await
    .expect("test timed out");
}
