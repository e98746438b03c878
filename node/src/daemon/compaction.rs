//! Compaction of the payload segments on a schedule (`medchain_store::CompactionPlan` says how
//! it works): a minute after the start, then every [`INTERVAL`], sealed segments at least half
//! dead (erased payloads, copies a repair replaced) have their live payloads moved in steps of
//! [`STEP_BYTES`], each under the ledger's lock, and are removed. Skipped while the store is
//! unverified: a scan must vouch for what is moved. At shutdown the round stops after its
//! current step, and the daemon waits for it: no step may touch a store the node is about to
//! move aside and rebuild.

use std::sync::Arc;
use std::time::Duration;

use medchain_store::StoreError;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::coordination::{Coordination, Verdict};
use crate::service::Service;

/// Between two compactions.
pub const INTERVAL: Duration = Duration::from_secs(600);
/// Bytes of payloads moved under one hold of the ledger's lock.
pub const STEP_BYTES: u64 = 8 << 20;
/// Segments planned in one round.
const SEGMENTS_PER_ROUND: usize = 4;

/// Compacts every [`INTERVAL`] until `stop` says true (or its sender is gone); returns once a
/// round under way has stopped.
pub async fn schedule(
    service: Arc<Service>,
    coordination: Arc<Coordination>,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60);
    loop {
        tokio::select! {
            biased;
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { return },
            () = tokio::time::sleep(wait) => {}
        }
        wait = INTERVAL;
        if matches!(coordination.integrity().verdict(), Verdict::Unverified(_)) {
            continue;
        }
        let (service, stop) = (service.clone(), stop.clone());
        match tokio::task::spawn_blocking(move || compact(&service, &stop)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                warn!(%error, "payload segment compaction failed; it is tried again later")
            }
            Err(_) => warn!("payload segment compaction task failed"),
        }
    }
}

/// One round: plan, move, confirm, remove; it stops between steps once `stop` says true or its
/// sender is gone (the daemon returned early).
fn compact(service: &Service, stop: &watch::Receiver<bool>) -> Result<(), StoreError> {
    let stopping = || *stop.borrow() || stop.has_changed().is_err();
    if stopping() {
        return Ok(());
    }
    for mut plan in service.reader().plan_compaction(SEGMENTS_PER_ROUND)? {
        if stopping() {
            return Ok(());
        }
        while !stopping() && service.compact_payload_step(&mut plan, STEP_BYTES)? {}
        if stopping() {
            return Ok(());
        }
        let removed = service.reader().confirm_unreferenced(&mut plan)?
            && service.remove_compacted_segment(&plan)?;
        info!(
            segment = plan.segment(),
            moved = plan.moved(),
            kept_damaged = plan.kept_damaged(),
            freed_bytes = if removed { plan.file_bytes() } else { 0 },
            removed,
            "payload segment compacted"
        );
    }
    Ok(())
}
