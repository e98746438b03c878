//! Serving the API's router on a listener (plain TCP or `tls::listener`), one hyper HTTP/1.1
//! connection task per client, instead of `axum::serve`, which sets no header-read timeout: a
//! connection that sends no complete request head within [`HEADER_READ_TIMEOUT`] (a fresh one,
//! or a kept-alive one between requests) is closed, so clients that connect and stay silent
//! cannot hold the connection slots for ever. A request being handled is not timed (a full
//! verify may take minutes). At shutdown, connections finish their requests in flight for at
//! most [`SHUTDOWN_GRACE`].

use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tracing::{debug, warn};

/// Longest a connection may take to send a request's head (and may stay idle between
/// requests).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the server waits for requests in flight once asked to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve<L>(mut listener: L, app: Router, shutdown: impl Future<Output = ()>)
where
    L: Listener,
    L::Addr: std::fmt::Debug,
{
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    // The connections' tasks (reaped as they end): aborted if the grace runs out. Work a
    // handler gave the blocking pool (a long verify) is not: it runs to its end.
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next() => continue,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                debug!(?peer, error = %e, "API connection ended with an error");
            }
        });
    }
    // No new connection; those open finish what they are doing, bounded.
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        warn!("API requests still in flight after the shutdown grace: closing them");
    }
    connections.shutdown().await;
}
