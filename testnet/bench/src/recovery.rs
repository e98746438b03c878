//! The benchmark's phases on the nodes' stores, after the load: a fresh auditor's catch-up from
//! an empty store, a full verifier scan, and the detection and repair of tampered blocks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::Args;
use crate::load;
use crate::phases::{heads, say};
use crate::report::{CatchUp, Repair, Verifier};
use medchain_testnet::{Node, Testnet, log_lines, log_mark};

fn auditor(net: &Testnet) -> Result<&Node> {
    net.nodes
        .iter()
        .find(|n| n.role == "auditor")
        .context("no auditor")
}

/// A fresh auditor joins: the auditor's store is removed while it is stopped, and it is timed
/// from its start until it holds every chain up to the providers' heads.
pub fn catch_up(net: &Testnet) -> Result<CatchUp> {
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

pub fn verifier(net: &Testnet) -> Result<Verifier> {
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
pub fn repair(args: &Args, net: &Testnet, chains: &HashMap<String, String>) -> Result<Repair> {
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
