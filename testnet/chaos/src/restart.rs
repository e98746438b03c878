//! Harness `restart`: a provider killed again while it rebuilds or catches up, with clients
//! writing to it the whole time. This is where an honest node once equivocated (issue 13): a
//! node restarted on a partly rebuilt store signed heights its peers already held. Each cycle
//! takes one provider and, in turn:
//!
//! - `rebuild`: marks its store damaged (`store.damaged`, the node's own path to a rebuild);
//! - `removed`: deletes its store directory;
//! - `backup`: puts back a copy of its store saved at the start (its own chain now behind the
//!   network's, as after a restore from backup);
//! - `catch-up`: kills it and leaves it down while the others write;
//!
//! then starts it, kills it with SIGKILL a moment later (often before its API answers, in the
//! middle of the rebuild), starts it again, kills it once more while it catches up, and starts
//! it for good. Clients write to it throughout: a 503 while its writes are paused is expected
//! and is not a loss. Each cycle ends with no equivocation evidence on any node and every
//! acknowledged record on every node.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::Ctx;
use crate::cluster::{Cluster, Spec};
use crate::load::Load;
use crate::outcome::{Outcome, Stage, checkpoint, new_cluster};
use medchain_testnet::{log_lines, log_mark};

/// What the harness tests, in a line.
pub const TITLE: &str = "restart during rebuild and during catch-up, writes arriving";

const VARIANTS: [&str; 4] = ["rebuild", "removed", "backup", "catch-up"];

/// The harness up to the final checks (`outcome::run_harness` runs those).
pub fn scenario(ctx: &Ctx, stage: &mut Stage, outcome: &mut Outcome) -> Result<()> {
    let cycles = ctx.args.cycles.unwrap_or(if ctx.quick { 2 } else { 8 });
    let spec = Spec::new(3, 1);
    let cluster = stage
        .cluster
        .insert(new_cluster(ctx, &outcome.dir, spec, None)?);
    let load = stage.load.insert(Load::start(
        ctx.targets(cluster),
        ctx.paced_shape(),
        ctx.seed,
    ));
    // Enough history that a rebuild takes a while to fetch.
    std::thread::sleep(Duration::from_secs(if ctx.quick { 4 } else { 30 }));
    let providers = cluster.providers();
    // A copy of each provider's store, taken with the node stopped (as an operator's backup).
    for name in &providers {
        load.disable(name);
        cluster.stop(name)?;
        let data = cluster.node(name)?.data_dir.clone();
        copy_dir(&data.join("store"), &data.join("store.backup"))?;
        cluster.start(name)?;
        load.enable(name);
    }
    outcome.step(format!(
        "{} providers + {} auditor on loopback, writing to every provider: {}; {} records before the first cycle, each provider's store backed up (stopped) at that point",
        spec.providers,
        spec.auditors,
        ctx.paced_shape().describe(),
        load.counts().acknowledged
    ));
    let limit = Duration::from_secs(if ctx.quick { 120 } else { 180 });
    for cycle in 0..cycles {
        let variant = VARIANTS[cycle % VARIANTS.len()];
        let victim = providers[cycle % providers.len()].clone();
        let refused_before = load.counts().refused_503;
        let (kills, started) = one_cycle(ctx, cluster, load, &victim, variant, outcome)?;
        // Writes keep coming once it is back, then everything must agree.
        std::thread::sleep(Duration::from_secs(if ctx.quick { 2 } else { 4 }));
        let refused = load.counts().refused_503 - refused_before;
        let checked = checkpoint(cluster, load, outcome, started, limit);
        outcome.step(format!(
            "cycle {}/{cycles}: {victim} {variant}; {}; {refused} writes refused with 503 meanwhile; {checked}",
            cycle + 1,
            kills.join("; ")
        ));
        if cluster.check_exits() > 0 {
            anyhow::bail!("a node exited on its own; the cycles stop here");
        }
    }
    outcome.figure("cycles", cycles);
    Ok(())
}

/// One cycle; answers what each kill hit and when the final start began.
fn one_cycle(
    ctx: &Ctx,
    cluster: &mut Cluster,
    load: &Load,
    victim: &str,
    variant: &str,
    outcome: &mut Outcome,
) -> Result<(Vec<String>, Instant)> {
    let data = cluster.node(victim)?.data_dir.clone();
    let store = data.join("store");
    if variant == "catch-up" {
        // Killed under load; its store stays whole, so what it acknowledged stays with it.
        cluster.kill(victim)?;
        std::thread::sleep(ctx.rng.between(
            Duration::from_secs(2),
            Duration::from_secs(if ctx.quick { 4 } else { 10 }),
        ));
    } else {
        // Its store is about to be destroyed: nothing acknowledged by it alone may be in it.
        load.disable(victim);
        crate::payloads::wait_replicated(cluster, load, victim, outcome)?;
        cluster.kill(victim)?;
        match variant {
            "rebuild" => std::fs::write(
                data.join("store.damaged"),
                "0 medchain-chaos: the store must be rebuilt\n",
            )?,
            "removed" => std::fs::remove_dir_all(&store)?,
            _ => {
                std::fs::remove_dir_all(&store)?;
                copy_dir(&data.join("store.backup"), &store)?;
            }
        }
        load.enable(victim);
    }
    let mut kills = Vec::new();
    // Killed a moment after it starts (often before its API answers: mid-rebuild), then once
    // more a moment after its API answers (mid catch-up).
    for round in 0..2 {
        let mark = log_mark(cluster.node(victim)?);
        let spawned = Instant::now();
        cluster.spawn(victim)?;
        if round == 1 {
            cluster.wait_ready(victim, spawned)?;
        }
        // Mostly short: the first kill should land before the API answers, in the rebuild.
        let extra = ctx
            .rng
            .between(Duration::from_millis(50), Duration::from_millis(1500));
        std::thread::sleep(extra);
        let node = cluster.node(victim)?;
        let ready = !log_lines(node, mark, "node ready").is_empty();
        let held = chain_height(cluster, victim, victim);
        cluster.kill(victim)?;
        kills.push(format!(
            "killed {:.1} s after its start ({}{})",
            spawned.elapsed().as_secs_f64(),
            if ready { "API up" } else { "API not up yet" },
            held.map(|h| format!(", own chain at {h}"))
                .unwrap_or_default()
        ));
    }
    let started = Instant::now();
    cluster.start(victim)?;
    let paused = cluster
        .net
        .get_json(cluster.node(victim)?, "/v1/status")
        .ok()
        .and_then(|s| s["writes_paused"]["kind"].as_str().map(str::to_owned));
    kills.push(format!(
        "started for good, writes paused as {}",
        paused.as_deref().unwrap_or("(already resumed)")
    ));
    Ok((kills, started))
}

/// The height at which `holder` holds `victim`'s chain, if its API answers.
fn chain_height(cluster: &Cluster, victim: &str, holder: &str) -> Option<u64> {
    let chain = cluster.chains.get(victim)?;
    let heads = crate::checks::heads(cluster, holder).ok()?;
    heads.get(chain).map(|(h, _)| *h)
}

/// Copies a directory tree (a stopped node's store).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}
