//! The node daemon: start-up, the API server, the verifier schedule, and clean shutdown.
//!
//! Today the daemon serves one node's ledger over the API and audits it; the network layer
//! (gossip, sync, repair from peers) is wired in by issue 5 once `medchain-net` lands.

pub mod logging;
pub mod startup;
pub mod verifier;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use medchain_chain::Ledger;
use tracing::{info, warn};

use crate::api::{AppState, router};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::service::{AuditLog, AuditTrail, Service};

/// Runs the node until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    let trust = startup::trust(&config)?;
    let (author, role, _network_key) = startup::member(&config, &trust)?;
    let pseudonyms = startup::pseudonyms(&config)?;
    let (store, moved_aside) = startup::store(&config)?;
    if moved_aside.is_some() {
        warn!("every chain must be rebuilt from peers before this node is complete");
    }
    let token = std::fs::read_to_string(&config.api.token_file).with_context(|| {
        format!(
            "cannot read the API token {}",
            config.api.token_file.display()
        )
    })?;
    let audit = match (config.audit.reads.as_str(), &author) {
        ("off", _) => AuditTrail::Off,
        (_, Some(_)) => AuditTrail::Chain,
        (_, None) => AuditTrail::LocalLog(AuditLog::new(config.audit.local_log.clone())),
    };
    let service = Arc::new(Service::new(
        Ledger::new(store, trust),
        author,
        pseudonyms,
        audit,
        startup::now_ms,
    ));

    let metrics = Arc::new(Metrics::new());

    // A store tampered with while the node was stopped is found before anything is served.
    {
        let (service, metrics) = (service.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || verifier::check_and_quarantine(&service, &metrics))
            .await
            .context("start-up integrity check failed")?;
    }
    let verifier = (config.verifier.interval_secs > 0).then(|| {
        let interval = Duration::from_secs(config.verifier.interval_secs);
        tokio::spawn(verifier::schedule(
            service.clone(),
            metrics.clone(),
            interval,
        ))
    });

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let local = listener.local_addr().context("no local address")?;
    info!(api = %local, role = role.as_str(), network = %config.node.network, "node ready");
    let app = router(AppState {
        service: service.clone(),
        token: token.trim().into(),
        role,
        metrics,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the API server failed")?;

    if let Some(task) = verifier {
        task.abort();
    }
    let flushed =
        tokio::task::spawn_blocking(move || service.with_ledger(|l| l.store().flush())).await;
    match flushed {
        Ok(Ok(())) => info!("store flushed; shut down cleanly"),
        Ok(Err(e)) => warn!(error = %e, "final flush failed"),
        Err(_) => warn!("final flush was interrupted"),
    }
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => info!("SIGINT received: shutting down"),
        _ = terminate => info!("SIGTERM received: shutting down"),
    }
}
