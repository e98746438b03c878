//! The benchmark's phases against the running testnet, in order, each measured on its own.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::Args;
use crate::load::{self, Ack, Shape, Target, Until};
use crate::primitives;
use crate::report::{
    BenchResult, CatchUp, Latency, Machine, NodeMemory, Percentiles, Repair, Throughput, Verifier,
    Workload,
};
use crate::testnet::{Node, Testnet, log_lines, log_mark};
use crate::watch::Watch;

/// How long a phase may wait for replication before the run fails.
const REPLICATION_LIMIT: Duration = Duration::from_secs(300);

fn say(text: impl AsRef<str>) {
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
        poll_ms: args.poll_ms,
    };

    say("primitive baselines (Ed25519, blake3, sled), single-threaded");
    let record = load::payload(0, args.record_bytes).to_string().into_bytes();
    let scratch = args.testnet.join("bench-scratch");
    std::fs::create_dir_all(&scratch)?;
    let primitives = primitives::measure(&record, &scratch)?;

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

fn heads(net: &Testnet, node: &Node) -> Result<HashMap<String, u64>> {
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

fn auditor(net: &Testnet) -> Result<&Node> {
    net.nodes
        .iter()
        .find(|n| n.role == "auditor")
        .context("no auditor")
}

/// A fresh auditor joins: the auditor's store is removed while it is stopped, and it is timed
/// from its start until it holds every chain up to the providers' heads.
fn catch_up(net: &Testnet) -> Result<CatchUp> {
    let auditor = auditor(net)?;
    let provider = net.providers().next().context("no provider")?;
    let wanted = heads(net, provider)?;
    say(format!(
        "catch-up: {} starts with an empty store",
        auditor.name
    ));
    net.script(&["stop", &auditor.name])?;
    let store = auditor.data_dir.join("store");
    std::fs::remove_dir_all(&store)
        .with_context(|| format!("cannot remove {}", store.display()))?;
    let started = Instant::now();
    net.script(&["start", &auditor.name])?;
    let limit = Duration::from_secs(1800);
    loop {
        let held = heads(net, auditor).unwrap_or_default();
        if wanted
            .iter()
            .all(|(chain, h)| held.get(chain).is_some_and(|g| g >= h))
        {
            break;
        }
        if started.elapsed() > limit {
            bail!("{} did not catch up within {limit:?}", auditor.name);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    // What it now holds, counted by its own verifier in the next phase; here by the heads.
    let blocks: u64 = wanted.values().map(|h| h + 1).sum();
    say(format!(
        "  caught up with {blocks} blocks in {seconds:.2} s"
    ));
    Ok(CatchUp {
        blocks,
        records: 0,
        seconds,
        records_per_s: 0.0,
    })
}

fn verifier(net: &Testnet) -> Result<Verifier> {
    let auditor = auditor(net)?;
    say(format!("verifier: full scan on {}", auditor.name));
    // A full scan of a large store takes longer than the testnet client's 60 s limit.
    let agent = load::agent(Duration::from_secs(1800));
    let mut answer = agent
        .post(format!("{}/v1/verify", auditor.api))
        .header("Authorization", &format!("Bearer {}", auditor.token()))
        .send_empty()
        .with_context(|| format!("POST /v1/verify on {}", auditor.name))?;
    let status = answer.status().as_u16();
    let report: Value = answer
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_json()
        .context("unreadable verifier report")?;
    if status != 200 {
        bail!("POST /v1/verify: {status} {report}");
    }
    let violations = report["violations"].as_array().map_or(0, Vec::len);
    if violations > 0 {
        bail!("the verifier found {violations} violations on a clean store: {report}");
    }
    let entries = report["entries"].as_u64().unwrap_or(0);
    let ms = report["finished_ms"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(report["started_ms"].as_u64().unwrap_or(0));
    let seconds = (ms as f64 / 1e3).max(1e-3);
    let result = Verifier {
        blocks: report["blocks"].as_u64().unwrap_or(0),
        entries,
        payloads: report["payloads"].as_u64().unwrap_or(0),
        seconds,
        entries_per_s: entries as f64 / seconds,
    };
    say(format!(
        "  {entries} entries in {} blocks in {seconds:.2} s: {:.0} entries/s",
        result.blocks, result.entries_per_s
    ));
    Ok(result)
}

/// Corrupts `args.corrupt_blocks` consecutive blocks of the first provider's chain (`chains`:
/// provider name to the chain it wrote) in the second node's store while it is stopped, starts it, and reads from its log when the damage
/// was detected and when the chain was restored from peers.
fn repair(args: &Args, net: &Testnet, chains: &HashMap<String, String>) -> Result<Repair> {
    let source = net.providers().next().context("no provider")?;
    let victim = net
        .nodes
        .iter()
        .find(|n| n.name != source.name)
        .context("the repair phase needs two nodes")?;
    let chain_id = chains
        .get(&source.name)
        .with_context(|| format!("{} wrote nothing", source.name))?
        .clone();
    let head = *heads(net, victim)?
        .get(&chain_id)
        .with_context(|| format!("{} does not hold {}'s chain", victim.name, source.name))?;
    let count = args.corrupt_blocks.min(head).max(1);
    let from = ((head + 1).saturating_sub(count) / 2).max(1);
    say(format!(
        "repair: {count} blocks of {}'s chain (heights {from}..{}) altered in {}'s store",
        source.name,
        from + count - 1,
        victim.name
    ));
    net.script(&["stop", &victim.name])?;
    let mark = log_mark(victim);
    let data_dir = victim.data_dir.to_str().context("data dir is not UTF-8")?;
    net.medchain(&[
        "maintenance",
        "tamper-block",
        "--data-dir",
        data_dir,
        "--chain",
        &chain_id,
        "--height",
        &from.to_string(),
        "--count",
        &count.to_string(),
    ])?;
    let started = Instant::now();
    net.script(&["start", &victim.name])?;
    let limit = Duration::from_secs(600);
    let (detected, restored) = loop {
        let detected = log_lines(victim, mark, "integrity violation detected")
            .into_iter()
            .find(|l| l["fields"]["chain"] == chain_id.as_str());
        let restored = log_lines(victim, mark, "chain restored from peers")
            .into_iter()
            .find(|l| l["fields"]["chain"] == chain_id.as_str());
        if let (Some(d), Some(r)) = (detected, restored) {
            break (d, r);
        }
        if started.elapsed() > limit {
            bail!("{} did not restore the chain within {limit:?}", victim.name);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let start_to_restored = started.elapsed().as_secs_f64();
    let detected_at = timestamp(&detected)?;
    let restored_at = timestamp(&restored)?;
    let seconds = (restored_at - detected_at).as_seconds_f64();
    let height = detected["fields"]["height"].as_u64().unwrap_or(0);
    if height != from {
        bail!("the violation was reported at height {height}, not {from}");
    }
    say(format!(
        "  detected at height {height}; restored {seconds:.2} s after detection ({start_to_restored:.1} s after the start command)"
    ));
    Ok(Repair {
        blocks: count,
        detected_to_restored_s: seconds,
        start_to_restored_s: start_to_restored,
    })
}

fn timestamp(line: &Value) -> Result<time::OffsetDateTime> {
    let text = line["timestamp"]
        .as_str()
        .context("a log line without a timestamp")?;
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("unreadable log timestamp {text}"))
}
