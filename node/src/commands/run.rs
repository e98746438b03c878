//! `medchain run`: the daemon, and the composition root of the node. This is the one place
//! that knows both the daemon's tasks and the HTTP API: it opens the identity and the store,
//! builds the service and the run's coordination, scans the store before anything is served,
//! then starts the verifier schedule, the network and its glue, the revocation-list watch and
//! the API, until SIGINT or SIGTERM. When the verifier finds damage it cannot repair in place,
//! the node marks the store damaged, stops every task, and starts again: the start-up moves the
//! store aside and rebuilds it from peers, with writes paused (at most
//! [`MAX_REBUILDS_PER_HOUR`] times an hour; more means a failing disk, and the node stops with
//! an error).

use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use medchain_chain::Ledger;
use tracing::{info, warn};

use crate::api::{AppState, router};
use crate::cli::{LogFormat, Run};
use crate::config::Config;
use crate::coordination::Coordination;
use crate::daemon::{compaction, network, revocation, startup, verifier};
use crate::flows::integrity_check::check_and_quarantine;
use crate::metrics::Metrics;
use crate::service::{AuditLog, AuditTrail, Service};

/// Most store rebuilds in an hour of one process before it gives up.
pub const MAX_REBUILDS_PER_HOUR: usize = 3;

/// How one run of the node ended.
enum Ended {
    /// SIGINT or SIGTERM.
    Stopped,
    /// The store must be moved aside and rebuilt (it is marked damaged).
    Rebuild,
}

/// Runs the daemon until SIGINT or SIGTERM; exit 0 after a clean shutdown.
pub fn run(args: &Run, log_format: LogFormat) -> Result<ExitCode> {
    crate::daemon::logging::init(log_format);
    let config = Config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_node(config))?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the node until SIGINT or SIGTERM, starting it again with a rebuilt store when the
/// verifier asks for one.
async fn run_node(config: Config) -> Result<()> {
    let stop = stop_on_signals()?;
    let mut rebuilds: Vec<std::time::Instant> = Vec::new();
    loop {
        match run_once(&config, stop.clone()).await? {
            Ended::Stopped => return Ok(()),
            Ended::Rebuild => {
                rebuilds.retain(|at| at.elapsed() < Duration::from_secs(3600));
                rebuilds.push(std::time::Instant::now());
                if rebuilds.len() > MAX_REBUILDS_PER_HOUR {
                    anyhow::bail!(
                        "the store was found damaged {} times within an hour: the disk may be failing; the node stops (the damaged stores are kept as store.unopenable-*)",
                        rebuilds.len()
                    );
                }
                warn!("starting again with the store moved aside, to rebuild it from peers");
            }
        }
    }
}

/// One run of the node, from start-up to its end.
async fn run_once(config: &Config, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<Ended> {
    let config = config.clone();
    // The list's bytes as the trust is built from them: the watcher compares the file with
    // these, so a list copied in between the start and the watcher's first look is not missed.
    let crl_at_start = config
        .identity
        .crl
        .as_ref()
        .and_then(|path| std::fs::read(path).ok());
    let trust = startup::trust(&config)?;
    // The API's certificate is loaded before anything else is opened: a mistake shows at once.
    let api_tls = match (&config.api.tls_cert, &config.api.tls_key) {
        (Some(cert), Some(key)) => {
            Some(crate::tls::server_config(cert, key).context("cannot serve the API over TLS")?)
        }
        _ => None,
    };
    revocation::admit_crl_number(&config, trust.consortium())
        .map_err(anyhow::Error::msg)
        .context("refusing to start with this revocation list")?;
    let consortium = trust.shared_consortium();
    // A rotation under way is seen (not touched) before the store is opened: a store that must
    // be moved aside then is not. The store's lock is taken before the key files are changed.
    let rotation_under_way = crate::node_key::rotation::next_path(&config.keys.node_key).exists();
    let (store, moved_aside) = startup::store(&config, rotation_under_way)?;
    let (keys, rotation_pending) = crate::node_key::rotation::open_ring(&config.keys.node_key)?;
    keys.check_store(&store).context(
        "the node key does not open this store's data keys: is keys.node_key the file this node was set up with?",
    )?;
    let keys = keys.with_encryption_key(startup::encryption_key(&config)?);
    let keys = match &config.keys.recovery_public {
        Some(path) => keys.with_recovery_key(crate::commands::recovery::load_public(path)?),
        None => {
            if config.node.role == "provider" {
                tracing::warn!(
                    "no recovery key ([keys] recovery_public): a lost data directory would lose the keys of this provider's records; see `medchain recovery init`"
                );
            }
            keys
        }
    };
    let (author, role, network_key) = startup::member(&config, &trust, &keys)?;
    let pseudonyms = startup::pseudonyms(&config)?;
    if moved_aside.is_some() {
        warn!(
            "every chain must be rebuilt from peers before this node is complete; writes wait until a peer that holds this node's chain confirms its head"
        );
    }
    let mut ledger = Ledger::new(store, trust);
    if ledger.store().node_key_check()?.is_none() {
        // A store from before check values (or a new one): it names its node key from now on.
        ledger.record_node_key(&keys)?;
    }
    if rotation_pending {
        let done = crate::node_key::rotation::resume(&config.keys.node_key, &keys, &mut ledger)?;
        info!(
            rewrapped = done.rewrapped,
            already = done.already,
            unreadable = done.unreadable,
            "interrupted node key rotation finished"
        );
    }
    if let Some(author) = &author {
        let signing = startup::signing(&config, author, ledger.store(), moved_aside.as_deref())?;
        ledger = ledger.with_signing(signing);
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
    let own_certificate = identity_certificate(&config)?;
    let member_org = medchain_protocol::identity::org_of(&own_certificate)
        .context("the member certificate names no organisation (O): grants name members by it")?;
    let coordination = Arc::new(Coordination::with_publisher(publish_tx));
    let service = Arc::new(
        Service::new(
            ledger,
            author,
            keys,
            pseudonyms,
            audit,
            startup::now_ms,
            coordination.clone(),
        )
        .with_batching(crate::service::BatchLimits {
            max_entries: config.batching.max_entries,
            max_delay: Duration::from_millis(config.batching.max_delay_ms),
        })
        .with_member_org(member_org),
    );
    let metrics = Arc::new(Metrics::new());

    // A store tampered with while the node was stopped is found before anything is served.
    {
        let (service, coordination, metrics) =
            (service.clone(), coordination.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || {
            check_and_quarantine(&service, &coordination, &metrics)
        })
        .await
        .context("start-up integrity check failed")?;
    }
    if let Some(reason) = coordination.integrity().rebuild_reason() {
        startup::mark_store_damaged(&config, &reason)?;
        return Ok(Ended::Rebuild);
    }
    let interval = (config.verifier.interval_secs > 0)
        .then(|| Duration::from_secs(config.verifier.interval_secs));
    let verifier = tokio::spawn(verifier::schedule(
        service.clone(),
        coordination.clone(),
        metrics.clone(),
        interval,
    ));
    let (stop_compaction, compaction_stop) = tokio::sync::watch::channel(false);
    let compaction = tokio::spawn(compaction::schedule(
        service.clone(),
        coordination.clone(),
        compaction_stop,
    ));

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
        network::Glue::new(
            service.clone(),
            coordination.clone(),
            client.clone(),
            metrics.clone(),
        )
        .run(events, publish_rx, async move {
            let _ = glue_stopped.await;
        }),
    );

    let api_tls_expiry = crate::daemon::expiry::api_tls_expiry(&config);
    coordination.set_member_certificate(own_certificate.clone());
    crate::daemon::expiry::check_now(api_tls_expiry, &service, &coordination, &metrics);
    let expiry_watch = tokio::spawn(crate::daemon::expiry::watch(
        api_tls_expiry,
        service.clone(),
        coordination.clone(),
        metrics.clone(),
    ));
    let renewal_watch = tokio::spawn(crate::daemon::member_cert::watch(
        config.clone(),
        api_tls_expiry,
        service.clone(),
        coordination.clone(),
        metrics.clone(),
        client.clone(),
    ));
    let crl_watch = tokio::spawn(revocation::watch(
        config.clone(),
        crl_at_start,
        coordination.clone(),
        service.clone(),
        client.clone(),
    ));

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let local = listener.local_addr().context("no local address")?;
    let scheme = if api_tls.is_some() { "https" } else { "http" };
    info!(api = %local, scheme, role = role.as_str(), network = %config.node.network, "node ready");
    let (users, provider) = match &config.auth {
        Some(auth) => {
            info!(issuer = %auth.issuer, jwks = %auth.jwks_url, "users sign in at the identity provider");
            let provider = match &auth.sign_in {
                Some(sign_in) => Some(crate::api::ui::provider::ProviderSignIn::new(
                    sign_in,
                    auth.jwks_ca.as_deref(),
                )?),
                None => None,
            };
            (Some(crate::api::auth::UserTokens::new(auth)?), provider)
        }
        None => (None, None),
    };
    let app = router(AppState {
        service: service.clone(),
        coordination: coordination.clone(),
        auth: std::sync::Arc::new(crate::api::auth::Authenticator::new(
            token.trim().into(),
            users,
            api_tls.is_some(),
            config.api.url.as_deref(),
            provider,
        )?),
        role,
        metrics,
        net: Some(client.clone()),
    });
    let watched = coordination.clone();
    let shutdown = async move {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => {}
            () = watched.integrity().rebuild_requested() => {
                warn!("the store must be rebuilt: stopping every task");
            }
        }
    };
    match api_tls {
        Some(tls) => {
            let listener = crate::tls::listener::TlsListener::new(listener, tls)
                .context("cannot serve the API over TLS")?;
            crate::api::serve::serve(listener, app, shutdown).await;
        }
        None => {
            warn!(
                "the API serves plain HTTP (api.plain_http): keep it on loopback or behind a TLS proxy"
            );
            crate::api::serve::serve(listener, app, shutdown).await;
        }
    }

    verifier.abort();
    // A compaction step under way finishes (one step; at most 30 s are waited for: a step
    // stopped by the process's exit is a crash the store survives) before the store is let go.
    let _ = stop_compaction.send(true);
    if tokio::time::timeout(Duration::from_secs(30), compaction)
        .await
        .is_err()
    {
        warn!("a payload compaction step did not finish within 30 s of the shutdown");
    }
    crl_watch.abort();
    expiry_watch.abort();
    renewal_watch.abort();
    let _ = stop_glue.send(());
    let _ = glue.await;
    let _ = client.shutdown().await;
    let _ = net_task.await;
    // The last reference to the service (and with it the store) goes with this task.
    let flushed = tokio::task::spawn_blocking(move || {
        let flushed = service.flush();
        (flushed, coordination.integrity().rebuild_reason())
    })
    .await;
    let ended = match flushed {
        Ok((Ok(()), None)) => {
            info!("store flushed; shut down cleanly");
            Ended::Stopped
        }
        Ok((_, Some(reason))) => {
            startup::mark_store_damaged(&config, &reason)?;
            Ended::Rebuild
        }
        Ok((Err(e), None)) => {
            warn!(error = %e, "final flush failed");
            Ended::Stopped
        }
        Err(_) => {
            warn!("final flush was interrupted");
            Ended::Stopped
        }
    };
    Ok(ended)
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

/// SIGINT and SIGTERM, listened for from the start of the process: registered before the node
/// says it is ready, so a signal sent right after that stops it cleanly instead of killing it.
/// The receiver turns `true` once either arrived (and stays so).
fn stop_on_signals() -> Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => info!("SIGINT received: shutting down"),
            _ = terminate.recv() => info!("SIGTERM received: shutting down"),
        }
        let _ = stop.send(true);
    });
    Ok(stopped)
}
