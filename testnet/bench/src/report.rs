//! The benchmark's result: every measured figure, the machine and workload, and one row per
//! figure with its goal (issue 7) and the bound the primitive baselines imply on this machine.
//!
//! Bounds, per record, single core: storing a record costs at least one sled insert of its
//! payload and one blake3 of it, plus one Ed25519 verification per block (shared by the block's
//! entries). Committing on every node needs every node to pay that, on the machine's cores;
//! a catching-up node ingests on one core; the verifier re-hashes every payload and checks every
//! block's signature.

use serde::Serialize;

use crate::primitives::Primitives;

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Cores available.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// When the run finished (UTC, RFC 3339).
    pub finished: String,
}

impl Machine {
    /// Reads the machine from /proc.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".into(), |(_, m)| m.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: kib / (1024.0 * 1024.0),
            finished: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// The workload.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// Provider nodes (each writes its own chain).
    pub providers: usize,
    /// Auditor nodes.
    pub auditors: usize,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records per request in the throughput and fill phases.
    pub batch: usize,
    /// Concurrent clients in the throughput and fill phases.
    pub concurrency: usize,
    /// The short run.
    pub quick: bool,
    /// Whether the nodes' APIs served TLS (`MEDCHAIN_API_TLS=off` turns it off).
    pub api_tls: bool,
    /// Whether the providers backed each block's data keys up to a recovery key (one HPKE
    /// operation per block; the peers fetch and keep the backups).
    pub key_backups: bool,
    /// The watcher's poll period (latency resolution), ms.
    pub poll_ms: u64,
}

/// Sustained throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Records acknowledged.
    pub records: u64,
    /// Blocks they filled.
    pub blocks: u64,
    /// Average entries per block.
    pub entries_per_block: f64,
    /// From the first request until every node held every record.
    pub seconds_to_everywhere: f64,
    /// Records committed on every node per second.
    pub records_per_s: f64,
    /// Records acknowledged (flushed on their origin) per second.
    pub acked_records_per_s: f64,
}

/// p50/p95/p99/max, ms.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Of `values` (sorted here).
    pub fn of(values: &mut [f64]) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if values.is_empty() {
                return f64::NAN;
            }
            values[((values.len() - 1) as f64 * q).round() as usize]
        };
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// Latency at a fixed offered load.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Offered load, records/s.
    pub offered_records_per_s: f64,
    /// Records acknowledged per second of the phase.
    pub achieved_records_per_s: f64,
    /// Records per request.
    pub batch: usize,
    /// Requests sent.
    pub requests: u64,
    /// Records written.
    pub records: u64,
    /// From when a request was due until every node showed its block.
    pub everywhere_ms: Percentiles,
    /// From when a request was due until its answer (flushed on the origin).
    pub local_ack_ms: Percentiles,
}

/// A fresh auditor catching up.
#[derive(Debug, Clone, Serialize)]
pub struct CatchUp {
    /// Blocks it fetched.
    pub blocks: u64,
    /// Entries it then held (counted by its verifier).
    pub records: u64,
    /// From its start until it held every chain's head.
    pub seconds: f64,
    /// Entries per second.
    pub records_per_s: f64,
}

/// A full verifier scan.
#[derive(Debug, Clone, Serialize)]
pub struct Verifier {
    /// Blocks checked.
    pub blocks: u64,
    /// Entries checked.
    pub entries: u64,
    /// Payloads re-hashed.
    pub payloads: u64,
    /// Duration of the scan (the node's own report).
    pub seconds: f64,
    /// Entries per second.
    pub entries_per_s: f64,
}

/// Repair of corrupted blocks.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    /// Consecutive blocks corrupted.
    pub blocks: u64,
    /// From "integrity violation detected" to "chain restored from peers" (the node's log).
    pub detected_to_restored_s: f64,
    /// From the start command to restored (includes start-up and the start-up scan).
    pub start_to_restored_s: f64,
}

/// One node's memory.
#[derive(Debug, Clone, Serialize)]
pub struct NodeMemory {
    /// Node name.
    pub name: String,
    /// provider or auditor.
    pub role: String,
    /// Peak resident set (VmHWM), MiB.
    pub peak_mib: f64,
    /// Resident set when read (VmRSS), MiB.
    pub current_mib: f64,
    /// Threads when read.
    pub threads: u64,
    /// Blocks in its out-of-order buffer when read (its `medchain_buffered_blocks` metric).
    pub buffered_blocks: u64,
    /// Heap allocated and not freed when read (`medchain_heap_allocated_bytes`), MiB.
    pub heap_allocated_mib: f64,
    /// Heap the allocator holds resident when read (`medchain_heap_resident_bytes`), MiB.
    pub heap_resident_mib: f64,
}

/// One figure against its goal and its bound.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// The measurement.
    pub measured: f64,
    /// Its unit.
    pub unit: String,
    /// The goal (issue 7).
    pub goal: f64,
    /// Whether higher is better.
    pub higher_is_better: bool,
    /// Whether the goal is met.
    pub met: bool,
    /// The bound the primitives imply, if one applies.
    pub bound: Option<f64>,
    /// measured / bound.
    pub ratio_to_bound: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    /// The machine.
    pub machine: Machine,
    /// The workload.
    pub workload: Workload,
    /// Primitive baselines.
    pub primitives: Primitives,
    /// The peer side by side, by batch size.
    pub peers: crate::peers::Peers,
    /// Sustained throughput.
    pub throughput: Throughput,
    /// Latency at a fixed load.
    pub latency: Latency,
    /// Catch-up of a fresh auditor.
    pub catch_up: CatchUp,
    /// Full verifier scan.
    pub verifier: Verifier,
    /// Repair.
    pub repair: Repair,
    /// Memory of every node after the fill.
    pub memory: Vec<NodeMemory>,
    /// Each figure against its goal and bound (filled by [`BenchResult::finish`]).
    pub rows: Vec<Row>,
}

impl BenchResult {
    /// Fills in what the phases' results imply together: the catch-up count (the auditor's
    /// verifier, right after it caught up, counts what it fetched) and the rows.
    pub fn finish(mut self) -> Self {
        let (throughput, latency, verifier, repair) = (
            &self.throughput,
            &self.latency,
            &self.verifier,
            &self.repair,
        );
        let catch_up = &mut self.catch_up;
        catch_up.records = verifier.entries;
        catch_up.records_per_s = verifier.entries as f64 / catch_up.seconds.max(1e-9);
        let catch_up = &self.catch_up;
        let p = &self.primitives;
        let per_block =
            |entries_per_block: f64| 1.0 / (p.ed25519_verifies_per_s * entries_per_block.max(1.0));
        let store_one = 1.0 / p.sled_inserts_per_s
            + 1.0 / p.blake3_records_per_s
            + per_block(throughput.entries_per_block);
        let nodes = (self.workload.providers + self.workload.auditors) as f64;
        let cores = self.machine.cores as f64;
        let scan_entries_per_block = verifier.entries as f64 / (verifier.blocks.max(1)) as f64;
        let verify_one = 1.0 / p.blake3_records_per_s + per_block(scan_entries_per_block);
        let peak = self.memory.iter().map(|m| m.peak_mib).fold(0.0, f64::max);
        let row = |figure: &str,
                   measured: f64,
                   unit: &str,
                   goal: f64,
                   higher: bool,
                   bound: Option<f64>| Row {
            figure: figure.into(),
            measured,
            unit: unit.into(),
            goal,
            higher_is_better: higher,
            met: if higher {
                measured >= goal
            } else {
                measured <= goal
            },
            bound,
            ratio_to_bound: bound.map(|b| measured / b),
        };
        let rows = vec![
            row(
                "records committed on every node",
                throughput.records_per_s,
                "records/s",
                20_000.0,
                true,
                Some(cores / (nodes * store_one)),
            ),
            row(
                &format!(
                    "p99 submit to visible everywhere at {:.0} records/s",
                    latency.offered_records_per_s
                ),
                latency.everywhere_ms.p99,
                "ms",
                250.0,
                false,
                None,
            ),
            row(
                &format!("catch-up of a fresh auditor ({} records)", catch_up.records),
                catch_up.records_per_s,
                "records/s",
                100_000.0,
                true,
                Some(1.0 / store_one),
            ),
            row(
                "full verifier scan",
                verifier.entries_per_s,
                "entries/s",
                500_000.0,
                true,
                Some(1.0 / verify_one),
            ),
            row(
                &format!("repair of {} blocks, detection to restored", repair.blocks),
                repair.detected_to_restored_s,
                "s",
                2.0,
                false,
                None,
            ),
            row(
                &format!("peak RSS per node ({} records)", catch_up.records),
                peak,
                "MiB",
                300.0,
                false,
                None,
            ),
            row(
                "single-node append vs hypercore (worst of batches 1/64/256)",
                crate::peers::worst_ratio(&self.peers),
                "x",
                10.0,
                true,
                None,
            ),
        ];
        self.rows = rows;
        self
    }
}

fn number(x: f64) -> String {
    if !x.is_finite() {
        "n/a".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The short table printed at the end of a run.
pub fn table(result: &BenchResult) -> String {
    let p = &result.primitives;
    let mut out = format!(
        "\nmachine: {} ({} cores, {:.0} GiB); {} providers + {} auditor(s); {} B records, {} per request, {} clients, API over {}{}\n",
        result.machine.cpu,
        result.machine.cores,
        result.machine.memory_gib,
        result.workload.providers,
        result.workload.auditors,
        result.workload.record_bytes,
        result.workload.batch,
        result.workload.concurrency,
        if result.workload.api_tls {
            "TLS"
        } else {
            "plain HTTP"
        },
        if result.workload.quick {
            " (quick)"
        } else {
            ""
        }
    );
    out += &format!(
        "primitives (one core): Ed25519 {} verifies/s; blake3 {} records/s ({} MiB/s); sled {} inserts/s\n\n",
        number(p.ed25519_verifies_per_s),
        number(p.blake3_records_per_s),
        number(p.blake3_mib_per_s),
        number(p.sled_inserts_per_s)
    );
    out += &format!(
        "{:<58} {:>12} {:<10} {:>9} {:>5} {:>12} {:>8}\n",
        "figure", "measured", "unit", "goal", "met", "bound", "/bound"
    );
    for r in &result.rows {
        out += &format!(
            "{:<58} {:>12} {:<10} {:>9} {:>5} {:>12} {:>8}\n",
            r.figure,
            number(r.measured),
            r.unit,
            number(r.goal),
            if r.met { "yes" } else { "no" },
            r.bound.map_or("-".into(), number),
            r.ratio_to_bound.map_or("-".into(), |x| format!("{x:.2}")),
        );
    }
    out += &format!("\n{}", crate::peers::lines(&result.peers));
    let l = &result.latency;
    out += &format!(
        "\nlatency at {} records/s offered ({} achieved): everywhere p50 {} / p95 {} / p99 {} / max {} ms; local ack p50 {} / p99 {} ms\n",
        number(l.offered_records_per_s),
        number(l.achieved_records_per_s),
        number(l.everywhere_ms.p50),
        number(l.everywhere_ms.p95),
        number(l.everywhere_ms.p99),
        number(l.everywhere_ms.max),
        number(l.local_ack_ms.p50),
        number(l.local_ack_ms.p99)
    );
    out
}
