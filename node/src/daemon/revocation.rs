//! Applies a new consortium revocation list without a restart.
//!
//! The CA publishes `crl.pem`; operators copy it over the file the configuration names. Every
//! few seconds the node re-reads that file; when its bytes change and it parses as a list signed
//! for our root, the ledger gets a new trust (its certificate cache is dropped, so revocation
//! takes effect at once for new blocks) and the network refuses admitted peers whose
//! certificate is now revoked. A file that does not parse is reported and the list in force
//! stays: a half-copied file must not lift a revocation.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use super::startup;
use crate::config::Config;
use crate::service::Service;

/// Seconds between checks of the revocation list file.
pub const CRL_CHECK_SECS: u64 = 5;

/// Watches the configured revocation list until the task is dropped.
pub async fn watch(
    config: Config,
    own_certificate: Vec<u8>,
    service: Arc<Service>,
    client: medchain_net::Client,
) {
    let Some(path) = config.identity.crl.clone() else {
        return;
    };
    let mut applied = std::fs::read(&path).ok();
    let mut ticks = tokio::time::interval(Duration::from_secs(CRL_CHECK_SECS));
    loop {
        ticks.tick().await;
        let current = std::fs::read(&path).ok();
        if current.is_none() || current == applied {
            continue;
        }
        applied = current;
        let trust = match startup::trust(&config) {
            Ok(trust) => trust,
            Err(e) => {
                warn!(file = %path.display(), error = format!("{e:#}"), "new revocation list not applied; the previous one stays in force");
                continue;
            }
        };
        if let Err(e) = trust
            .consortium()
            .verify(&own_certificate, startup::now_ms() / 1000, None)
        {
            error!(error = %e, "this node's own certificate no longer verifies: peers will refuse it and its blocks");
        }
        let consortium = trust.shared_consortium();
        let service_for_ledger = service.clone();
        let _ = tokio::task::spawn_blocking(move || {
            service_for_ledger.with_ledger(|ledger| ledger.set_trust(trust))
        })
        .await;
        match client.set_consortium(consortium).await {
            Ok(refused) => info!(
                file = %path.display(),
                refused_peers = refused.len(),
                "revocation list reloaded: new blocks are judged against it"
            ),
            Err(e) => warn!(error = %e, "the network did not take the new revocation list"),
        }
    }
}
