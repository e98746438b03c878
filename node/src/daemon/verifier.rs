//! The scheduled chain verifier and its log lines, in the spirit of the paper's Figure 4.
//!
//! A violation quarantines its damaged run of blocks (kept for forensics; the blocks above it
//! stay). The glue is woken to fetch the run from peers at once (see `network`); the blocks come
//! back through the normal validation, and the quarantine event is marked restored.

use std::sync::Arc;
use std::time::Duration;

use medchain_chain::Report;
use tracing::{error, info, warn};

use super::startup::now_ms;
use crate::metrics::{KindLabels, Metrics};
use crate::service::Service;

/// Runs one full scan, logs it, and quarantines every violation found.
pub fn check_and_quarantine(service: &Service, metrics: &Metrics) -> Option<Report> {
    info!("integrity check: scanning every stored chain");
    metrics.verifier_runs.inc();
    let report = match service.verify() {
        Ok(report) => report,
        Err(e) => {
            error!(error = %e, "integrity check could not run");
            return None;
        }
    };
    if report.is_clean() {
        info!(
            chains = report.chains,
            blocks = report.blocks,
            entries = report.entries,
            payloads = report.payloads,
            awaiting_repair = report.awaiting_repair,
            "integrity check passed"
        );
        return Some(report);
    }
    for v in &report.violations {
        error!(chain = %v.chain, height = v.height, to_height = v.to_height, kind = v.kind.as_str(), detail = %v.detail, "integrity violation detected");
        metrics
            .violations
            .get_or_create(&KindLabels {
                kind: v.kind.as_str().to_owned(),
            })
            .inc();
        let repaired = service.with_ledger(|ledger| ledger.quarantine(v, now_ms()));
        match repaired {
            Ok(repair) => {
                metrics.quarantines.inc();
                warn!(chain = %repair.chain, from_height = repair.from_height, to_height = repair.to_height, blocks = repair.event.blocks.len(), event = repair.event.id, "erase completed: blocks moved to quarantine (kept for forensics)");
                warn!(chain = %repair.chain, from_height = repair.from_height, to_height = repair.to_height, "request blocks from peers: the range is fetched from peers by anti-entropy");
                service.request_repair();
            }
            Err(e) => error!(chain = %v.chain, error = %e, "quarantine failed"),
        }
    }
    Some(report)
}

/// Scans every `interval` until the task is dropped.
pub async fn schedule(service: Arc<Service>, metrics: Arc<Metrics>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await; // the first tick is immediate; start-up already scanned
    loop {
        ticker.tick().await;
        let (service, metrics) = (service.clone(), metrics.clone());
        if tokio::task::spawn_blocking(move || check_and_quarantine(&service, &metrics))
            .await
            .is_err()
        {
            error!("integrity check task failed");
        }
    }
}
