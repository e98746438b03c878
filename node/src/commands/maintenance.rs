//! `medchain maintenance ...`: attack simulation on a stopped node's store.
//!
//! This is the paper's scenario 2 made reproducible: someone with access to a hospital's
//! repository alters a stored block. It writes through `medchain_store::tamper`, past every
//! check, and says so loudly. The node finds the damage at its next start (or scheduled scan),
//! quarantines it and restores the range from its peers.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use medchain_protocol::ChainId;
use medchain_store::{Store, tamper};

use crate::cli::{MaintenanceCommand, TamperBlock};

/// Runs one maintenance subcommand.
pub fn run(command: MaintenanceCommand) -> Result<ExitCode> {
    match command {
        MaintenanceCommand::TamperBlock(args) => tamper_block(&args),
    }
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
