//! Start-up: load the identity and trust, open the store (moving an unopenable one aside), and
//! load the signing record that decides whether this node may sign (see
//! `medchain_chain::signing`).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use medchain_chain::{Author, KeyRing, PauseKind, Signing, Trust};
use medchain_protocol::PseudonymKey;
use medchain_protocol::identity::{self, Consortium, EncryptionKey, MemberKey, Role};
use medchain_store::{SigningRecord, Store, StoreError, StoreOptions, StoreReader};
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
pub fn member(
    config: &Config,
    trust: &Trust,
    keys: &KeyRing,
) -> Result<(Option<Author>, Role, MemberKey)> {
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
    match member.encryption_key {
        Some(bound) if Some(bound) == keys.encryption_public_key() => {}
        Some(_) => bail!(
            "the encryption key {} is not the one the member certificate binds",
            config.identity.encryption_key.display()
        ),
        None => bail!(
            "the member certificate binds no encryption key (it was issued before protocol version 2): issue a new one with `medchain ca issue`"
        ),
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
            Some(
                Author::new(signing, cert, keys.clone())
                    .context("member key does not match its certificate")?,
            )
        }
        Role::Auditor => None,
    };
    Ok((author, member.role, key))
}

/// The member's X25519 encryption key (PKCS#8 PEM, mode 0600).
pub fn encryption_key(config: &Config) -> Result<EncryptionKey> {
    x25519_key(&config.identity.encryption_key)
}

/// An X25519 private key file (PKCS#8 PEM, mode 0600): a member's encryption key, or a
/// hospital's recovery key.
pub fn x25519_key(path: &std::path::Path) -> Result<EncryptionKey> {
    crate::files::check_private(path)?;
    let pem = zeroize::Zeroizing::new(read(path)?);
    let der = identity::pem_to_der_key(&pem)
        .with_context(|| format!("{} is not a PKCS#8 PEM key", path.display()))?;
    EncryptionKey::from_pkcs8_der(&der)
        .with_context(|| format!("{} is not readable", path.display()))
}

/// A provider's own pseudonym secret; `None` on an auditor (one configured anyway is not
/// loaded: an auditor pseudonymises nobody).
pub fn pseudonyms(config: &Config) -> Result<Option<PseudonymKey>> {
    match (&config.identity.pseudonym_key, config.node.role.as_str()) {
        (Some(path), "provider") => read_pseudonym_key(path).map(Some),
        (None, "provider") => anyhow::bail!(
            "a provider needs its own pseudonym key ([identity] pseudonym_key; `medchain init` makes one)"
        ),
        (Some(path), _) => {
            tracing::warn!(path = %path.display(), "an auditor holds no pseudonym key: the one configured is not loaded");
            Ok(None)
        }
        (None, _) => Ok(None),
    }
}

/// A pseudonym key file (64 hex characters, mode 0600).
pub fn read_pseudonym_key(path: &std::path::Path) -> Result<PseudonymKey> {
    crate::files::check_private(path)?;
    let text = zeroize::Zeroizing::new(read(path)?);
    PseudonymKey::from_hex(&text)
        .with_context(|| format!("{} is not 64 hex characters", path.display()))
}

/// The signing record's file in a data directory (outside the store directory, on purpose).
pub const SIGNING_RECORD: &str = "signing.json";
/// The marker a node leaves when its store is too damaged to repair in place: the next start
/// moves the store aside and rebuilds it from peers (it survives a crash in between).
pub const STORE_DAMAGED: &str = "store.damaged";

/// Marks the store damaged beyond repair in place (durably), with the reason.
pub fn mark_store_damaged(config: &Config, reason: &str) -> Result<()> {
    let path = config.node.data_dir.join(STORE_DAMAGED);
    write_durably(&path, format!("{} {reason}\n", now_ms()))?;
    error!(file = %path.display(), %reason, "store marked damaged: it is moved aside and rebuilt from peers");
    Ok(())
}

/// Opens the store under the data directory. A store too damaged to open is moved aside (kept
/// for forensics) and a fresh one is opened: every chain, ours included, is then rebuilt from
/// peers. A store locked by another process, or refused by the operating system (permissions, a
/// full disk), is a start-up error: it is not damage, and rebuilding would throw away a store
/// that is fine. Returns the store and the path of a store moved aside, if any.
///
/// A store marked damaged (it opened: a scan ran on it) has its data keys copied into the new
/// one. The marker records where the store went before the new one is made, and goes only once
/// the keys are copied, so a crash anywhere in between finishes the copy at the next start.
///
/// With a node key rotation under way (`rotation_pending`), nothing is moved aside: the store's
/// data keys are under the key the rotation would destroy, so the start is refused, at every
/// start, until an operator decides (docs/operations.md).
pub fn store(config: &Config, rotation_pending: bool) -> Result<(Store, Option<PathBuf>)> {
    let path = config.node.data_dir.join("store");
    let options = StoreOptions {
        cache_bytes: config.store.cache_mib << 20,
        objects: config
            .store
            .objects
            .as_ref()
            .map(crate::object_storage::ObjectsSection::settings)
            .transpose()?,
    };
    let marker = config.node.data_dir.join(STORE_DAMAGED);
    let refuse_during_rotation = || {
        anyhow::anyhow!(
            "the store must be moved aside and rebuilt, and a node key rotation is under way: moving it would leave its data keys under the key the rotation destroys; restore the store, or finish or abandon the rotation by hand first (docs/operations.md)"
        )
    };
    if let Ok(text) = std::fs::read_to_string(&marker) {
        error!(path = %path.display(), reason = %text.trim(), "the store was marked damaged beyond repair in place");
        // "moved PATH" once an earlier start moved it: that store is the one to copy keys from.
        let aside = match text.lines().find_map(|l| l.strip_prefix("moved ")) {
            Some(moved) => PathBuf::from(moved),
            None => {
                if rotation_pending {
                    return Err(refuse_during_rotation());
                }
                let aside = move_aside(config, &path)?;
                write_durably(&marker, format!("{}moved {}\n", text, aside.display()))?;
                aside
            }
        };
        let mut store = Store::open_with(&path, &options).context("cannot create a fresh store")?;
        salvage_data_keys(&aside, &mut store);
        std::fs::remove_file(&marker)
            .with_context(|| format!("cannot remove {}", marker.display()))?;
        return Ok((store, Some(aside)));
    }
    match Store::open_with(&path, &options) {
        Ok(store) => Ok((store, None)),
        Err(error @ StoreError::Locked { .. }) => Err(error).context(
            "refusing to start: another medchain node is running on this data directory \
             (stop it first; two nodes on one store would both sign)",
        ),
        Err(error @ StoreError::Io { .. }) => Err(error).context(
            "cannot open the store (the operating system refused: fix the cause, e.g. \
             permissions or free disk space, and start again; the store is not damaged)",
        ),
        Err(error @ StoreError::ObjectStore { .. }) => Err(error).context(
            "cannot reach the payload object store ([store.objects]): check its endpoint, bucket \
             and credentials, and start again (the store is not damaged)",
        ),
        Err(StoreError::Unopenable { reason, .. }) => {
            error!(path = %path.display(), %reason, "store cannot be opened");
            if rotation_pending {
                return Err(refuse_during_rotation());
            }
            let aside = move_aside(config, &path)?;
            // Opening it again to read its data keys would fail the same way.
            error!(
                from = %aside.display(),
                "the data keys of the store moved aside cannot be read: this node's own records stay unreadable (sealed, and verified) until their keys are restored"
            );
            let store = Store::open_with(&path, &options).context("cannot create a fresh store")?;
            Ok((store, Some(aside)))
        }
        Err(other) => Err(other).context("cannot open the store"),
    }
}

/// Writes `text` to `path` and syncs it.
fn write_durably(path: &Path, text: String) -> Result<()> {
    std::fs::write(path, text)
        .and_then(|()| std::fs::File::open(path)?.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Copies the data keys of a store moved aside into the new one. They are this node's only
/// copies of its records' data keys (peers rebuild blocks and sealed payloads, not keys), so
/// what can still be read of them is kept; what cannot is said loudly.
fn salvage_data_keys(aside: &Path, store: &mut Store) {
    if !aside.join("conf").is_file() {
        error!(from = %aside.display(), "the data keys of the store moved aside cannot be read: it is not there");
        return;
    }
    let copied = (|| -> Result<usize, StoreError> {
        let old = Store::open(aside)?;
        let mut after = None;
        let mut copied = 0;
        loop {
            let page = old.data_keys_after(after.as_ref(), 4096)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            copied += page.len();
            store.put_data_keys(&page)?;
        }
        store.flush()?;
        Ok(copied)
    })();
    match copied {
        Ok(count) => info!(
            count,
            from = %aside.display(),
            "data keys copied from the store moved aside"
        ),
        Err(e) => error!(
            from = %aside.display(),
            error = %e,
            "the data keys of the store moved aside cannot be read: this node's own records stay unreadable (sealed, and verified) until their keys are restored"
        ),
    }
}

/// Moves a damaged store aside (kept for forensics, never deleted); the path it went to.
fn move_aside(config: &Config, path: &Path) -> Result<PathBuf> {
    let mut aside = config
        .node
        .data_dir
        .join(format!("store.unopenable-{}", now_ms() / 1000));
    // Two in one second (a rebuild right after a move): keep both.
    for n in 1.. {
        if !aside.exists() {
            break;
        }
        aside = config
            .node
            .data_dir
            .join(format!("store.unopenable-{}-{n}", now_ms() / 1000));
    }
    std::fs::rename(path, &aside)
        .with_context(|| format!("cannot move the damaged store aside to {}", aside.display()))?;
    warn!(kept = %aside.display(), "damaged store moved aside; starting empty and rebuilding every chain from peers");
    Ok(aside)
}

/// The signing state of a provider node: its signing record (written by `medchain init`),
/// paused at every start until a peer confirms our head, and paused as `rebuilt` when the store
/// was just moved aside. A missing record is recreated on the safe side (this node is taken to
/// have had a chain, so it never signs a new genesis), loudly.
pub fn signing(
    config: &Config,
    author: &Author,
    store: &StoreReader,
    rebuilt: Option<&Path>,
) -> Result<Signing> {
    let path = config.node.data_dir.join(SIGNING_RECORD);
    let chain = author.chain();
    let record = match SigningRecord::load(&path, chain)
        .context("cannot read the signing record")?
    {
        Some(record) => record,
        None => {
            warn!(file = %path.display(), "the signing record is missing (medchain init writes it): assuming this node had a chain, so it will not sign a new genesis");
            SigningRecord::assume_had_chain(&path, chain)
                .context("cannot write the signing record")?
        }
    };
    // A head record that cannot be read is the verifier's to judge (it runs next); here it
    // counts as holding the chain, the side that never signs a new genesis.
    let holds = store.head(&chain).map_or(true, |head| head.is_some());
    let mut signing = Signing::at_start(chain, record, holds, now_ms())
        .context("cannot write the signing record")?;
    if let Some(aside) = rebuilt {
        signing
            .pause(
                PauseKind::Rebuilt,
                format!(
                    "the store was moved aside to {} and is being rebuilt from peers",
                    aside.display()
                ),
                now_ms(),
            )
            .context("cannot write the signing record")?;
    }
    match signing.paused() {
        Some(pause) => {
            warn!(kind = %pause.kind, detail = %pause.detail, "writes paused until a peer that holds this node's chain confirms its head")
        }
        None => info!("writes allowed: this node has no chain yet and never had one"),
    }
    Ok(signing)
}

#[cfg(test)]
mod tests {
    use medchain_protocol::{ChainId, EntryRef};

    use super::*;

    #[test]
    fn data_keys_are_copied_from_a_store_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let aside = dir.path().join("store.unopenable-1");
        let keys: Vec<(EntryRef, Vec<u8>)> = (0..5000u32)
            .map(|i| {
                let at = EntryRef {
                    chain: ChainId([1; 32]),
                    height: u64::from(i),
                    index: 0,
                };
                (at, vec![7; 64])
            })
            .collect();
        {
            let mut old = Store::open(&aside).unwrap();
            old.put_data_keys(&keys).unwrap();
            old.flush().unwrap();
        }
        let mut fresh = Store::open(&dir.path().join("store")).unwrap();
        salvage_data_keys(&aside, &mut fresh);
        assert_eq!(fresh.data_key_count(), 5000);
        assert_eq!(fresh.data_key(&keys[4321].0).unwrap(), Some(vec![7; 64]));
        // A store that is not there gives nothing, creates nothing, and does not panic.
        let mut other = Store::open(&dir.path().join("other")).unwrap();
        salvage_data_keys(&dir.path().join("missing/store"), &mut other);
        assert_eq!(other.data_key_count(), 0);
        assert!(!dir.path().join("missing").exists());
    }
}
