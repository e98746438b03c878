//! The verifier's schedule: the integrity check (`flows::integrity_check`) every configured
//! interval, every [`RETRY_UNVERIFIED`] while the store is unverified, and at once when a read
//! met damage. The quarantined runs come back from peers through the normal validation (the
//! network glue is woken by the check), and their quarantine events are marked restored.

use std::sync::Arc;
use std::time::Duration;

use tracing::error;

use crate::coordination::{Coordination, RETRY_UNVERIFIED, Verdict};
use crate::flows::integrity_check::check_and_quarantine;
use crate::metrics::Metrics;
use crate::service::Service;

/// Scans every `interval` (every [`RETRY_UNVERIFIED`] while the store is unverified), and at
/// once when a read met damage, until the task is dropped.
pub async fn schedule(
    service: Arc<Service>,
    coordination: Arc<Coordination>,
    metrics: Arc<Metrics>,
    interval: Option<Duration>,
) {
    loop {
        let wait = match coordination.integrity().verdict() {
            Verdict::Unverified(_) => Some(RETRY_UNVERIFIED),
            _ => interval,
        };
        tokio::select! {
            () = sleep_or_forever(wait) => {}
            () = coordination.integrity().scan_requested() => {}
        }
        let (service, coordination, metrics) =
            (service.clone(), coordination.clone(), metrics.clone());
        if tokio::task::spawn_blocking(move || {
            check_and_quarantine(&service, &coordination, &metrics)
        })
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
