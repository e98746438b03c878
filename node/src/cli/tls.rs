//! `medchain tls ...`: a local CA for the API's TLS and server certificates from it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `medchain tls ...`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Make a local CA for API server certificates (ECDSA P-256): DIR/api-ca.pem (give it to
    /// API clients) and DIR/api-ca.key (mode 0600). For a testnet, or a hospital without a PKI
    /// of its own; apart from the consortium CA.
    Ca(TlsCa),
    /// Issue an API server certificate (ECDSA P-256) from a local CA: DIR/api.pem (the
    /// certificate, then the CA's) and DIR/api.key (mode 0600), for `[api] tls_cert` and
    /// `tls_key`.
    Issue(TlsIssue),
}

/// Arguments of `tls ca`.
#[derive(Debug, Args)]
pub struct TlsCa {
    /// The CA's name (its certificate's common name).
    #[arg(long, default_value = "medchain API CA")]
    pub name: String,
    /// Where to write api-ca.pem and api-ca.key (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Days the CA certificate is valid (at most 36500).
    #[arg(long, default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
}

/// Arguments of `tls issue`.
#[derive(Debug, Args)]
pub struct TlsIssue {
    /// The local CA's directory (api-ca.pem, api-ca.key).
    #[arg(long)]
    pub ca: PathBuf,
    /// A DNS name or IP address clients reach the API at (repeatable; the first is the
    /// certificate's common name).
    #[arg(long = "host", required = true)]
    pub hosts: Vec<String>,
    /// Where to write api.pem and api.key (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Days the certificate is valid (at most 36500).
    #[arg(long, default_value_t = 397, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
}
