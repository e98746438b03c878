//! What a harness did and found, the final checks every harness ends with, and how both are
//! printed: what it did, then `N lost`, `N equivocations`, `N panics`, and anything else that
//! broke a promise (no convergence, a store that does not verify clean, a node that exited on
//! its own, an answer no client should get).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Ctx;
use crate::checks;
use crate::cluster::{Cluster, Spec};
use crate::health;
use crate::load::Load;
use crate::netns::Namespaces;
use crate::panics;
use crate::payloads;

/// The result of one harness.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Short name (`kill`, `damage`, `restart`, `partition`, `api`).
    pub name: &'static str,
    /// What it tests, in a line.
    pub title: &'static str,
    /// What it did, step by step.
    pub did: Vec<String>,
    /// Records acknowledged to clients.
    pub acknowledged: u64,
    /// Acknowledged records some node lacked when it should have held them (at most 20 kept).
    pub lost: Vec<String>,
    /// The distinct records lost, by ID.
    pub lost_records: BTreeSet<String>,
    /// Chain/height pairs some node holds equivocation evidence for (with who holds it).
    pub equivocations: BTreeSet<String>,
    /// Panics that count.
    pub panics: Vec<String>,
    /// sled panics on damaged files, contained by the store's open guard.
    pub contained_panics: usize,
    /// Nodes that exited without being told to.
    pub exits: Vec<String>,
    /// Stores that did not verify clean.
    pub unclean: Vec<String>,
    /// Every other broken promise or harness error.
    pub failures: Vec<String>,
    /// Figures for docs/reliability.md.
    pub figures: BTreeMap<String, Value>,
    /// Wall time of the harness.
    pub seconds: f64,
    /// Where its nodes' data and logs are.
    pub dir: PathBuf,
}

impl Outcome {
    /// An empty outcome.
    pub fn new(name: &'static str, title: &'static str, dir: PathBuf) -> Self {
        Self {
            name,
            title,
            dir,
            ..Self::default()
        }
    }

    /// Records a step and prints it at once (a long harness shows progress).
    pub fn step(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  {}: {text}", self.name);
        self.did.push(text);
    }

    /// Records a figure.
    pub fn figure(&mut self, key: &str, value: impl Into<Value>) {
        self.figures.insert(key.to_owned(), value.into());
    }

    /// Counts acknowledged records found missing as lost.
    pub fn absorb_missing(&mut self, missing: &[checks::Missing]) {
        for m in missing {
            self.lost_records.insert(m.ack.record.clone());
            if self.lost.len() < 20 {
                self.lost.push(m.to_string());
            }
        }
    }

    /// Records the equivocation evidence any running node holds.
    pub fn absorb_evidence(&mut self, cluster: &Cluster) -> usize {
        let found = health::evidence_all(cluster);
        let count = found.len();
        for (at, holders) in found {
            self.equivocations
                .insert(format!("{at} (held by {})", holders.join(", ")));
        }
        count
    }

    /// Whether every promise held.
    pub fn passed(&self) -> bool {
        self.lost_records.is_empty()
            && self.equivocations.is_empty()
            && self.panics.is_empty()
            && self.exits.is_empty()
            && self.unclean.is_empty()
            && self.failures.is_empty()
    }

    /// The summary block of this harness.
    pub fn print(&self) {
        println!("== {}: {} ({:.0} s)", self.name, self.title, self.seconds);
        for line in &self.did {
            println!("   {line}");
        }
        println!("   {} acknowledged records", self.acknowledged);
        println!("{} lost", self.lost_records.len());
        println!("{} equivocations", self.equivocations.len());
        if self.contained_panics > 0 {
            println!(
                "{} panics ({} more inside sled while opening a damaged store, contained: the store was moved aside and rebuilt)",
                self.panics.len(),
                self.contained_panics
            );
        } else {
            println!("{} panics", self.panics.len());
        }
        let evidence: Vec<String> = self.equivocations.iter().cloned().collect();
        let problems = [
            ("lost", &self.lost),
            ("equivocation evidence at", &evidence),
            ("panic", &self.panics),
            ("unexpected exit", &self.exits),
            ("store not clean", &self.unclean),
            ("failure", &self.failures),
        ];
        for (what, list) in problems {
            for line in list.iter().take(10) {
                println!("   {what}: {line}");
            }
        }
        if self.passed() {
            println!("   result: passed");
        } else {
            println!(
                "   result: FAILED (nodes' data and logs kept in {})",
                self.dir.display()
            );
        }
    }

    /// The outcome as JSON (scripts/chaos.sh keeps it; docs/reliability.md quotes it).
    pub fn to_json(&self) -> Value {
        json!({
            "harness": self.name,
            "title": self.title,
            "passed": self.passed(),
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "did": self.did,
            "acknowledged": self.acknowledged,
            "lost": self.lost_records.len(),
            "lost_examples": self.lost,
            "equivocations": self.equivocations.len(),
            "panics": self.panics.len(),
            "contained_engine_panics": self.contained_panics,
            "unexpected_exits": self.exits,
            "unclean_stores": self.unclean,
            "failures": self.failures,
            "figures": self.figures,
            "dir": self.dir,
        })
    }
}

/// What a harness built, kept by the caller so the final checks run even when a step failed.
#[derive(Default)]
pub struct Stage {
    /// The nodes.
    pub cluster: Option<Cluster>,
    /// The write load.
    pub load: Option<Load>,
    /// Convergence is timed from here, and what happened then (default: when the final checks
    /// start, "the end of the load").
    pub since: Option<(Instant, &'static str)>,
    /// How long the final convergence may take before what is missing counts as lost.
    pub converge_limit: Option<Duration>,
    /// A goal for the final convergence time; missing it is a failure.
    pub converge_goal: Option<Duration>,
}

/// A harness's consortium in `dir`, from the run's binary and seed.
pub fn new_cluster(
    ctx: &Ctx,
    dir: &std::path::Path,
    spec: Spec,
    namespaces: Option<Namespaces>,
) -> anyhow::Result<Cluster> {
    Cluster::create(dir, &ctx.medchain, spec, namespaces, ctx.seed)
}

/// A harness up to its final checks.
pub type Scenario = fn(&Ctx, &mut Stage, &mut Outcome) -> anyhow::Result<()>;

/// Runs harness `name` in `ctx.work/name`: its scenario, then the final checks, which also run
/// when the scenario failed midway (on whatever it had started).
pub fn run_harness(
    ctx: &Ctx,
    name: &'static str,
    title: &'static str,
    scenario: Scenario,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome::new(name, title, ctx.work.join(name));
    let mut stage = Stage::default();
    if let Err(e) = scenario(ctx, &mut stage, &mut outcome) {
        outcome.failures.push(format!("{e:#}"));
    }
    finish(&mut stage, &mut outcome);
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

/// The final checks: stop the load, start any node a failed step left down, wait for
/// convergence (timed), then account for every acknowledged record on every node, verify every
/// store, look for equivocation evidence, panics and unexpected exits.
pub fn finish(stage: &mut Stage, outcome: &mut Outcome) {
    let Some(cluster) = stage.cluster.as_mut() else {
        return;
    };
    let acks = match stage.load.as_mut() {
        Some(load) => {
            load.stop();
            let counts = load.counts();
            if counts.unexpected > 0 {
                outcome.failures.push(format!(
                    "{} answers to writes were neither an acknowledgement nor a 503: {}",
                    counts.unexpected,
                    load.unexpected().join(" | ")
                ));
            }
            outcome.figure("writes", serde_json::to_value(&counts).unwrap_or_default());
            load.acks()
        }
        None => Vec::new(),
    };
    outcome.acknowledged = acks.len() as u64;
    for name in cluster.names() {
        if !cluster.running(&name)
            && let Err(e) = cluster.start(&name)
        {
            outcome.failures.push(format!(
                "{name} could not be started for the final checks: {e:#}"
            ));
        }
    }
    let (since, what) = stage
        .since
        .unwrap_or((Instant::now(), "the end of the load"));
    let limit = stage.converge_limit.unwrap_or(Duration::from_secs(300));
    let converged = checks::converge(cluster, &acks, since, limit);
    let nodes = cluster
        .names()
        .iter()
        .filter(|n| cluster.running(n))
        .count();
    match converged.seconds {
        Some(s) => {
            outcome.step(format!(
                "final check: converged {s:.2} s after {what}; each of the {} acknowledged records found on all {nodes} nodes in the block its answer named",
                acks.len()
            ));
            outcome.figure("final_convergence_s", (s * 100.0).round() / 100.0);
            if let Some(goal) = stage.converge_goal
                && s > goal.as_secs_f64()
            {
                outcome.failures.push(format!(
                    "converged after {s:.2} s, beyond the goal of {} s",
                    goal.as_secs()
                ));
            }
        }
        None => outcome.failures.push(format!(
            "did not converge within {} s: {}",
            limit.as_secs(),
            converged.detail
        )),
    }
    outcome.absorb_missing(&converged.missing);
    // Payloads over 64 KiB follow their blocks by hash: they get a grace period to arrive.
    let running: Vec<String> = cluster
        .names()
        .into_iter()
        .filter(|n| cluster.running(n))
        .collect();
    payloads::check(
        cluster,
        &running,
        outcome,
        payloads::PAYLOAD_GRACE,
        "the blocks converged",
    );
    let (took, unsettled) = health::settle(cluster, Duration::from_secs(60));
    outcome.failures.extend(unsettled);
    outcome.figure(
        "ready_and_writes_resumed_s",
        (took.as_secs_f64() * 100.0).round() / 100.0,
    );
    let unclean = health::verify_all(cluster);
    if unclean.is_empty() {
        let nodes = cluster.names().len();
        outcome.step(format!(
            "POST /v1/verify on all {nodes} nodes: no violation"
        ));
    }
    outcome.unclean.extend(unclean);
    outcome.absorb_evidence(cluster);
    let found = panics::scan(cluster);
    outcome.panics = found.counted;
    outcome.contained_panics = found.contained;
    cluster.check_exits();
    outcome.exits = cluster.exits.clone();
}

/// What a check in the middle of a harness found.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    /// Seconds to converge (from the given moment), if it did.
    pub seconds: Option<f64>,
    /// Acknowledged records missing at the limit.
    pub missing: usize,
    /// Stores that did not verify clean.
    pub unclean: usize,
    /// Chain/heights with equivocation evidence.
    pub evidence: usize,
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seconds {
            Some(s) => write!(f, "converged {s:.1} s after the start")?,
            None => write!(f, "NOT converged")?,
        }
        write!(
            f,
            ", {} lost, {} stores not clean, {} equivocations",
            self.missing, self.unclean, self.evidence
        )
    }
}

/// A check in the middle of a harness: the load pauses, every running node must converge within
/// `limit` (timed from `since`) with every acknowledged record in place, every store must verify
/// clean and no node may hold equivocation evidence; then the load resumes.
pub fn checkpoint(
    cluster: &Cluster,
    load: &Load,
    outcome: &mut Outcome,
    since: Instant,
    limit: Duration,
) -> Checkpoint {
    load.pause();
    let acks = load.acks();
    let converged = checks::converge(cluster, &acks, since, limit);
    if converged.seconds.is_none() {
        outcome.failures.push(format!(
            "did not converge within {} s: {}",
            limit.as_secs(),
            converged.detail
        ));
    }
    outcome.absorb_missing(&converged.missing);
    let unclean = health::verify_all(cluster);
    let result = Checkpoint {
        seconds: converged.seconds,
        missing: converged.missing.len(),
        unclean: unclean.len(),
        evidence: outcome.absorb_evidence(cluster),
    };
    outcome.unclean.extend(unclean);
    load.resume();
    result
}
