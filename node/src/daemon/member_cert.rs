//! Takes a renewed member certificate without a restart. The operator copies the certificate
//! the CA issued for this node's keys (`medchain ca request --key`, `ca issue --csr`) over the
//! file the configuration names (best as a copy then a rename, so the node never reads half a
//! file). Every few seconds the node reads it; a certificate other than the one in force is taken
//! if it is for this node's own signing key and encryption key, of its role and organisation,
//! within the protocol's size, valid now under the consortium, and later-expiring than the one in
//! force. Then the next block of our chain carries it (the protocol's rule after a renewal), our
//! hello shows it to peers that admit us from then on, and the expiry gauges and the revocation
//! watch follow. Anything else is reported and the certificate in force stays; a refused
//! certificate is looked at again every [`RETRY_REFUSED`] (a renewal may not be valid yet).

use std::sync::Arc;
use std::time::{Duration, Instant};

use medchain_protocol::identity::{
    Role, encryption_key_of, not_after_of, org_of, pem_to_der_cert, public_key_of, serial_of,
};
use medchain_protocol::limits::MAX_CERT_BYTES;
use tracing::{error, info, warn};

use super::expiry;
use crate::config::Config;
use crate::coordination::Coordination;
use crate::metrics::Metrics;
use crate::service::Service;

/// Seconds between reads of the member certificate file.
pub const CHECK_SECS: u64 = 5;
/// How long a refused certificate waits before it is checked again.
pub const RETRY_REFUSED: Duration = Duration::from_secs(600);

/// Why `renewal` may not replace `in_force` (as far as the certificates alone tell).
fn refusal(renewal: &[u8], in_force: &[u8]) -> Option<&'static str> {
    if renewal.len() > MAX_CERT_BYTES {
        return Some("it is larger than a block may carry");
    }
    if public_key_of(renewal).is_none() || public_key_of(renewal) != public_key_of(in_force) {
        return Some("it certifies another signing key than this node's");
    }
    if encryption_key_of(renewal).is_none()
        || encryption_key_of(renewal) != encryption_key_of(in_force)
    {
        return Some("it binds another encryption key than this node's");
    }
    if org_of(renewal) != org_of(in_force) {
        return Some("it names another organisation than this node's");
    }
    if not_after_of(renewal) <= not_after_of(in_force) {
        return Some("it does not expire later than the certificate in force");
    }
    None
}

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
    let file = path.display().to_string();
    let role = if config.node.role == "auditor" {
        Role::Auditor
    } else {
        Role::Provider
    };
    let mut refused: Option<(Vec<u8>, Instant)> = None;
    let mut unreadable: Option<Vec<u8>> = None;
    let mut ticks = tokio::time::interval(Duration::from_secs(CHECK_SECS));
    loop {
        ticks.tick().await;
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Some(certificate) = String::from_utf8(bytes.clone())
            .ok()
            .and_then(|pem| pem_to_der_cert(&pem).ok())
        else {
            if unreadable.as_ref() != Some(&bytes) {
                warn!(%file, "the member certificate file is not a PEM certificate; the certificate in force stays");
                unreadable = Some(bytes);
            }
            continue;
        };
        let in_force = coordination.member_certificate();
        let recently_refused = refused
            .as_ref()
            .is_some_and(|(der, at)| *der == certificate && at.elapsed() < RETRY_REFUSED);
        if certificate == in_force || recently_refused {
            continue;
        }
        let check = certificate.clone();
        let svc = service.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let now = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0);
            svc.consortium().verify(&check, now, Some(role)).map(drop)
        })
        .await;
        let reason = match (refusal(&certificate, &in_force), verdict) {
            (Some(reason), _) => Some(reason.to_owned()),
            (None, Ok(Err(e))) => Some(format!(
                "it does not verify as a {role} certificate now: {e}"
            )),
            (None, Err(_)) => Some("it could not be checked".to_owned()),
            (None, Ok(Ok(()))) => None,
        };
        if let Some(reason) = reason {
            error!(%file, %reason, "a new member certificate was not taken; the certificate in force stays");
            refused = Some((certificate, Instant::now()));
            continue;
        }
        let (svc, renewed) = (service.clone(), certificate.clone());
        match tokio::task::spawn_blocking(move || svc.renew_certificate(renewed)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(%file, error = %e, "a new member certificate was not taken");
                refused = Some((certificate, Instant::now()));
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
            serial = %serial_of(&certificate).map(hex::encode).unwrap_or_default(),
            not_after = not_after_of(&certificate).unwrap_or_default(),
            "renewed member certificate taken: the next block carries it; announced to admitted peers now and every minute for 30 minutes"
        );
    }
}

#[cfg(test)]
mod tests {
    use medchain_protocol::identity::Role;
    use medchain_testkit::pki::TestCa;

    use super::refusal;

    #[test]
    fn a_renewal_must_be_for_the_same_member_and_expire_later() {
        let ca = TestCa::new("Consortium");
        let in_force = ca.member(Role::Provider, "Hospital A");
        let other_member = ca.member(Role::Provider, "Hospital A");
        assert_eq!(
            refusal(&other_member.cert_der, &in_force.cert_der),
            Some("it certifies another signing key than this node's")
        );
        assert_eq!(
            refusal(&in_force.cert_der, &in_force.cert_der),
            Some("it does not expire later than the certificate in force")
        );
        let huge = vec![0u8; 8192];
        assert_eq!(
            refusal(&huge, &in_force.cert_der),
            Some("it is larger than a block may carry")
        );
    }
}
