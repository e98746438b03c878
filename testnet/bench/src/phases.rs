//! The benchmark's phases against the running testnet, in order, each measured on its own: the
//! load phases (throughput, latency, memory) here, the store phases after them in `recovery`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::Args;
use crate::load::{self, Ack, Shape, Target, Until};
use crate::primitives;
use crate::recovery::{catch_up, repair, verifier};
use crate::report::{BenchResult, Latency, Machine, NodeMemory, Percentiles, Throughput, Workload};
use crate::watch::Watch;
use medchain_testnet::{Node, Testnet};

/// How long a phase may wait for replication before the run fails.
const REPLICATION_LIMIT: Duration = Duration::from_secs(300);

pub fn say(text: impl AsRef<str>) {
    println!("bench: {}", text.as_ref());
}

/// Runs every phase and gathers the result.
pub fn run(args: &Args) -> Result<BenchResult> {
    let net = Testnet::load(&args.testnet, &args.script, &args.medchain)?;
    net.require(1, 1)?;
    let providers: Vec<Target> = net.providers().map(Target::of).collect();
    let everyone: Vec<Target> = net.nodes.iter().map(Target::of).collect();
    let shape = Shape {
        record_bytes: args.record_bytes,
        batch: args.batch.clamp(1, load::MAX_BATCH as usize),
    };
    let workload = Workload {
        providers: providers.len(),
        auditors: net.nodes.len() - providers.len(),
        record_bytes: args.record_bytes,
        batch: shape.batch,
        concurrency: args.concurrency,
        quick: args.quick,
        api_tls: net.nodes.iter().all(|n| n.api.starts_with("https://")),
        key_backups: net.providers().all(|n| n.key_backups),
        poll_ms: args.poll_ms,
    };

    say("primitive baselines (Ed25519, blake3, sled), single-threaded");
    let record = load::payload(0, args.record_bytes).to_string().into_bytes();
    let scratch = args.testnet.join("bench-scratch");
    std::fs::create_dir_all(&scratch)?;
    let primitives = primitives::measure(&record, &scratch)?;
    say("the peer side by side: medchain's ledger and hypercore appending the same entries");
    let peer_run = Duration::from_secs(if args.quick { 1 } else { 4 });
    let peers = crate::peers::measure(&record, peer_run, &scratch)?;

    let watch = Watch::start(&everyone, Duration::from_millis(args.poll_ms.max(1)));
    let result = (|| {
        let (throughput, chains) = throughput(args, &net, &providers, shape, &watch)?;
        let latency = latency(args, &providers, &watch, throughput.records_per_s)?;
        let held = throughput.records + latency.records;
        fill(args, &providers, shape, &watch, held)?;
        let memory = memory(&net)?;
        let catch_up = catch_up(&net)?;
        let verifier = verifier(&net)?;
        let repair = repair(args, &net, &chains)?;
        Ok::<_, anyhow::Error>((throughput, latency, memory, catch_up, verifier, repair))
    })();
    watch.stop();
    let (throughput, latency, memory, catch_up, verifier, repair) = result?;
    Ok(BenchResult {
        machine: Machine::read(),
        workload,
        primitives,
        peers,
        throughput,
        latency,
        catch_up,
        verifier,
        repair,
        memory,
        rows: Vec::new(),
    }
    .finish())
}

/// The highest height each chain reached in `acks`.
fn final_heights(acks: &[Ack]) -> HashMap<String, u64> {
    let mut wanted: HashMap<String, u64> = HashMap::new();
    for ack in acks {
        let h = wanted.entry(ack.chain.clone()).or_default();
        *h = (*h).max(ack.height);
    }
    wanted
}

pub fn heads(net: &Testnet, node: &Node) -> Result<HashMap<String, u64>> {
    let chains = net.get_json(node, "/v1/chains")?;
    Ok(chains
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["chain"].as_str()?.to_owned(), c["height"].as_u64()?)))
        .collect())
}

fn fail_on_errors(what: &str, outcome: &load::Outcome) -> Result<()> {
    if outcome.errors > 0 {
        bail!(
            "{what}: {} records failed; first: {}",
            outcome.errors,
            outcome.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

fn throughput(
    args: &Args,
    net: &Testnet,
    providers: &[Target],
    shape: Shape,
    watch: &Watch,
) -> Result<(Throughput, HashMap<String, String>)> {
    let duration = args.throughput_time();
    say(format!(
        "throughput: {} clients, {} records per request, {} B records, {duration:?}",
        args.concurrency, shape.batch, shape.record_bytes
    ));
    let first = net.providers().next().context("no provider")?;
    let before = heads(net, first)?;
    let outcome = load::closed(providers, shape, args.concurrency, Until::Elapsed(duration));
    fail_on_errors("throughput", &outcome)?;
    let wanted = final_heights(&outcome.acks);
    let everywhere = watch
        .wait_everywhere(&wanted, REPLICATION_LIMIT)
        .map_err(anyhow::Error::msg)?;
    let records = outcome.records();
    let blocks: u64 = wanted
        .iter()
        .map(|(chain, h)| h - before.get(chain).copied().unwrap_or(0))
        .sum();
    let to_everywhere = everywhere.duration_since(outcome.started).as_secs_f64();
    let acked = outcome
        .finished
        .duration_since(outcome.started)
        .as_secs_f64();
    let result = Throughput {
        records,
        blocks,
        entries_per_block: records as f64 / blocks.max(1) as f64,
        seconds_to_everywhere: to_everywhere,
        records_per_s: records as f64 / to_everywhere.max(1e-9),
        acked_records_per_s: records as f64 / acked.max(1e-9),
    };
    say(format!(
        "  {records} records in {blocks} blocks; on every node after {to_everywhere:.2} s: {:.0} records/s (acknowledged at {:.0} records/s)",
        result.records_per_s, result.acked_records_per_s
    ));
    let chains = outcome
        .acks
        .iter()
        .map(|a| (a.target.clone(), a.chain.clone()))
        .collect();
    Ok((result, chains))
}

fn latency(args: &Args, providers: &[Target], watch: &Watch, throughput: f64) -> Result<Latency> {
    let rate = args
        .rate
        .unwrap_or((throughput / 2.0).min(10_000.0))
        .max(1.0);
    let duration = args.latency_time();
    let batch = args
        .latency_batch
        .unwrap_or(args.batch)
        .clamp(1, load::MAX_BATCH as usize);
    say(format!(
        "latency: {rate:.0} records/s offered in requests of {batch}, {duration:?}, open loop"
    ));
    let shape = Shape {
        record_bytes: args.record_bytes,
        batch,
    };
    let outcome = load::open(providers, shape, rate, duration, 256);
    fail_on_errors("latency", &outcome)?;
    watch
        .wait_everywhere(&final_heights(&outcome.acks), REPLICATION_LIMIT)
        .map_err(anyhow::Error::msg)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut everywhere = Vec::with_capacity(outcome.acks.len());
    let mut local = Vec::with_capacity(outcome.acks.len());
    for ack in &outcome.acks {
        let seen = watch
            .everywhere(&ack.chain, ack.height)
            .context("a write vanished after replicating")?;
        everywhere.push(ms(seen.saturating_duration_since(ack.due)));
        local.push(ms(ack.acked.saturating_duration_since(ack.due)));
    }
    let records = outcome.records();
    let achieved = records as f64 / duration.as_secs_f64();
    let result = Latency {
        offered_records_per_s: rate,
        achieved_records_per_s: achieved,
        batch,
        requests: outcome.acks.len() as u64,
        records,
        everywhere_ms: Percentiles::of(&mut everywhere),
        local_ack_ms: Percentiles::of(&mut local),
    };
    say(format!(
        "  submit to visible on every node: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms (local ack p99 {:.1} ms)",
        result.everywhere_ms.p50,
        result.everywhere_ms.p95,
        result.everywhere_ms.p99,
        result.local_ack_ms.p99
    ));
    Ok(result)
}

fn fill(args: &Args, providers: &[Target], shape: Shape, watch: &Watch, held: u64) -> Result<()> {
    let target = args.catch_up_records();
    if held >= target {
        return Ok(());
    }
    say(format!(
        "filling the network to {target} records (now {held})"
    ));
    let started = Instant::now();
    let outcome = load::closed(
        providers,
        shape,
        args.concurrency,
        Until::Records(target - held, Duration::from_secs(3600)),
    );
    fail_on_errors("fill", &outcome)?;
    watch
        .wait_everywhere(&final_heights(&outcome.acks), REPLICATION_LIMIT)
        .map_err(anyhow::Error::msg)?;
    say(format!(
        "  {} records in {:.1} s",
        outcome.records(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Peak and current resident memory of every running node, from /proc.
fn memory(net: &Testnet) -> Result<Vec<NodeMemory>> {
    let mut out = Vec::new();
    for node in &net.nodes {
        let pid = node
            .pid()
            .with_context(|| format!("{}: no PID recorded", node.name))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("{}: cannot read /proc/{pid}/status", node.name))?;
        let kib = |field: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        // What the node itself holds in memory for later: blocks waiting for earlier heights.
        let metrics = net.get(node, "/metrics")?.text();
        let gauge = |name: &str| -> u64 {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let buffered_blocks = gauge("medchain_buffered_blocks");
        let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
        out.push(NodeMemory {
            name: node.name.clone(),
            role: node.role.clone(),
            peak_mib: kib("VmHWM:") as f64 / 1024.0,
            current_mib: kib("VmRSS:") as f64 / 1024.0,
            threads: kib("Threads:"),
            buffered_blocks,
            heap_allocated_mib: mib(gauge("medchain_heap_allocated_bytes")),
            heap_resident_mib: mib(gauge("medchain_heap_resident_bytes")),
        });
    }
    for m in &out {
        say(format!(
            "  {}: peak RSS {:.0} MiB, now {:.0} MiB (heap: {:.0} MiB allocated, {:.0} MiB held by the allocator), {} threads, {} blocks buffered",
            m.name,
            m.peak_mib,
            m.current_mib,
            m.heap_allocated_mib,
            m.heap_resident_mib,
            m.threads,
            m.buffered_blocks
        ));
    }
    Ok(out)
}
