//! A hand-written peer on loopback TCP: a plain libp2p swarm that speaks the sync protocol with
//! raw bytes (requests and responses are written as given, already framed or not), or no
//! protocol at all, so tests can play a misbehaving peer.

use std::io;
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, Swarm, SwarmBuilder, noise, tcp, yamux};
use medchain_net::codec::PROTOCOL;

/// Writes requests and responses as raw bytes; reads whatever comes back (up to 64 KiB).
#[derive(Clone, Default)]
pub struct RawCodec;

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

/// A swarm with a fresh identity on TCP + noise + yamux running `behaviour`; idle connections
/// stay open for 60 s.
pub fn swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| behaviour)
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// A swarm speaking the sync protocol with raw bytes.
pub fn sync_swarm() -> Swarm<request_response::Behaviour<RawCodec>> {
    swarm(request_response::Behaviour::<RawCodec>::new(
        [(PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default(),
    ))
}

/// `wire` as one sync frame: its length (4 bytes, big-endian) then the bytes.
pub fn frame(wire: &[u8]) -> Vec<u8> {
    [&(wire.len() as u32).to_be_bytes()[..], wire].concat()
}
