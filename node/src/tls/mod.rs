//! TLS on the HTTP API, with rustls and ring named as its only crypto provider (no process-wide
//! default is relied on: with two providers compiled in, rustls would panic at run time).
//!
//! The server side loads the node's certificate chain and key (`[api] tls_cert`, `tls_key`) and
//! serves through [`listener::TlsListener`]; the client side (the CLI) trusts a CA file
//! (`--api-ca`, or `[api] tls_ca`) or the web PKI roots. [`local_ca`] makes a local CA and the
//! ECDSA P-256 server certificates the testnet uses (browsers refuse Ed25519 server
//! certificates); a hospital normally uses its own PKI instead.

pub mod listener;
pub mod local_ca;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::files;

/// ring, named explicitly wherever a rustls configuration is built.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The API's TLS server configuration from a PEM certificate chain (the node's certificate
/// first) and a PEM private key (PKCS#8, SEC1 or PKCS#1; readable by its owner only). HTTP/1.1
/// only, as the API serves.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain = read_certificates(cert)?;
    files::check_private(key)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("no PEM private key in {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("ring supports no safe TLS version")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| {
            format!(
                "the API key does not fit the certificate {} (or is of a kind rustls refuses)",
                cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file, in order; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let text = files::read_text(path)?;
    let chain = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not PEM certificates", path.display()))?;
    if chain.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(chain)
}

/// The TLS settings of an API client: trust the certificates of `ca` (PEM) if given, else the
/// web PKI roots; ring as the provider.
pub fn client_config(ca: Option<&Path>) -> Result<ureq::tls::TlsConfig> {
    let builder = ureq::tls::TlsConfig::builder().unversioned_rustls_crypto_provider(provider());
    let Some(ca) = ca else {
        return Ok(builder.build());
    };
    let roots: Vec<ureq::tls::Certificate<'static>> = read_certificates(ca)?
        .into_iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    Ok(builder
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build())
}
