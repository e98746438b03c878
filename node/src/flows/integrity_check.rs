//! The integrity check both the verifier schedule and `POST /v1/verify` run, in the spirit of
//! the paper's Figure 4: one full scan, logged; every violation's damaged run quarantined (kept
//! for forensics; the blocks above it stay) and the network glue woken to fetch it from peers;
//! damaged and missing payloads wanted by hash, their blocks staying.
//!
//! Fail closed: a scan that cannot complete marks the store unverified (`/ready` fails, no
//! record is served, `medchain_store_unverified` is 1, an error log), and the schedule retries
//! it every [`RETRY_UNVERIFIED`]; damage that cannot be repaired in place (the engine cannot
//! read its own pages, a quarantine cannot move them, or repairs at one height keep failing)
//! asks the daemon to rebuild the store from peers.

use medchain_chain::Report;
use tracing::{error, info, warn};

use crate::coordination::{Coordination, MAX_REPAIRS_IN_PLACE, RETRY_UNVERIFIED, Verdict};
use crate::metrics::{KindLabels, Metrics};
use crate::service::{Service, ServiceError};

/// Runs one full scan, logs it, quarantines every violation found, and records the verdict.
pub fn check_and_quarantine(
    service: &Service,
    coordination: &Coordination,
    metrics: &Metrics,
) -> Option<Report> {
    info!("integrity check: scanning every stored chain");
    metrics.verifier_runs.inc();
    let report = match service.verify() {
        Ok(report) => report,
        Err(e) => {
            fail_closed(coordination, metrics, &e);
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
    let left_out = coordination.wanted_payloads().add(
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
    // Not while ranges await repair: the entries of a quarantined range were not scanned, and
    // one of them might still name a payload the others erased.
    if !report.erased_payloads.is_empty() && report.awaiting_repair == 0 {
        match service.delete_erased_payloads(&report.erased_payloads) {
            Ok(()) => info!(
                count = report.erased_payloads.len(),
                "erased payloads deleted: only erased entries referenced them"
            ),
            Err(e) => warn!(error = %e, "erased payloads not deleted: the next scan tries again"),
        }
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
        let found = coordination.integrity().damage_found_at(v.chain, v.height);
        if found >= MAX_REPAIRS_IN_PLACE {
            error!(chain = %v.chain, height = v.height, times = found, "damage found again where it was repaired in place: the store cannot hold a repair; it is moved aside and rebuilt from peers");
            coordination.integrity().request_rebuild(format!(
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
                coordination
                    .integrity()
                    .request_rebuild(format!("quarantine failed: {e}"));
                return None;
            }
            Err(e) => {
                fail_closed(coordination, metrics, &ServiceError::Store(e));
                return None;
            }
        }
    }
    coordination.integrity().set(Verdict::Verified);
    metrics.store_unverified.set(0);
    coordination.request_repair();
    Some(report)
}

/// A scan that could not complete: damage it cannot attribute asks for a rebuild; anything
/// else (an I/O refusal) leaves the store unverified until a scan passes.
fn fail_closed(coordination: &Coordination, metrics: &Metrics, e: &ServiceError) {
    metrics.store_unverified.set(1);
    let reason = e.to_string();
    coordination
        .integrity()
        .set(Verdict::Unverified(reason.clone()));
    match e {
        ServiceError::Store(store) if store.is_corruption() => {
            error!(error = %e, "integrity check met damage it cannot attribute to a chain: the store is moved aside and rebuilt from peers");
            coordination.integrity().request_rebuild(reason);
        }
        _ => {
            error!(error = %e, retry_secs = RETRY_UNVERIFIED.as_secs(), "integrity check could not complete: no record is served until a scan passes");
        }
    }
}
