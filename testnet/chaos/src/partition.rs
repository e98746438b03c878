//! Harness `partition`: five nodes, each in its own network namespace with its own address
//! (p2p and API), split 2/3 under write load, then healed; then a node paused with SIGSTOP
//! under load and resumed with SIGCONT. Both sides keep writing their own chains during the
//! split (a chain has one writer, so nothing conflicts); after the heal every node must hold
//! every record acknowledged on either side, and the time from the heal to that point is the
//! figure (goal: 10 s; the quick run allows 60 s).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::Ctx;
use crate::checks::{self, acked_heights};
use crate::cluster::Spec;
use crate::load::Load;
use crate::netns::Namespaces;
use crate::outcome::{Outcome, Stage, checkpoint, new_cluster};

/// What the harness tests, in a line.
pub const TITLE: &str = "a 2/3 network partition under load, healed; SIGSTOP/SIGCONT";

/// The harness up to the final checks (`outcome::run_harness` runs those).
pub fn scenario(ctx: &Ctx, stage: &mut Stage, outcome: &mut Outcome) -> Result<()> {
    let split =
        Duration::from_secs(
            ctx.args
                .partition_secs
                .unwrap_or(if ctx.quick { 15 } else { 60 }),
        );
    let goal = Duration::from_secs(if ctx.quick { 60 } else { 10 });
    let namespaces = Namespaces::create(5, ctx.seed).context("cannot create the namespaces")?;
    let spec = Spec::new(4, 1);
    let cluster = stage
        .cluster
        .insert(new_cluster(ctx, &outcome.dir, spec, Some(namespaces))?);
    let apis: Vec<String> = cluster
        .net
        .nodes
        .iter()
        .map(|n| format!("{} {}", n.name, n.api))
        .collect();
    outcome.step(format!(
        "5 nodes (4 providers, 1 auditor), each in its own network namespace on a bridge: {}; writing to every provider: {}",
        apis.join(", "),
        ctx.paced_shape().describe()
    ));
    let load = stage.load.insert(Load::start(
        ctx.targets(cluster),
        ctx.paced_shape(),
        ctx.seed,
    ));
    std::thread::sleep(Duration::from_secs(if ctx.quick { 3 } else { 8 }));
    let warm = checkpoint(
        cluster,
        load,
        outcome,
        Instant::now(),
        Duration::from_secs(120),
    );
    outcome.step(format!("before the split: {warm}"));

    // Namespace i holds node i in creation order: hospital-1..4, then auditor-1.
    let (side_a, side_b) = (vec![0, 1], vec![2, 3, 4]);
    let acked_before = load.acked_by();
    cluster
        .namespaces()
        .context("no namespaces")?
        .partition(&side_a, &side_b)?;
    outcome.step(format!(
        "split: {{hospital-1, hospital-2}} | {{hospital-3, hospital-4, auditor-1}} (blackhole routes both ways) for {} s, clients writing to all four providers",
        split.as_secs()
    ));
    // The split is real when hospital-1's chain, still growing on its own side, stops growing
    // on the other: its height across is read a moment in and again at the end.
    let chain_1 = cluster
        .chains
        .get("hospital-1")
        .context("no hospital-1")?
        .clone();
    let settle = Duration::from_secs(3).min(split / 2);
    std::thread::sleep(settle);
    let across_early = checks::heads(cluster, "hospital-3")?
        .get(&chain_1)
        .map(|h| h.0);
    std::thread::sleep(split - settle);
    let acked_during: Vec<String> = load
        .acked_by()
        .iter()
        .map(|(node, n)| {
            format!(
                "{node} {}",
                n - acked_before.get(node).copied().unwrap_or(0)
            )
        })
        .collect();
    let on_own = checks::heads(cluster, "hospital-1")?
        .get(&chain_1)
        .map(|h| h.0);
    let across = checks::heads(cluster, "hospital-3")?
        .get(&chain_1)
        .map(|h| h.0);
    if on_own <= across || across != across_early {
        bail!(
            "the partition did not separate the sides: hospital-1's chain at {on_own:?} on hospital-1, on hospital-3 at {across_early:?} {} s into the split and {across:?} at its end",
            settle.as_secs()
        );
    }
    outcome.step(format!(
        "during the split, records acknowledged per provider: {}; hospital-1's chain at {} on its side, {} across",
        acked_during.join(", "),
        on_own.unwrap_or(0),
        across.unwrap_or(0)
    ));

    let at_heal = acked_heights(&load.acks());
    let healed = Instant::now();
    cluster.namespaces().context("no namespaces")?.heal()?;
    let seconds = checks::wait_heights(cluster, &at_heal, healed, Duration::from_secs(300));
    match seconds {
        Some(s) => {
            outcome.step(format!(
                "healed: every node held every record acknowledged on either side {s:.2} s after the heal (goal {} s), clients still writing",
                goal.as_secs()
            ));
            outcome.figure("heal_to_converged_s", (s * 100.0).round() / 100.0);
            if s > goal.as_secs_f64() {
                outcome.failures.push(format!(
                    "after the heal the nodes converged in {s:.2} s, beyond the goal of {} s",
                    goal.as_secs()
                ));
            }
        }
        None => outcome
            .failures
            .push("the nodes did not converge within 300 s of the heal".into()),
    }
    let after = checkpoint(cluster, load, outcome, healed, Duration::from_secs(120));
    outcome.step(format!(
        "after the heal, every record accounted for: {after}"
    ));

    let pauses: &[&str] = if ctx.quick {
        &["hospital-3"]
    } else {
        &["hospital-3", "auditor-1"]
    };
    for name in pauses {
        let paused_for = Duration::from_secs(if ctx.quick { 8 } else { 30 });
        cluster.pause(name, true)?;
        std::thread::sleep(paused_for);
        let at_resume = acked_heights(&load.acks());
        let resumed = Instant::now();
        cluster.pause(name, false)?;
        let caught_up =
            checks::wait_heights(cluster, &at_resume, resumed, Duration::from_secs(300));
        let checked = checkpoint(cluster, load, outcome, resumed, Duration::from_secs(120));
        outcome.step(format!(
            "SIGSTOP {name} for {} s under load, SIGCONT: it held everything acknowledged meanwhile {} after; {checked}",
            paused_for.as_secs(),
            caught_up.map_or("NOT within 300 s".to_owned(), |s| format!("{s:.2} s"))
        ));
        if let Some(s) = caught_up {
            outcome.figure(
                &format!("sigcont_{name}_to_converged_s"),
                (s * 100.0).round() / 100.0,
            );
        }
    }
    stage.converge_goal = None;
    outcome.figure("partition_s", split.as_secs());
    Ok(())
}
