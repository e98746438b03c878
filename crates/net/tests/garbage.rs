//! A raw libp2p peer speaking the sync protocol with garbage frames over loopback TCP: every
//! frame is refused without a panic and without reaching the node, the peer that never sends a
//! valid hello is refused within 5 s, and the node keeps admitting members afterwards.

mod common;

use std::io;
use std::time::Duration;

use common::{Ca, Store, config, eventually, spawn};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{StreamProtocol, SwarmBuilder, noise, tcp, yamux};
use medchain_net::codec::PROTOCOL;
use medchain_protocol::identity::Role;
use medchain_protocol::limits::{MAX_SYNC_REQUEST_BYTES, PROTOCOL_VERSION};

const LIMIT: Duration = Duration::from_secs(60);

/// Writes requests as raw bytes; reads whatever comes back.
#[derive(Clone, Default)]
struct RawCodec;

async fn read_all<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(1 << 16).read_to_end(&mut buf).await?;
    Ok(buf)
}

async fn write_all<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.close().await
}

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_all(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_all(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, &request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_all(io, &response).await
    }
}

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
        let ca = Ca::new("Garbage CA");
        let (cfg, _) = config(&ca, Role::Provider, "Hospital M");
        let member = spawn(cfg, Store::default()).await;

        let mut raw = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default(),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("tcp")
            .with_behaviour(|_| {
                request_response::Behaviour::<RawCodec>::new(
                    [(PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default(),
                )
            })
            .expect("behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
            .build();
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
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital N");
        cfg.bootstrap = vec![member.address.clone()];
        let other = spawn(cfg, Store::default()).await;
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
