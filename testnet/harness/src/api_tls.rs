//! TLS to the testnet's APIs: the script's nodes serve https with certificates from the
//! testnet's own API CA (each node's `api.tls_ca`), which every HTTP client of the tools trusts
//! through [`agent`]. The CA is the one of the testnet last loaded in this process (the bench
//! sets a testnet up again between runs, with a new CA).

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use crate::{Result, TestnetError};

/// The TLS settings of the testnet last loaded.
static API_TLS: RwLock<Option<ureq::tls::TlsConfig>> = RwLock::new(None);

/// Trusts the API CAs in `files` (PEM) from now on.
pub(crate) fn trust(files: &[PathBuf]) -> Result<()> {
    let mut roots = Vec::new();
    for file in files {
        let bad = |reason: String| TestnetError::ApiCa {
            file: file.clone(),
            reason,
        };
        let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
        for item in ureq::tls::parse_pem(&pem) {
            if let ureq::tls::PemItem::Certificate(cert) = item.map_err(|e| bad(e.to_string()))? {
                roots.push(cert);
            }
        }
    }
    // ring, named: rustls must never have to pick a provider.
    let ring = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = ureq::tls::TlsConfig::builder()
        .unversioned_rustls_crypto_provider(ring)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    *API_TLS.write().unwrap_or_else(|p| p.into_inner()) = Some(config);
    Ok(())
}

/// An HTTP client of the testnet's APIs that answers every status as a response and gives up
/// after `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    let mut builder = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout));
    if let Some(tls) = API_TLS.read().unwrap_or_else(|p| p.into_inner()).clone() {
        builder = builder.tls_config(tls);
    }
    builder.build().into()
}
