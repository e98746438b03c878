//! A raw libp2p peer speaking the sync protocol with garbage frames over loopback TCP: every
//! frame is refused without a panic and without reaching the node, the peer that never sends a
//! valid hello is refused within 5 s, and the node keeps admitting members afterwards.

use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use medchain_protocol::identity::Role;
use medchain_protocol::limits::{MAX_SYNC_REQUEST_BYTES, PROTOCOL_VERSION};
use medchain_testkit::net::{Store, eventually, raw, start_member};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);

fn frames() -> Vec<Vec<u8>> {
    let mut frames = vec![
        b"\xde\xad\xbe\xef garbage".to_vec(),
        // Claims 4 GiB.
        [&u32::MAX.to_be_bytes()[..], b"abc"].concat(),
        // Claims one byte over the request limit.
        ((MAX_SYNC_REQUEST_BYTES + 1) as u32).to_be_bytes().to_vec(),
        // Wrong version byte.
        [&5u32.to_be_bytes()[..], &[PROTOCOL_VERSION + 1, 0, 0, 0, 0]].concat(),
        // Right version, body is not a request.
        [
            &5u32.to_be_bytes()[..],
            &[PROTOCOL_VERSION, 0xff, 0xff, 0xff, 0xff],
        ]
        .concat(),
        // Shorter than announced.
        [&100u32.to_be_bytes()[..], &[PROTOCOL_VERSION, 1]].concat(),
        // Empty.
        Vec::new(),
    ];
    frames.push([&0u32.to_be_bytes()[..]].concat());
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_refused_and_a_silent_peer_is_blocked() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Garbage CA");
        let member = start_member(&ca, Role::Provider, "Hospital M", &[], Store::default()).await;

        let mut raw = raw::sync_swarm();
        let raw_peer = *raw.local_peer_id();
        raw.dial(member.address.clone()).expect("dial");

        let mut sent = 0usize;
        let mut ended = 0usize;
        let total = frames().len();
        loop {
            match raw.select_next_some().await {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if sent == 0 => {
                    for frame in frames() {
                        raw.behaviour_mut().send_request(&peer_id, frame);
                        sent += 1;
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                    ended += 1;
                }
                // The raw codec reads a closed stream as an empty response.
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => {
                    assert!(
                        response.is_empty(),
                        "a garbage frame was answered: {response:?}"
                    );
                    ended += 1;
                }
                _ => {}
            }
            if sent > 0 && ended == total {
                break;
            }
        }
        assert!(member.seen.lock().expect("lock").requests.is_empty());

        // The raw peer never answers the hello: refused within 5 s, and blocked. The raw swarm
        // must keep being polled for its connection to close.
        let refused = async {
            eventually(
                "silent peer refused",
                Duration::from_millis(5500),
                async || member.refused(&raw_peer).as_deref() == Some("timeout"),
            )
            .await;
        };
        tokio::select! {
            () = refused => {}
            _ = async { loop { raw.select_next_some().await; } } => {}
        }

        // The member still admits members.
        let other = start_member(
            &ca,
            Role::Provider,
            "Hospital N",
            &[&member],
            Store::default(),
        )
        .await;
        eventually("member admitted", Duration::from_secs(10), async || {
            member.admitted(&other.peer_id).is_some()
        })
        .await;
        other.shutdown().await;
        member.shutdown().await;
    })
    .await
    .expect("test timed out");
}
