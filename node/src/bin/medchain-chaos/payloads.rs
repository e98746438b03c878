//! Whether the payloads of acknowledged records reached every node, not only their blocks.
//! Payloads over 64 KiB do not travel inline with a block: a node that takes the block fetches
//! them by hash afterwards (docs/operations.md, "On the network"). Until it has, the record's
//! content exists only where it was written; a store lost then loses it for good.
//!
//! The nodes' APIs show which payloads a node lacks only through the verifier
//! (`missing_payloads` of `POST /v1/verify`), and a verifier run also asks the node to fetch them.
//! So each check first gives the network its own time (a grace period), then asks once: what is
//! missing then is a finding (the node would not have fetched it on its own), and only after that
//! does the harness wait for the fetch that its question started.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::checks::heads;
use crate::cluster::Cluster;
use crate::load::Load;
use crate::outcome::Outcome;

/// How long after its block a large payload may take to reach a node: the next anti-entropy
/// round (every 5 s) asks every peer for what the relay of the block did not give.
pub const PAYLOAD_GRACE: Duration = Duration::from_secs(10);

/// Payloads each of `names` lacks (one verifier run each).
fn missing(cluster: &Cluster, names: &[String]) -> BTreeMap<String, usize> {
    let mut lacking = BTreeMap::new();
    for name in names {
        let Ok(node) = cluster.node(name) else {
            continue;
        };
        if let Ok(answer) = cluster.net.post_json(node, "/v1/verify", &Value::Null)
            && answer.status == 200
        {
            let count = answer.json()["missing_payloads"]
                .as_array()
                .map_or(0, Vec::len);
            if count > 0 {
                lacking.insert(name.clone(), count);
            }
        }
    }
    lacking
}

/// After `grace`, every one of `names` must hold every payload its blocks reference; a lack is
/// recorded in `outcome` as a failure, saying `when`. Then waits (at most 60 s) for the fetch
/// the check itself started. Answers whether nothing was missing at the check.
pub fn check(
    cluster: &Cluster,
    names: &[String],
    outcome: &mut Outcome,
    grace: Duration,
    when: &str,
) -> bool {
    std::thread::sleep(grace);
    let lacking = missing(cluster, names);
    if lacking.is_empty() {
        return true;
    }
    let total: usize = lacking.values().sum();
    let who: Vec<String> = lacking.iter().map(|(n, c)| format!("{n} {c}")).collect();
    outcome.failures.push(format!(
        "payloads not replicated: {} s after {when}, {total} payloads of blocks every node holds were missing ({}); only the author held them, and they were fetched only once the verifier was asked",
        grace.as_secs(),
        who.join(", ")
    ));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) && !missing(cluster, names).is_empty() {
        std::thread::sleep(Duration::from_secs(1));
    }
    false
}

/// Waits until every other running node holds `victim`'s chain up to the highest record
/// `victim` acknowledged and every payload of it, before the harness destroys `victim`'s store
/// (so the harness never destroys the only copy of anything).
pub fn wait_replicated(
    cluster: &Cluster,
    load: &Load,
    victim: &str,
    outcome: &mut Outcome,
) -> Result<()> {
    let Some(chain) = cluster.chains.get(victim) else {
        return Ok(());
    };
    let Some(top) = load
        .acks()
        .iter()
        .filter(|a| a.chain == *chain)
        .map(|a| a.height)
        .max()
    else {
        return Ok(());
    };
    let others: Vec<String> = cluster
        .names()
        .into_iter()
        .filter(|n| n != victim && cluster.running(n))
        .collect();
    crate::testnet::wait_for(
        &format!("{victim}'s chain on every other node"),
        Duration::from_secs(60),
        || {
            for other in &others {
                if heads(cluster, other)?
                    .get(chain)
                    .is_none_or(|(h, _)| *h < top)
                {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )
    .context("a provider's acknowledged records did not replicate")?;
    let when = format!("{victim}'s blocks reached every node");
    check(cluster, &others, outcome, PAYLOAD_GRACE, &when);
    if !missing(cluster, &others).is_empty() {
        bail!("{victim}'s payloads did not reach every node within 60 s: its store is kept");
    }
    Ok(())
}
