//! Harness `damage`: raw damage trials on stopped (SIGTERM) and on killed (SIGKILL, under
//! load) nodes. Each trial damages one file of one node's store (`db`, `conf`, `blobs/*`,
//! `snap.*`) with one harm (flipped bytes, a zeroed 4 KiB page, a truncated file, a deleted
//! file), cycling through every combination and every node, then starts the node again. It
//! ends converged, with every acknowledged record on every node and every store verifying
//! clean, or the trial is a failure.
//!
//! Before a provider's store is damaged, writes to it stop and its chain is confirmed on every
//! other node: a record acknowledged by that node alone would otherwise be destroyed by the
//! harness, not lost by medchain (docs/operations.md: `?ack=replicated` is for that case).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;

use crate::Ctx;
use crate::checks::{self, Heads};
use crate::cluster::{Cluster, Spec};
use crate::damage::{self, FileKind, Harm};
use crate::load::{Load, Shape};
use crate::outcome::{Outcome, Stage, checkpoint, new_cluster};
use medchain_testnet::{log_lines, log_mark};

/// What the harness tests, in a line.
pub const TITLE: &str = "raw damage to store files of stopped and killed nodes";

/// One trial's plan.
struct Plan {
    killed: bool,
    harm: Harm,
    file: FileKind,
    victim: String,
}

/// Trial `i` of a run: the combinations cycle so that every harm meets every file kind in both
/// modes (32 combinations), and the victim shifts with harm and file so that every node meets
/// every harm and every file kind (and another node the same combination in the next 32).
fn plan(i: usize, names: &[String]) -> Plan {
    Plan {
        killed: i % 2 == 1,
        harm: Harm::ALL[(i / 2) % 4],
        file: FileKind::ALL[(i / 8) % 4],
        victim: names[(i / 2 + i / 8 + i / 32) % names.len()].clone(),
    }
}

/// The harness up to the final checks (`outcome::run_harness` runs those).
pub fn scenario(ctx: &Ctx, stage: &mut Stage, outcome: &mut Outcome) -> Result<()> {
    let trials = ctx.args.trials.unwrap_or(if ctx.quick { 4 } else { 64 });
    let spec = Spec::new(3, 1);
    let cluster = stage
        .cluster
        .insert(new_cluster(ctx, &outcome.dir, spec, None)?);
    // A steady trickle, not a flood: the trials are about recovery, and every trial accounts
    // for every record written so far on every node and verifies every store, so the stores
    // must stay small enough for 64 trials (about 70 records/s, one in 100 of them 300 KiB).
    let shape = Shape {
        clients: 3,
        max_batch: 8,
        pause: Duration::from_millis(200),
        large_every: 100,
        rate: None,
    };
    let load = stage
        .load
        .insert(Load::start(ctx.targets(cluster), shape, ctx.seed));
    std::thread::sleep(Duration::from_secs(if ctx.quick { 3 } else { 15 }));
    outcome.step(format!(
        "{} providers + {} auditor on loopback, {} clients writing throughout (1 in 100 records 300 KiB, so blobs/ has files); {trials} trials",
        spec.providers, spec.auditors, shape.clients
    ));
    let names = cluster.names();
    let limit = Duration::from_secs(if ctx.quick { 120 } else { 180 });
    let mut rows = Vec::new();
    for i in 0..trials {
        // The quick run's few trials still cover each harm, both modes and more than one file.
        let p = if ctx.quick {
            Plan {
                killed: i % 2 == 1,
                harm: Harm::ALL[i % 4],
                file: [FileKind::Db, FileKind::Db, FileKind::Blob, FileKind::Conf][i % 4],
                victim: names[i % names.len()].clone(),
            }
        } else {
            plan(i, &names)
        };
        let row = trial(ctx, cluster, load, outcome, &p, i + 1, trials, limit)?;
        rows.push(row);
        if cluster.check_exits() > 0 {
            bail!("a node exited on its own; the trials stop here");
        }
    }
    outcome.figure("trials", rows.len());
    outcome.figure("trial_rows", json!(rows));
    let converge: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["converged_s"].as_f64())
        .collect();
    if !converge.is_empty() {
        let max = converge.iter().copied().fold(0.0, f64::max);
        let mean = converge.iter().sum::<f64>() / converge.len() as f64;
        outcome.figure("trial_converge_max_s", (max * 100.0).round() / 100.0);
        outcome.figure("trial_converge_mean_s", (mean * 100.0).round() / 100.0);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn trial(
    ctx: &Ctx,
    cluster: &mut Cluster,
    load: &Load,
    outcome: &mut Outcome,
    p: &Plan,
    number: usize,
    of: usize,
    limit: Duration,
) -> Result<serde_json::Value> {
    let victim = p.victim.as_str();
    let provider = cluster.node(victim)?.role == "provider";
    if provider {
        load.disable(victim);
        crate::payloads::wait_replicated(cluster, load, victim, outcome)?;
    }
    let before = checks::heads(cluster, victim).unwrap_or_default();
    if p.killed {
        cluster.kill(victim)?;
    } else {
        cluster.stop(victim)?;
    }
    let store = cluster.node(victim)?.data_dir.join("store");
    let (file, note) = match damage::pick(&store, p.file, &ctx.rng)? {
        Some(f) => (f, String::new()),
        // No snapshot or blob yet: damage the log instead, and say so.
        None => (
            "db".to_owned(),
            format!(" (no {} file yet: db instead)", p.file.label()),
        ),
    };
    let done = damage::apply(&store, &file, p.harm, &ctx.rng)?;
    let mark = log_mark(cluster.node(victim)?);
    let started = Instant::now();
    let ready = match cluster.start(victim) {
        Ok(ready) => ready,
        Err(e) => {
            // The node cannot recover on its own: a finding. Remove the store (as an operator
            // would) so the remaining trials run; the failure stays in the report.
            outcome.failures.push(format!(
                "trial {number}: {victim} did not come back after {}: {e:#}",
                p.harm.label()
            ));
            let _ = cluster.kill(victim);
            std::fs::remove_dir_all(&store).ok();
            cluster.start(victim)?
        }
    };
    // What the store held as it came back, before peers refilled much of it.
    let after = checks::heads(cluster, victim).unwrap_or_default();
    let short = shortfall(&before, &after);
    if provider {
        load.enable(victim);
    }
    // Writes keep arriving at the restarted node for a moment (503 while its writes are paused).
    std::thread::sleep(
        ctx.rng
            .between(Duration::from_millis(500), Duration::from_millis(2000)),
    );
    let checked = checkpoint(cluster, load, outcome, started, limit);
    let mut reaction = reaction(cluster, victim, mark)?;
    if checked.seconds.is_none() || checked.unclean > 0 {
        // The node did not recover on its own: the failure stays in the report. Do what an
        // operator would (move the store aside, start again) so the next trials run on a
        // sound network; the store is kept for forensics.
        let aside = store.with_file_name(format!("store.chaos-trial-{number}"));
        cluster.stop(victim)?;
        std::fs::rename(&store, &aside)?;
        cluster.start(victim)?;
        let again = checkpoint(cluster, load, outcome, Instant::now(), limit);
        reaction = format!(
            "{reaction}; NOT RECOVERED: the harness moved its store aside to {} and started it again: {again}",
            aside.display()
        );
    }
    if let Some(short) = short {
        reaction = format!("{short}; {reaction}");
    }
    let mode = if p.killed {
        "killed under load"
    } else {
        "stopped"
    };
    outcome.step(format!(
        "trial {number}/{of}: {victim} {mode}; {done}{note}; on restart: {reaction}; API after {:.1} s; {checked}",
        ready.as_secs_f64()
    ));
    Ok(json!({
        "trial": number,
        "node": victim,
        "mode": mode,
        "file": file,
        "harm": p.harm.label(),
        "damage": done,
        "reaction": reaction,
        "ready_s": (ready.as_secs_f64() * 100.0).round() / 100.0,
        "converged_s": checked.seconds.map(|s| (s * 100.0).round() / 100.0),
        "lost": checked.missing,
        "unclean": checked.unclean,
    }))
}

/// What the node's log says it did about the damage since `mark`.
fn reaction(cluster: &Cluster, name: &str, mark: u64) -> Result<String> {
    let node = cluster.node(name)?;
    let count = |needle: &str| log_lines(node, mark, needle).len();
    let mut said = Vec::new();
    if count("damaged store moved aside") > 0 {
        said.push("store moved aside and rebuilt from peers".to_owned());
    }
    if count("store marked damaged") > 0 {
        said.push("verifier marked the store damaged".to_owned());
    }
    let violations = count("integrity violation detected");
    if violations > 0 {
        said.push(format!("{violations} violations quarantined"));
    }
    let restored = count("chain restored from peers");
    if restored > 0 {
        said.push(format!("{restored} ranges restored from peers"));
    }
    if count("damaged payloads found") > 0 {
        said.push("damaged payloads refetched by hash".to_owned());
    }
    let stray = count("stray store entry set aside");
    if stray > 0 {
        said.push(format!("{stray} stray entries set aside"));
    }
    if count("integrity check could not complete") > 0 {
        said.push("a scan could not complete (fail closed)".to_owned());
    }
    // sled's own warnings (a failed CRC, a log cut back) say what the engine did with it.
    if let Some(line) = log_lines(node, mark, "sled::")
        .into_iter()
        .find(|l| l["level"] == "WARN")
    {
        let text = line["fields"]["message"].as_str().unwrap_or("?");
        said.push(format!(
            "sled warned \"{}\"",
            text.chars().take(90).collect::<String>()
        ));
    }
    if said.is_empty() {
        said.push("nothing found (the damage missed live data)".into());
    }
    Ok(said.join(", "))
}

/// How far below its heads before the damage the node's store came back, if it did.
fn shortfall(before: &Heads, after: &Heads) -> Option<String> {
    let mut blocks = 0;
    let mut chains = 0;
    for (chain, (height, _)) in before {
        let now = after.get(chain).map(|(h, _)| h + 1).unwrap_or(0);
        if now < height + 1 {
            blocks += height + 1 - now;
            chains += 1;
        }
    }
    (blocks > 0).then(|| format!("came back {blocks} blocks short on {chains} chains"))
}
