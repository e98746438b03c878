//! The scheduled chain verifier and its log lines, in the spirit of the paper's Figure 4.
//!
//! A violation quarantines its damaged run of blocks (kept for forensics; the blocks above it
//! stay). The glue is woken to fetch the run from peers at once (see `network`); the blocks come
//! back through the normal validation, and the quarantine event is marked restored. Damaged and
//! missing payloads are fetched by hash, their blocks staying.
//!
//! Fail closed: a scan that cannot complete marks the store unverified (`/ready` fails, no
//! record is served, `medchain_store_unverified` is 1, an error log) and is retried every
//! [`RETRY_UNVERIFIED`]; damage that cannot be repaired in place (the engine cannot read its
//! own pages, or a quarantine cannot move them) asks the daemon to rebuild the store from peers.

use std::sync::Arc;
use std::time::Duration;

use medchain_chain::Report;
use tracing::{error, info, warn};

use crate::metrics::{KindLabels, Metrics};
use crate::service::{MAX_REPAIRS_IN_PLACE, Service, ServiceError, Verdict};

/// How soon a scan that could not complete is tried again.
pub const RETRY_UNVERIFIED: Duration = Duration::from_secs(30);

/// Runs one full scan, logs it, quarantines every violation found, and records the verdict.
pub fn check_and_quarantine(service: &Service, metrics: &Metrics) -> Option<Report> {
    info!("integrity check: scanning every stored chain");
    metrics.verifier_runs.inc();
    let report = match service.verify() {
        Ok(report) => report,
        Err(e) => {
            fail_closed(service, metrics, &e);
            return None;
        }
    };
    for entry in &report.stray {
        warn!(tree = %entry.tree, key = %hex::encode(&entry.key), why = %entry.why, "stray store entry set aside (kept for forensics)");
    }
    if !report.damaged_payloads.is_empty() {
        warn!(
            count = report.damaged_payloads.len(),
            "damaged payloads found: fetching them by hash from peers (their blocks are sound)"
        );
    }
    let left_out = service.wanted_payloads().add(
        report
            .damaged_payloads
            .iter()
            .chain(&report.missing_payloads)
            .copied(),
    );
    if left_out > 0 {
        warn!(
            count = left_out,
            "more damaged or missing payloads than are fetched at once: the next scan names the rest"
        );
    }
    if report.violations.is_empty() {
        info!(
            chains = report.chains,
            blocks = report.blocks,
            entries = report.entries,
            payloads = report.payloads,
            awaiting_repair = report.awaiting_repair,
            stray = report.stray.len(),
            "integrity check passed"
        );
    }
    for v in &report.violations {
        error!(chain = %v.chain, height = v.height, to_height = v.to_height, kind = v.kind.as_str(), detail = %v.detail, "integrity violation detected");
        metrics
            .violations
            .get_or_create(&KindLabels {
                kind: v.kind.as_str().to_owned(),
            })
            .inc();
        let found = service.integrity().damage_found_at(v.chain, v.height);
        if found >= MAX_REPAIRS_IN_PLACE {
            error!(chain = %v.chain, height = v.height, times = found, "damage found again where it was repaired in place: the store cannot hold a repair; it is moved aside and rebuilt from peers");
            service.integrity().request_rebuild(format!(
                "damage at chain {} height {} found {found} times: repairs in place did not hold",
                v.chain, v.height
            ));
            return None;
        }
        match service.quarantine(v) {
            Ok(repair) => {
                metrics.quarantines.inc();
                warn!(chain = %repair.chain, from_height = repair.from_height, to_height = repair.to_height, blocks = repair.event.blocks.len(), event = repair.event.id, "erase completed: blocks moved to quarantine (kept for forensics)");
                warn!(chain = %repair.chain, from_height = repair.from_height, to_height = repair.to_height, "request blocks from peers: the range is fetched from peers by anti-entropy");
            }
            Err(e) if e.is_corruption() => {
                error!(chain = %v.chain, error = %e, "the damaged run cannot be moved aside in place: the store is rebuilt from peers");
                service
                    .integrity()
                    .request_rebuild(format!("quarantine failed: {e}"));
                return None;
            }
            Err(e) => {
                fail_closed(service, metrics, &ServiceError::Store(e));
                return None;
            }
        }
    }
    service.integrity().set(Verdict::Verified);
    metrics.store_unverified.set(0);
    service.request_repair();
    Some(report)
}

/// A scan that could not complete: damage it cannot attribute asks for a rebuild; anything
/// else (an I/O refusal) leaves the store unverified until a scan passes.
fn fail_closed(service: &Service, metrics: &Metrics, e: &ServiceError) {
    metrics.store_unverified.set(1);
    let reason = e.to_string();
    service.integrity().set(Verdict::Unverified(reason.clone()));
    match e {
        ServiceError::Store(store) if store.is_corruption() => {
            error!(error = %e, "integrity check met damage it cannot attribute to a chain: the store is moved aside and rebuilt from peers");
            service.integrity().request_rebuild(reason);
        }
        _ => {
            error!(error = %e, retry_secs = RETRY_UNVERIFIED.as_secs(), "integrity check could not complete: no record is served until a scan passes");
        }
    }
}

/// Scans every `interval` (every [`RETRY_UNVERIFIED`] while the store is unverified), and at
/// once when a read met damage, until the task is dropped.
pub async fn schedule(service: Arc<Service>, metrics: Arc<Metrics>, interval: Option<Duration>) {
    loop {
        let wait = match service.integrity().verdict() {
            Verdict::Unverified(_) => Some(RETRY_UNVERIFIED),
            _ => interval,
        };
        tokio::select! {
            () = sleep_or_forever(wait) => {}
            () = service.integrity().scan_requested() => {}
        }
        let (service, metrics) = (service.clone(), metrics.clone());
        if tokio::task::spawn_blocking(move || check_and_quarantine(&service, &metrics))
            .await
            .is_err()
        {
            error!("integrity check task failed");
        }
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
