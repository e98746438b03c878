//! A TLS listener for the API server (`api::serve`, an `axum::serve::Listener`): TCP connections are accepted by a task of their own and
//! their handshakes run concurrently, each on its own task with a deadline, so a client that
//! opens a connection and says nothing (or speaks plain HTTP) holds up no one else. Bounded: at
//! most [`MAX_CONNECTIONS`] open at once (each holds its slot until it closes), at most
//! [`MAX_HANDSHAKES`] of them in their handshake or finished and waiting for the server (the
//! accept loop waits for a free slot, leaving further connections in the kernel's backlog).
//!
//! How long an established connection may stay silent is bounded by the server
//! (`api::serve`: a request head within 30 s).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// Most API connections open at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most TLS handshakes in progress (or finished, waiting for the server) at once.
pub const MAX_HANDSHAKES: usize = 256;
/// Longest a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most finished handshakes waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// Accepted, handshaken TLS connections (see the module documentation).
pub struct TlsListener {
    /// Each with its handshake slot, released when the server takes it.
    ready: mpsc::Receiver<(Connection, SocketAddr, OwnedSemaphorePermit)>,
    local: SocketAddr,
}

/// An established TLS connection, holding its slot among [`MAX_CONNECTIONS`] until dropped.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl TlsListener {
    /// Serves TLS with `config` on the connections `tcp` accepts. The accepting task ends
    /// when the listener is dropped (the server stopped).
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), sender));
        Ok(Self { ready, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(Connection, SocketAddr, OwnedSemaphorePermit)>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let slots = tokio::select! {
            () = ready.closed() => return,
            slots = async {
                let connection = connections.clone().acquire_owned().await?;
                let handshake = handshakes.clone().acquire_owned().await?;
                Ok::<_, tokio::sync::AcquireError>((connection, handshake))
            } => match slots {
                Ok(slots) => slots,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = ready.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin (as axum does).
                warn!(error = %e, "the API could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let (slot, handshaking) = slots;
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(stream)) => {
                    let connection = Connection {
                        stream,
                        _slot: slot,
                    };
                    // The server stopped if this fails: the connection just closes. The
                    // handshake slot goes along, released when the server takes it.
                    let _ = ready.send((connection, peer, handshaking)).await;
                }
                Ok(Err(e)) => debug!(%peer, error = %e, "API TLS handshake failed"),
                Err(_) => debug!(%peer, "API TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some((connection, peer, _handshake_slot)) => (connection, peer),
            // The accepting task holds a sender for as long as this listener lives, and ends
            // only once it is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
