//! Harness `kill`: kill -9 of random nodes under write load. Clients keep writing to every
//! provider (single records and batches); now and then one node (or, in the full run, sometimes
//! two at once) is killed with SIGKILL, left down a moment, and started again. At the end every
//! acknowledged record must be on every node, the time to converge after the last restart is
//! measured, and every store must verify clean.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::Ctx;
use crate::cluster::Spec;
use crate::load::Load;
use crate::outcome::{Outcome, Stage, new_cluster};

/// What the harness tests, in a line.
pub const TITLE: &str = "kill -9 of random nodes under write load";

/// The harness up to the final checks (`outcome::run_harness` runs those).
pub fn scenario(ctx: &Ctx, stage: &mut Stage, outcome: &mut Outcome) -> Result<()> {
    let kills = ctx.args.kills.unwrap_or(if ctx.quick { 3 } else { 30 });
    let spec = Spec {
        providers: 3,
        auditors: 1,
        verifier_interval: if ctx.quick { 0 } else { 30 },
    };
    let cluster = stage
        .cluster
        .insert(new_cluster(ctx, &outcome.dir, spec, None)?);
    outcome.step(format!(
        "{} providers + {} auditor on loopback; writing to every provider: {}",
        spec.providers,
        spec.auditors,
        ctx.load_shape().describe()
    ));
    let load = stage.load.insert(Load::start(
        ctx.targets(cluster),
        ctx.load_shape(),
        ctx.seed,
    ));
    std::thread::sleep(if ctx.quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(10)
    });
    let names = cluster.names();
    let mut killed: BTreeMap<String, u64> = BTreeMap::new();
    let mut ready_times = Vec::new();
    let mut last_restart = Instant::now();
    for k in 1..=kills {
        std::thread::sleep(ctx.rng.between(
            Duration::from_millis(1000),
            Duration::from_millis(if ctx.quick { 2500 } else { 5000 }),
        ));
        let mut victims = vec![names[ctx.rng.index(names.len())].clone()];
        if !ctx.quick && ctx.rng.below(4) == 0 {
            let second = names[ctx.rng.index(names.len())].clone();
            if second != victims[0] {
                victims.push(second);
            }
        }
        let acked_before = load.counts().acknowledged;
        for v in &victims {
            cluster.kill(v)?;
            *killed.entry(v.clone()).or_default() += 1;
        }
        let down = ctx
            .rng
            .between(Duration::from_millis(200), Duration::from_millis(3000));
        std::thread::sleep(down);
        if k == kills {
            // Convergence is timed from the last restart: no new writes after it.
            load.stop();
        }
        last_restart = Instant::now();
        let mut readies = Vec::new();
        for v in &victims {
            let ready = cluster.start(v)?;
            ready_times.push(ready.as_secs_f64());
            readies.push(format!("{:.1} s", ready.as_secs_f64()));
        }
        outcome.step(format!(
            "kill {k}/{kills}: kill -9 {} ({} records acknowledged so far), down {:.1} s, API answering again after {}",
            victims.join(" and "),
            acked_before,
            down.as_secs_f64(),
            readies.join(", ")
        ));
        if cluster.check_exits() > 0 {
            break;
        }
    }
    stage.since = Some((last_restart, "the last restart"));
    stage.converge_limit = Some(Duration::from_secs(if ctx.quick { 120 } else { 300 }));
    let counts = load.counts();
    outcome.step(format!(
        "the load: {} requests, {} records acknowledged, {} refused with 503 (writes paused after a restart), {} unanswered (node down)",
        counts.requests, counts.acknowledged, counts.refused_503, counts.unanswered
    ));
    outcome.figure("kills", kills);
    outcome.figure("killed_per_node", serde_json::to_value(&killed)?);
    let max_ready = ready_times.iter().copied().fold(0.0, f64::max);
    outcome.figure("restart_to_api_max_s", (max_ready * 100.0).round() / 100.0);
    Ok(())
}
