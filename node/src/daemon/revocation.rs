//! Applies a new consortium revocation list without a restart.
//!
//! The CA publishes `crl.pem`; operators copy it over the file the configuration names. Every
//! few seconds the node re-reads that file; when its bytes change and it parses as a list signed
//! for our root, the ledger gets a new trust (its certificate cache is dropped, so revocation
//! takes effect at once for new blocks) and the network refuses admitted peers whose
//! certificate is now revoked. A file that does not parse is reported and the list in force
//! stays: a half-copied file must not lift a revocation. Neither may an older list: the highest
//! cRLNumber this node has taken is kept in `DATA_DIR/crl.number`, across restarts, and a list
//! with a lower number is refused (at start, the node does not start with it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use medchain_protocol::identity::Consortium;

use tracing::{error, info, warn};

use super::startup;
use crate::config::Config;
use crate::service::Service;

/// Seconds between checks of the revocation list file.
pub const CRL_CHECK_SECS: u64 = 5;

/// Watches the configured revocation list until the task is dropped; `applied` is the file's
/// bytes the trust in force was built from.
pub async fn watch(
    config: Config,
    applied: Option<Vec<u8>>,
    coordination: Arc<crate::coordination::Coordination>,
    service: Arc<Service>,
    client: medchain_net::Client,
) {
    let Some(path) = config.identity.crl.clone() else {
        return;
    };
    let mut applied = applied;
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
        if let Err(e) = admit_crl_number(&config, trust.consortium()) {
            warn!(file = %path.display(), error = %e, "new revocation list not applied; the previous one stays in force");
            continue;
        }
        if let Err(e) = trust.consortium().verify(
            &coordination.member_certificate(),
            startup::now_ms() / 1000,
            None,
        ) {
            error!(error = %e, "this node's own certificate no longer verifies: peers will refuse it and its blocks");
        }
        let consortium = trust.shared_consortium();
        let service_for_ledger = service.clone();
        let _ = tokio::task::spawn_blocking(move || service_for_ledger.set_trust(trust)).await;
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

/// The file keeping the highest cRLNumber this node has taken.
fn crl_number_file(config: &Config) -> PathBuf {
    config.node.data_dir.join("crl.number")
}

/// Takes the consortium's revocation list number if it is not lower than the highest this
/// node has taken before (and remembers it, durably); `Err` says why not.
pub fn admit_crl_number(config: &Config, consortium: &Consortium) -> Result<(), String> {
    let Some(number) = consortium.crl_number() else {
        return Ok(());
    };
    let file = crl_number_file(config);
    let seen: Option<u128> = match std::fs::read_to_string(&file) {
        Ok(text) => Some(text.trim().parse().map_err(|_| {
            format!(
                "{} does not hold a number; fix or remove it",
                file.display()
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    match seen {
        Some(seen) if number < seen => Err(format!(
            "the revocation list is number {number}, older than number {seen} which this node \
             has already taken: taking it would lift revocations (install the newest list)"
        )),
        Some(seen) if number == seen => Ok(()),
        _ => {
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, format!("{number}\n"))
                .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
                .and_then(|()| std::fs::rename(&tmp, &file))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))
        }
    }
}
