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

use crate::checks::heads;
use crate::cluster::Cluster;
use crate::health;
use crate::load::Load;
use crate::outcome::Outcome;

/// How long after its block a large payload may take to reach a node: the next anti-entropy
/// round (every 5 s) asks every peer for what the relay of the block did not give.
pub const PAYLOAD_GRACE: Duration = Duration::from_secs(10);

/// Payloads each of `names` lacks (one verifier run each). A node whose verifier cannot answer
/// (busy, cut off) is asked again for up to 30 s, then the question fails: an unanswered
/// question never counts as "nothing missing".
fn missing(cluster: &Cluster, names: &[String]) -> Result<BTreeMap<String, usize>> {
    let mut lacking = BTreeMap::new();
    for name in names {
        let started = Instant::now();
        let report = loop {
            match health::verify(cluster, name) {
                Ok(report) => break report,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    return Err(e.context(format!("cannot ask {name} which payloads it lacks")));
                }
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
        };
        let count = report["missing_payloads"]
            .as_array()
            .context("a verifier report without missing_payloads")?
            .len();
        if count > 0 {
            lacking.insert(name.clone(), count);
        }
    }
    Ok(lacking)
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
    let lacking = match missing(cluster, names) {
        Ok(lacking) if lacking.is_empty() => return true,
        Ok(lacking) => lacking,
        Err(e) => {
            outcome
                .failures
                .push(format!("payloads not checked {when}: {e:#}"));
            return false;
        }
    };
    let total: usize = lacking.values().sum();
    let who: Vec<String> = lacking.iter().map(|(n, c)| format!("{n} {c}")).collect();
    outcome.failures.push(format!(
        "payloads not replicated: {} s after {when}, {total} payloads of blocks every node holds were missing ({}); only the author held them, and they were fetched only once the verifier was asked",
        grace.as_secs(),
        who.join(", ")
    ));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60)
        && missing(cluster, names).map_or(true, |m| !m.is_empty())
    {
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
    medchain_testnet::wait_for(
        &format!("{victim}'s chain on every other node"),
        Duration::from_secs(60),
        || -> Result<bool> {
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
    if !missing(cluster, &others)?.is_empty() {
        bail!("{victim}'s payloads did not reach every node within 60 s: its store is kept");
    }
    Ok(())
}
