//! Certificate and revocation-list expiry: the member certificate, the consortium root, the API's
//! TLS certificate and the revocation list in force, checked at start and every
//! [`CHECK_INTERVAL`]. Each one's time left goes to a gauge
//! (`medchain_certificate_expiry_seconds{cert}`, `medchain_crl_next_update_seconds`), and the log
//! warns 30 days ahead and says so as an error 7 days ahead (and once expired), at each hourly
//! check, so an expiry never comes without notice. What it reads is kept in the run's
//! coordination, for `/v1/status` and the dashboard.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use medchain_protocol::identity::{not_after_of, pem_to_der_cert};
use tracing::{error, warn};

use crate::config::Config;
use crate::coordination::{Coordination, Expiries};
use crate::metrics::{CertLabels, Metrics};
use crate::service::Service;

/// How often expiries are checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Days ahead a warning starts.
pub const WARN_DAYS: i64 = 30;
/// Days ahead the warning becomes an error.
pub const URGENT_DAYS: i64 = 7;
const DAY: i64 = 86_400;

/// The notAfter of the API's TLS certificate as the server loads it at start (the file may be
/// replaced later, but the server serves what it loaded).
pub fn api_tls_expiry(config: &Config) -> Option<i64> {
    config
        .api
        .tls_cert
        .as_deref()
        .and_then(first_certificate_expiry)
}

/// What is in force now: `own_certificate` is the member certificate, `api_tls` the served TLS
/// certificate's expiry.
pub fn read(own_certificate: &[u8], api_tls: Option<i64>, service: &Service) -> Expiries {
    let consortium = service.consortium();
    Expiries {
        member: not_after_of(own_certificate),
        ca: Some(consortium.root_not_after()),
        api_tls,
        crl_next_update: consortium.crl_next_update(),
    }
}

/// The notAfter of the first certificate of a PEM chain file.
fn first_certificate_expiry(path: &Path) -> Option<i64> {
    let pem = std::fs::read_to_string(path).ok()?;
    not_after_of(&pem_to_der_cert(&pem).ok()?)
}

/// Checks expiries until the task is dropped.
pub async fn watch(
    api_tls: Option<i64>,
    service: Arc<Service>,
    coordination: Arc<Coordination>,
    metrics: Arc<Metrics>,
) {
    let mut ticks = tokio::time::interval(CHECK_INTERVAL);
    // The first check is the start's (`check_now`, before the API serves).
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let (service, coordination, metrics) =
            (service.clone(), coordination.clone(), metrics.clone());
        // The consortium is read under the ledger's lock: off the async runtime's threads.
        let checked = tokio::task::spawn_blocking(move || {
            check_now(api_tls, &service, &coordination, &metrics);
        });
        if checked.await.is_err() {
            error!("the certificate expiry check failed");
        }
    }
}

/// Reads the expiries (the member certificate in force is the coordination's), sets the gauges,
/// logs what is due, and keeps them for `/v1/status`.
pub fn check_now(
    api_tls: Option<i64>,
    service: &Service,
    coordination: &Coordination,
    metrics: &Metrics,
) {
    let expiries = read(&coordination.member_certificate(), api_tls, service);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    report(&expiries, now, metrics);
    coordination.set_expiries(expiries);
}

/// Sets the gauges and logs what is due within [`WARN_DAYS`].
pub fn report(expiries: &Expiries, now: i64, metrics: &Metrics) {
    for (item, at) in expiries.items() {
        let Some(at) = at else { continue };
        let left = at - now;
        match item {
            "crl" => {
                metrics.crl_next_update.set(left);
            }
            cert => {
                metrics
                    .certificate_expiry
                    .get_or_create(&CertLabels { cert })
                    .set(left);
            }
        }
        let days = left.div_euclid(DAY);
        let what = match item {
            "member" => "the member certificate expires",
            "ca" => "the consortium root certificate expires",
            "api_tls" => "the API's TLS certificate expires",
            _ => "the revocation list's next update is due",
        };
        let at = time::OffsetDateTime::from_unix_timestamp(at)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("unix time {at}"));
        if left < URGENT_DAYS * DAY {
            error!(item, days_left = days, at = %at, "{what} within {URGENT_DAYS} days (or has): renew it now (docs/operations.md, \"Certificate lifecycle\")");
        } else if left < WARN_DAYS * DAY {
            warn!(item, days_left = days, at = %at, "{what} within {WARN_DAYS} days: plan its renewal (docs/operations.md, \"Certificate lifecycle\")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_count_seconds_left_and_past() {
        let metrics = Metrics::new();
        let now = 1_800_000_000;
        let expiries = Expiries {
            member: Some(now + 10 * DAY),
            ca: Some(now + 3650 * DAY),
            api_tls: None,
            crl_next_update: Some(now - DAY),
        };
        report(&expiries, now, &metrics);
        let text = metrics.encode();
        assert!(
            text.contains(&format!(
                "medchain_certificate_expiry_seconds{{cert=\"member\"}} {}",
                10 * DAY
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "medchain_certificate_expiry_seconds{{cert=\"ca\"}} {}",
                3650 * DAY
            )),
            "{text}"
        );
        assert!(!text.contains("cert=\"api_tls\""), "{text}");
        assert!(
            text.contains(&format!("medchain_crl_next_update_seconds {}", -DAY)),
            "{text}"
        );
    }
}
