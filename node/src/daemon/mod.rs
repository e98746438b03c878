//! The node daemon: start-up, the API server, the verifier schedule, and clean shutdown.
//!
//! Start-up checks identity and store and scans the store before anything is served; then the
//! network (gossip, sync, anti-entropy, repair from peers), the API and the verifier schedule run
//! until SIGINT or SIGTERM.

pub mod intake;
pub mod logging;
pub mod network;
pub mod responder;
pub mod revocation;
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
    let (author, role, network_key) = startup::member(&config, &trust)?;
    let pseudonyms = startup::pseudonyms(&config)?;
    let (store, moved_aside) = startup::store(&config)?;
    let rebuilding = moved_aside.is_some();
    if rebuilding {
        warn!(
            "every chain must be rebuilt from peers before this node is complete; writes wait until it has caught up with a peer"
        );
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
    let (publish_tx, publish_rx) = tokio::sync::mpsc::channel(1024);
    let consortium = trust.shared_consortium();
    let own_certificate = identity_certificate(&config)?;
    let service = Arc::new(
        Service::new(
            Ledger::new(store, trust),
            author,
            pseudonyms,
            audit,
            startup::now_ms,
        )
        .with_publisher(publish_tx)
        .with_batching(crate::service::BatchLimits {
            max_entries: config.batching.max_entries,
            max_delay: Duration::from_millis(config.batching.max_delay_ms),
        }),
    );
    if rebuilding {
        service.pause_writes();
    }

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

    // The network: gossip, sync, membership; the glue ties it to the ledger.
    let mut net_config = medchain_net::Config::new(
        config.node.network.clone(),
        &network_key,
        own_certificate.clone(),
        consortium,
    )
    .context("the member key is not usable as a network identity")?;
    net_config.listen = parse_addrs(&config.p2p.listen, "p2p.listen")?;
    net_config.bootstrap = parse_addrs(&config.p2p.bootstrap, "p2p.bootstrap")?;
    net_config.metrics = Some(metrics.shared_registry());
    let (client, events, net_task) =
        medchain_net::start(net_config).context("cannot start the network")?;
    info!(peer_id = %client.peer_id(), "network started");
    let (stop_glue, glue_stopped) = tokio::sync::oneshot::channel::<()>();
    let glue = tokio::spawn(
        network::Glue::new(service.clone(), client.clone(), metrics.clone()).run(
            events,
            publish_rx,
            async move {
                let _ = glue_stopped.await;
            },
        ),
    );

    let crl_watch = tokio::spawn(revocation::watch(
        config.clone(),
        own_certificate,
        service.clone(),
        client.clone(),
    ));

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
        net: Some(client.clone()),
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the API server failed")?;

    if let Some(task) = verifier {
        task.abort();
    }
    crl_watch.abort();
    let _ = stop_glue.send(());
    let _ = glue.await;
    let _ = client.shutdown().await;
    let _ = net_task.await;
    let flushed =
        tokio::task::spawn_blocking(move || service.with_ledger(|l| l.store().flush())).await;
    match flushed {
        Ok(Ok(())) => info!("store flushed; shut down cleanly"),
        Ok(Err(e)) => warn!(error = %e, "final flush failed"),
        Err(_) => warn!("final flush was interrupted"),
    }
    Ok(())
}

fn parse_addrs(addrs: &[String], key: &str) -> Result<Vec<medchain_net::Multiaddr>> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .with_context(|| format!("{key}: {a:?} is not a multiaddress"))
        })
        .collect()
}

fn identity_certificate(config: &Config) -> Result<Vec<u8>> {
    let pem = std::fs::read_to_string(&config.identity.member_cert)
        .with_context(|| format!("cannot read {}", config.identity.member_cert.display()))?;
    medchain_protocol::identity::pem_to_der_cert(&pem).context("member certificate is not readable")
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
