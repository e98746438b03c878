//! The node's configuration file (TOML): what `medchain init` writes and `medchain run` reads.
//!
//! Paths in the file are absolute (init resolves them), so the daemon does not depend on the
//! directory it is started from. Secrets (member key, pseudonym key, API token) stay in their own
//! files with mode 0600; the configuration only names them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

mod auth;

pub use auth::{AuthSection, SignInSection};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who this node is.
    pub node: NodeSection,
    /// Consortium identity files.
    pub identity: IdentitySection,
    /// The node's own keys.
    pub keys: KeysSection,
    /// Peer-to-peer networking.
    pub p2p: P2pSection,
    /// The HTTP API.
    pub api: ApiSection,
    /// The chain verifier.
    pub verifier: VerifierSection,
    /// The audit trail of reads.
    pub audit: AuditSection,
    /// How concurrent writes are batched into blocks.
    #[serde(default)]
    pub batching: BatchingSection,
    /// The local store.
    #[serde(default)]
    pub store: StoreSection,
    /// Users signed in at the hospital's identity provider (absent: the API token only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSection>,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// sled's page cache in MiB (4 to 4096), counted as sled counts it: pages at their size on
    /// disk. The pages it keeps in memory take several times that.
    pub cache_mib: u64,
    /// Payloads in S3-compatible object storage; absent: segment files beside the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<crate::object_storage::ObjectsSection>,
}

impl Default for StoreSection {
    fn default() -> Self {
        Self {
            cache_mib: medchain_store::CACHE_BYTES >> 20,
            objects: None,
        }
    }
}

/// `[batching]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchingSection {
    /// Most record writes in one block (1 to 1024).
    pub max_entries: usize,
    /// How long the first of concurrent writes waits for others to share its block, ms (0 to 1000).
    pub max_delay_ms: u64,
}

impl Default for BatchingSection {
    fn default() -> Self {
        Self {
            max_entries: medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK,
            max_delay_ms: 2,
        }
    }
}

/// `[node]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// `provider` (publishes its hospital's records) or `auditor` (reads only).
    pub role: String,
    /// The network name: peers on another network are refused; gossip topics are namespaced by it.
    pub network: String,
    /// Where the store and the node's own files live.
    pub data_dir: PathBuf,
}

/// `[identity]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// The consortium root CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// The consortium revocation list (PEM); re-read at start.
    pub crl: Option<PathBuf>,
    /// This member's certificate (PEM).
    pub member_cert: PathBuf,
    /// This member's private key (PKCS#8 PEM, mode 0600): also its libp2p identity.
    pub member_key: PathBuf,
    /// This member's X25519 encryption key (PKCS#8 PEM, mode 0600), whose public half its
    /// certificate binds: data keys released to this member are sealed to it.
    pub encryption_key: PathBuf,
    /// A provider's own patient-pseudonym secret (64 hex characters, mode 0600); auditors have
    /// none, and no member can pseudonymise another provider's patients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym_key: Option<PathBuf>,
}

/// `[keys]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysSection {
    /// The node key (mode 0600, outside the data directory): the key-wrapping key of every
    /// data key in the store. Lose it and this node's copies of its data keys are lost with it.
    pub node_key: PathBuf,
    /// The public half of the hospital's recovery key (`medchain recovery init`): every
    /// authored block's data keys are backed up to it, and peers keep the backups. Optional;
    /// without it a lost data directory loses the keys of this provider's records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_public: Option<PathBuf>,
}

/// `[p2p]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pSection {
    /// Multiaddresses to listen on.
    pub listen: Vec<String>,
    /// Multiaddresses (with /p2p/<peer id>) of peers to dial at start and redial.
    pub bootstrap: Vec<String>,
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Address to serve the API on.
    pub listen: SocketAddr,
    /// File holding the bearer token every /v1 call needs (mode 0600).
    pub token_file: PathBuf,
    /// The API's certificate chain (PEM, its own certificate first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The API certificate's private key (PEM, mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The CA certificate (PEM) a client reaching this node through this file (`medchain ...
    /// --config`) trusts; without it, the web PKI's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS: an explicit opt-out, for loopback or behind a TLS proxy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
    /// The URL clients reach the API at, by the name its certificate bears (e.g.
    /// `https://medchain.hospital.example:8443`); `medchain ... --config` uses it. Default: the
    /// listen address (an unspecified one on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ApiSection {
    /// The base URL a client on this machine reaches the API at (an unspecified listen
    /// address is reached on loopback).
    pub fn local_url(&self) -> String {
        if let Some(url) = &self.url {
            return url.trim_end_matches('/').to_owned();
        }
        let mut address = self.listen;
        if address.ip().is_unspecified() {
            address.set_ip(match address {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{address}")
    }

    fn check(&self) -> Result<()> {
        if let Some(url) = &self.url {
            // A node serving TLS is reached by https only (an http:// URL would send the token
            // in the clear before the handshake failed); behind a TLS gateway (plain_http)
            // clients may reach it either way.
            let lower = url.to_ascii_lowercase();
            let https = lower.starts_with("https://");
            if !(https || self.plain_http && lower.starts_with("http://")) {
                bail!(
                    "api.url must be an https:// URL{}",
                    if self.plain_http {
                        " or an http:// one"
                    } else {
                        ""
                    }
                );
            }
        }
        match (&self.tls_cert, &self.tls_key, self.plain_http) {
            (Some(_), Some(_), false) | (None, None, true) => Ok(()),
            (Some(_), Some(_), true) => {
                bail!("api.plain_http = true and api.tls_cert and tls_key are set: choose one")
            }
            (None, None, false) => bail!(
                "the API serves TLS: set api.tls_cert and api.tls_key (PEM files), or \
                 api.plain_http = true to serve plain HTTP (only on loopback or behind a TLS \
                 proxy)"
            ),
            _ => bail!("api.tls_cert and api.tls_key go together: set both"),
        }
    }
}

/// `[verifier]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierSection {
    /// Seconds between full scans (0 turns the schedule off; `POST /v1/verify` still works).
    pub interval_secs: u64,
}

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    /// `on` (default): a provider writes an access entry per read; an auditor appends to
    /// `local_log`. `off`: reads are not recorded (discouraged).
    pub reads: String,
    /// The auditor's local log of reads (JSON lines).
    pub local_log: PathBuf,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("configuration {} is invalid", path.display()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks values that TOML types cannot express.
    pub fn check(&self) -> Result<()> {
        if !matches!(self.node.role.as_str(), "provider" | "auditor") {
            bail!(
                "node.role must be \"provider\" or \"auditor\", not {:?}",
                self.node.role
            );
        }
        if !matches!(self.audit.reads.as_str(), "on" | "off") {
            bail!(
                "audit.reads must be \"on\" or \"off\", not {:?}",
                self.audit.reads
            );
        }
        if !(1..=medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK)
            .contains(&self.batching.max_entries)
        {
            bail!(
                "batching.max_entries must be 1 to {}",
                medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK
            );
        }
        crate::node_key::check_outside(&self.keys.node_key, &self.node.data_dir)?;
        self.api.check()?;
        for address in self.p2p.listen.iter().chain(&self.p2p.bootstrap) {
            if address
                .split('/')
                .any(|part| part == "quic" || part == "quic-v1")
            {
                bail!(
                    "p2p address {address}: QUIC is not built in (medchain dials TCP with Noise); use /tcp/PORT"
                );
            }
        }
        if !(4..=4096).contains(&self.store.cache_mib) {
            bail!("store.cache_mib must be 4 to 4096");
        }
        if let Some(objects) = &self.store.objects {
            objects.check()?;
        }
        if let Some(auth) = &self.auth {
            auth.check()?;
        }
        if self.batching.max_delay_ms > 1000 {
            bail!("batching.max_delay_ms must be at most 1000");
        }
        let network = &self.node.network;
        if network.is_empty()
            || network.len() > medchain_protocol::limits::MAX_NETWORK_NAME_LEN
            || !network
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            bail!("node.network must be 1 to 64 characters of letters, digits, '-', '_' or '.'");
        }
        Ok(())
    }

    /// The configuration as TOML with a comment above each section.
    pub fn to_documented_toml(&self) -> Result<String> {
        let body = toml::to_string(self).context("cannot serialise the configuration")?;
        let mut out = String::from(
            "# medchain node configuration, written by `medchain init`.\n\
             # Reference: docs/operations.md. Paths are absolute; secrets live in their own 0600 files.\n",
        );
        for line in body.lines() {
            if let Some(comment) = section_comment(line) {
                out.push('\n');
                out.push_str(comment);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        }
        Ok(out)
    }
}

fn section_comment(line: &str) -> Option<&'static str> {
    Some(match line.trim() {
        "[node]" => {
            "# role: provider (publishes its hospital's records) or auditor (reads only).\n# network: peers on another network are refused."
        }
        "[identity]" => {
            "# The consortium root, its revocation list, this member's certificate, its key and its\n# encryption key, and (a provider) its own patient-pseudonym secret."
        }
        "[keys]" => {
            "# node_key: the key-wrapping key of the data keys in the store (mode 0600),\n# kept outside the data directory. Back it up with the member key."
        }
        "[p2p]" => {
            "# listen: multiaddresses; bootstrap: peers to dial at start (with /p2p/<peer id>)."
        }
        "[api]" => {
            "# The API, over TLS (tls_cert: chain, tls_key: its key, 0600; tls_ca: the CA that\n# `medchain ... --config` trusts; url: where clients reach it, by its certificate's name)\n# unless plain_http = true (loopback or behind a TLS proxy only).\n# Every /v1 call needs `Authorization: Bearer <token from token_file>`."
        }
        "[verifier]" => {
            "# Full scan of every stored chain every interval_secs (0 = only on demand)."
        }
        "[audit]" => {
            "# reads = on: every read is recorded (access entries on a provider's chain,\n# local_log on an auditor). off: not recorded (discouraged)."
        }
        "[store]" => {
            "# cache_mib: sled's page cache (4 to 4096), counted at the pages' size on disk;\n# in memory they take several times that."
        }
        "[auth]" => {
            "# Users signed in at the hospital's identity provider (OpenID Connect): bearer JWTs\n# from issuer for audience, keys from jwks_url; actor_claim names the user in the audit\n# trail; scopes medchain.read, .write, .grant, .erase, .admin. The API token stays for\n# machine clients, recorded as acting on behalf of the actor they name."
        }
        "[auth.sign_in]" => {
            "# The dashboard (/ui) signs users in at the identity provider: authorization code\n# with PKCE; redirect_url is this node's URL + /ui/callback, as registered there."
        }
        "[store.objects]" => {
            "# Payloads in S3-compatible object storage (absent: segment files beside the store).\n# credentials_file: access_key_id and secret_access_key (TOML), mode 0600."
        }
        _ => return None,
    })
}

#[cfg(test)]
pub(crate) mod tests;
