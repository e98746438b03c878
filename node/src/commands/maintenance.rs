//! `medchain maintenance ...`: work on a stopped node's files, and attack simulation on its
//! store.
//!
//! `rotate-node-key` replaces the node key (`crate::node_key::rotation`).
//!
//! This is the paper's scenario 2 made reproducible: someone with access to a hospital's
//! repository alters a stored block. It writes through `medchain_store::tamper`, past every
//! check, and says so loudly. The node finds the damage at its next start (or scheduled scan),
//! quarantines it and restores the range from its peers.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use medchain_protocol::ChainId;
use medchain_store::{Store, tamper};

use crate::cli::{MaintenanceCommand, RotateNodeKey, TamperBlock};

/// Runs one maintenance subcommand.
pub fn run(command: MaintenanceCommand) -> Result<ExitCode> {
    match command {
        MaintenanceCommand::TamperBlock(args) => tamper_block(&args),
        MaintenanceCommand::RotateNodeKey(args) => rotate_node_key(&args),
    }
}

fn rotate_node_key(args: &RotateNodeKey) -> Result<ExitCode> {
    use crate::node_key::rotation;
    let config = crate::config::Config::load(&args.config)?;
    let path = &config.keys.node_key;
    // The store first: its lock keeps a running node away from the key files meanwhile.
    let store = open_stopped_store(&config)?;
    let (ring, pending) = rotation::open_ring(path)?;
    if !pending {
        ring.check_store(&store)
            .context("the node key does not open this store's data keys: nothing was changed")?;
    }
    let mut ledger = medchain_chain::Ledger::new(store, crate::daemon::startup::trust(&config)?);
    if pending {
        let done = rotation::resume(path, &ring, &mut ledger)?;
        println!(
            "finished an interrupted rotation: {} keys re-wrapped, {} already done",
            done.rewrapped, done.already
        );
    }
    let done = rotation::rotate(path, &ring, &mut ledger)?;
    println!(
        "node key {} is now generation {}: {} data keys re-wrapped under it{}; the previous key is destroyed",
        path.display(),
        ring.generation(),
        done.rewrapped,
        if done.unreadable > 0 {
            format!(", {} that opened under no key removed", done.unreadable)
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A stopped node's store (its lock keeps a running node away meanwhile).
pub fn open_stopped_store(config: &crate::config::Config) -> Result<Store> {
    let path = config.node.data_dir.join("store");
    Store::open(&path).with_context(|| {
        format!(
            "cannot open {} (is the node still running? stop it first)",
            path.display()
        )
    })
}

fn tamper_block(args: &TamperBlock) -> Result<ExitCode> {
    let chain: ChainId = args
        .chain
        .parse()
        .context("--chain must be 64 hex characters")?;
    let path = args.data_dir.join("store");
    let mut store = Store::open(&path).with_context(|| {
        format!(
            "cannot open {} (is the node still running? stop it first)",
            path.display()
        )
    })?;
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    for height in args.height..args.height.saturating_add(args.count) {
        let hash = store
            .block_hash_at(&chain, height)?
            .with_context(|| format!("no block at height {height} of chain {chain}"))?;
        let mut bytes = store
            .raw_block_bytes(&hash)?
            .context("the block's bytes are not stored")?;
        if args.from_end == 0 || args.from_end > bytes.len() {
            bail!("--from-end must be 1 to {}", bytes.len());
        }
        let at = bytes.len() - args.from_end;
        bytes[at] ^= 0x01;
        tamper::overwrite_block_bytes(&mut store, &hash, &bytes)?;
        println!(
            "ATTACK SIMULATION: flipped byte {at} of block {hash} (chain {chain}, height {height})"
        );
    }
    println!(
        "the stored copy no longer matches what was signed; start the node to see it found and repaired"
    );
    Ok(ExitCode::SUCCESS)
}
