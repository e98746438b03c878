//! Start-up: load the identity and trust, open the store (moving an unopenable one aside).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use medchain_chain::{Author, Trust};
use medchain_protocol::PseudonymKey;
use medchain_protocol::identity::{self, Consortium, MemberKey, Role};
use medchain_store::{Store, StoreError};
use tracing::{error, info, warn};

use crate::config::Config;

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The consortium trust: root certificate and revocation list.
pub fn trust(config: &Config) -> Result<Trust> {
    let root = identity::pem_to_der_cert(&read(&config.identity.ca_cert)?)
        .with_context(|| format!("{} is not a certificate", config.identity.ca_cert.display()))?;
    let crls = match &config.identity.crl {
        Some(path) => vec![
            identity::pem_to_der_crl(&read(path)?)
                .with_context(|| format!("{} is not a revocation list", path.display()))?,
        ],
        None => vec![],
    };
    let consortium =
        Consortium::new(root, crls).context("the consortium trust is misconfigured")?;
    Ok(Trust::new(consortium))
}

/// The member key and certificate, checked against the consortium and the configured role.
/// Returns the author for a provider, `None` for an auditor.
pub fn member(config: &Config, trust: &Trust) -> Result<(Option<Author>, Role, MemberKey)> {
    let cert = identity::pem_to_der_cert(&read(&config.identity.member_cert)?)
        .context("member certificate is not readable")?;
    let key_pem = zeroize::Zeroizing::new(read(&config.identity.member_key)?);
    let key = MemberKey::from_pkcs8_pem(&key_pem).context("member key is not readable")?;
    let now_s = now_ms() / 1000;
    let member = trust
        .consortium()
        .verify(&cert, now_s, None)
        .context("this node's own member certificate is not valid")?;
    if member.public_key != key.public_key() {
        bail!("member key and member certificate do not belong together");
    }
    let configured = config.node.role.as_str();
    if member.role.as_str() != configured {
        bail!(
            "node.role is {configured} but the member certificate says {}",
            member.role
        );
    }
    info!(org = %member.org, role = %member.role, "member identity loaded");
    let author = match member.role {
        Role::Provider => {
            let signing =
                MemberKey::from_pkcs8_pem(&key_pem).context("member key is not readable")?;
            Some(Author::new(signing, cert).context("member key does not match its certificate")?)
        }
        Role::Auditor => None,
    };
    Ok((author, member.role, key))
}

/// The consortium pseudonym secret.
pub fn pseudonyms(config: &Config) -> Result<PseudonymKey> {
    let text = zeroize::Zeroizing::new(read(&config.identity.pseudonym_key)?);
    PseudonymKey::from_hex(&text).context("the pseudonym key file is not 64 hex characters")
}

/// Opens the store under the data directory. A store sled cannot open is moved aside (kept for
/// forensics) and a fresh one is opened: every chain, ours included, is then rebuilt from peers.
/// Returns the store and the path of a store moved aside, if any.
pub fn store(config: &Config) -> Result<(Store, Option<PathBuf>)> {
    let path = config.node.data_dir.join("store");
    let cache_bytes = config.store.cache_mib << 20;
    match Store::open_with_cache(&path, cache_bytes) {
        Ok(store) => Ok((store, None)),
        Err(StoreError::Unopenable { reason, .. }) => {
            let aside = config
                .node
                .data_dir
                .join(format!("store.unopenable-{}", now_ms() / 1000));
            error!(path = %path.display(), %reason, "store cannot be opened");
            std::fs::rename(&path, &aside).with_context(|| {
                format!("cannot move the damaged store aside to {}", aside.display())
            })?;
            warn!(kept = %aside.display(), "damaged store moved aside; starting empty and rebuilding every chain from peers");
            let store = Store::open_with_cache(&path, cache_bytes)
                .context("cannot create a fresh store")?;
            Ok((store, Some(aside)))
        }
        Err(other) => Err(other).context("cannot open the store"),
    }
}
