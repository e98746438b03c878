//! Takes a renewed member certificate without a restart. The operator copies the certificate
//! the CA issued for this node's key (`medchain ca request --key`, `ca issue --csr`) over the file
//! the configuration names; every few seconds the node re-reads it, and when its bytes change and
//! it is a certificate for this node's own key, of its role, valid now under the consortium and
//! later-expiring than the one in force, it is taken: the next block of our chain carries it (the
//! protocol's rule after a renewal), our hello shows it to peers, and the expiry gauges follow.
//! Anything else is reported and the certificate in force stays.

use std::sync::Arc;
use std::time::Duration;

use medchain_protocol::identity::{Role, not_after_of, pem_to_der_cert, public_key_of};
use tracing::{error, info, warn};

use super::expiry;
use crate::config::Config;
use crate::coordination::Coordination;
use crate::metrics::Metrics;
use crate::service::Service;

/// Seconds between checks of the member certificate file.
pub const CHECK_SECS: u64 = 5;

/// Watches the member certificate file until the task is dropped.
pub async fn watch(
    config: Config,
    api_tls: Option<i64>,
    service: Arc<Service>,
    coordination: Arc<Coordination>,
    metrics: Arc<Metrics>,
    client: medchain_net::Client,
) {
    let path = config.identity.member_cert.clone();
    let role = if config.node.role == "auditor" {
        Role::Auditor
    } else {
        Role::Provider
    };
    let mut seen = std::fs::read(&path).ok();
    let mut ticks = tokio::time::interval(Duration::from_secs(CHECK_SECS));
    loop {
        ticks.tick().await;
        let current = std::fs::read(&path).ok();
        if current.is_none() || current == seen {
            continue;
        }
        seen = current.clone();
        let file = path.display().to_string();
        let Some(certificate) = current
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|pem| pem_to_der_cert(&pem).ok())
        else {
            warn!(%file, "the member certificate file changed but is not a PEM certificate; the certificate in force stays");
            continue;
        };
        let (in_force, svc) = (coordination.member_certificate(), service.clone());
        let check = certificate.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
            svc.consortium().verify(&check, now, Some(role)).map(drop)
        })
        .await;
        let refused = match verdict {
            _ if public_key_of(&certificate) != public_key_of(&in_force) => {
                Some("it certifies another key than this node's".to_owned())
            }
            Ok(Err(e)) => Some(format!(
                "it does not verify as a {role} certificate now: {e}"
            )),
            Err(_) => Some("it could not be checked".to_owned()),
            Ok(Ok(())) if not_after_of(&certificate) <= not_after_of(&in_force) => {
                Some("it does not expire later than the certificate in force".to_owned())
            }
            Ok(Ok(())) => None,
        };
        if let Some(reason) = refused {
            error!(%file, reason = %reason, "a new member certificate was not taken; the certificate in force stays");
            continue;
        }
        let svc = service.clone();
        let renewed = certificate.clone();
        match tokio::task::spawn_blocking(move || svc.renew_certificate(renewed)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(%file, error = %e, "a new member certificate was not taken");
                continue;
            }
            Err(_) => continue,
        }
        if let Err(e) = client.set_certificate(certificate.clone()).await {
            warn!(error = %e, "the network layer did not take the renewed certificate");
        }
        coordination.set_member_certificate(certificate.clone());
        let (svc, coord, m) = (service.clone(), coordination.clone(), metrics.clone());
        let _ =
            tokio::task::spawn_blocking(move || expiry::check_now(api_tls, &svc, &coord, &m)).await;
        info!(
            %file,
            serial = %medchain_protocol::identity::serial_of(&certificate).map(hex::encode).unwrap_or_default(),
            not_after = not_after_of(&certificate).unwrap_or_default(),
            "renewed member certificate taken: the next block carries it"
        );
    }
}
