//! `medchain recovery ...`: the hospital's offline recovery key, and bringing a lost data
//! directory's records back readable with it.
//!
//! - `init --out DIR` makes the key: DIR/recovery.key (PKCS#8 X25519, mode 0600: keep it offline,
//!   like the CA key) and DIR/recovery.pub (its public half, for `[keys] recovery_public` of the
//!   hospital's node). The node then backs up every block's data keys to it (one HPKE operation
//!   per block); peers keep those backups off chain.
//! - `restore --config C --recovery-key FILE` (node stopped): after the node has rebuilt its
//!   store and fetched its backups from peers, opens them and restores the data keys, wrapped
//!   under the node key; only keys that open their payloads are kept, erased ones never.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use medchain_protocol::ChainId;
use medchain_protocol::identity::{EncryptionKey, X25519_KEY_BYTES, public_key_of};

use crate::cli::{RecoveryCommand, RecoveryInit, RecoveryRestore};
use crate::files::{ensure_dir, refuse_existing, write_public, write_secret};

/// The private recovery key's file name.
pub const RECOVERY_KEY: &str = "recovery.key";
/// The public recovery key's file name.
pub const RECOVERY_PUBLIC: &str = "recovery.pub";
/// The first line of a public recovery key file.
const PUBLIC_HEADER: &str = "medchain recovery public key v1";

/// Runs one recovery subcommand.
pub fn run(command: RecoveryCommand) -> Result<ExitCode> {
    match command {
        RecoveryCommand::Init(args) => init(&args),
        RecoveryCommand::Restore(args) => restore(&args),
    }
}

fn init(args: &RecoveryInit) -> Result<ExitCode> {
    ensure_dir(&args.out)?;
    let (private, public) = (args.out.join(RECOVERY_KEY), args.out.join(RECOVERY_PUBLIC));
    refuse_existing(&[&private, &public])?;
    let mut ikm = zeroize::Zeroizing::new([0u8; 32]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut ikm[..])
        .map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
    let key = EncryptionKey::derive(&ikm);
    write_secret(&private, key.to_pkcs8_pem().as_bytes())?;
    let text = format!("{PUBLIC_HEADER}\n{}\n", hex::encode(key.public_key()));
    write_public(&public, text.as_bytes())?;
    println!(
        "recovery key  {} (mode 0600: keep it offline, like the CA key)",
        private.display()
    );
    println!(
        "public half   {} (set [keys] recovery_public of this hospital's node to it)",
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Reads a public recovery key file.
pub fn load_public(path: &Path) -> Result<[u8; X25519_KEY_BYTES]> {
    let text = crate::files::read_text(path)?;
    let mut lines = text.lines();
    if lines.next() != Some(PUBLIC_HEADER) {
        bail!(
            "{} is not a medchain recovery public key file",
            path.display()
        );
    }
    let bytes = lines
        .next()
        .and_then(|hex| hex::decode(hex.trim()).ok())
        .and_then(|b| <[u8; X25519_KEY_BYTES]>::try_from(b).ok())
        .with_context(|| format!("{} holds no 32-byte public key", path.display()))?;
    Ok(bytes)
}

fn restore(args: &RecoveryRestore) -> Result<ExitCode> {
    let config = crate::config::Config::load(&args.config)?;
    let recovery = crate::daemon::startup::x25519_key(&args.recovery_key)?;
    if let Some(public) = &config.keys.recovery_public
        && load_public(public)? != recovery.public_key()
    {
        bail!(
            "{} is not the private half of this node's recovery key ({})",
            args.recovery_key.display(),
            public.display()
        );
    }
    let store = super::maintenance::open_stopped_store(&config)?;
    let (ring, pending) = crate::node_key::rotation::open_ring(&config.keys.node_key)?;
    if pending {
        bail!("a node key rotation is under way: start the node once to finish it, then restore");
    }
    ring.check_store(&store)
        .context("the node key does not open this store's data keys: nothing was changed")?;
    let certificate = medchain_protocol::identity::pem_to_der_cert(&crate::files::read_text(
        &config.identity.member_cert,
    )?)
    .context("the member certificate is not readable")?;
    let chain = ChainId::from_public_key(
        &public_key_of(&certificate).context("the member certificate holds no Ed25519 key")?,
    );
    let mut ledger = medchain_chain::Ledger::new(store, crate::daemon::startup::trust(&config)?);
    if ledger.store().node_key_check()?.is_none() {
        ledger.record_node_key(&ring)?;
    }
    let held = ledger.store().key_backup_count(&chain);
    if held == 0 {
        bail!(
            "this store holds no key backup of chain {chain}: start the node first, so it rebuilds its chain and fetches its backups from peers, then stop it and restore"
        );
    }
    let done = ledger.restore_from_backups(&ring, &recovery, &chain)?;
    println!(
        "{} backups read: {} data keys restored, {} already held, {} left out (erased), {} refused (they do not open their payloads), {} waiting for their payloads, {} blocks with payloads have no backup here, {} keys withheld from the backups held",
        done.backups,
        done.restored,
        done.already,
        done.erased,
        done.refused,
        done.waiting,
        done.missing_backups,
        done.missing_keys
    );
    let complete = done.refused == 0
        && done.waiting == 0
        && done.missing_backups == 0
        && done.missing_keys == 0;
    if !complete {
        println!(
            "not every key is back: start the node, let it fetch what it lacks from its peers, stop it and restore again (a key refused, or a block written before the recovery key was configured, stays lost)"
        );
    }
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
