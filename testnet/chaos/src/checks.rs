//! Convergence and the accounting of acknowledged records, through the nodes' HTTP APIs only:
//! every running node holds the same head of every chain, at least as high as every
//! acknowledged record, and every acknowledged record is where its answer said (the block at its
//! chain and height has the hash the answer named, and the entry at its index is that record),
//! on every node; timed from a given moment. The store checks that follow are in `health`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::Cluster;
use crate::load::Ack;

/// An acknowledged record a node does not hold as acknowledged.
#[derive(Debug, Clone)]
pub struct Missing {
    /// The node.
    pub node: String,
    /// The record.
    pub ack: Ack,
    /// What the node holds there instead.
    pub why: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: record {} (acknowledged by {} at {}/{}/{} in block {}): {}",
            self.node,
            self.ack.record,
            self.ack.node,
            self.ack.chain,
            self.ack.height,
            self.ack.index,
            self.ack.block,
            self.why
        )
    }
}

/// A node's heads: chain to (height, hash).
pub type Heads = BTreeMap<String, (u64, String)>;

/// `GET /v1/chains` of `name`.
pub fn heads(cluster: &Cluster, name: &str) -> Result<Heads> {
    let node = cluster.node(name)?;
    let chains = cluster.net.get_json(node, "/v1/chains")?;
    Ok(chains
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["chain"].as_str()?.to_owned(),
                (c["height"].as_u64()?, c["hash"].as_str()?.to_owned()),
            ))
        })
        .collect())
}

/// The highest acknowledged height of each chain.
pub fn acked_heights(acks: &[Ack]) -> BTreeMap<String, u64> {
    let mut top = BTreeMap::new();
    for ack in acks {
        let h = top.entry(ack.chain.clone()).or_insert(0);
        *h = (*h).max(ack.height);
    }
    top
}

/// Every acknowledged record `name` does not hold as acknowledged.
pub fn account(cluster: &Cluster, name: &str, acks: &[Ack]) -> Result<Vec<Missing>> {
    let node = cluster.node(name)?;
    let mut wanted: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for ack in acks {
        wanted.entry(&ack.chain).or_default().insert(ack.height);
    }
    // chain -> height -> (block hash, record ID of each entry)
    let mut held: HashMap<&str, HashMap<u64, (String, Vec<String>)>> = HashMap::new();
    for (chain, heights) in &wanted {
        let (Some(&low), Some(&high)) = (heights.first(), heights.last()) else {
            continue;
        };
        let blocks = held.entry(chain).or_default();
        let mut from = low;
        while from <= high {
            let path = format!("/v1/chains/{chain}/blocks?from={from}&limit=256");
            let page = cluster.net.get_json(node, &path)?;
            let page = page
                .as_array()
                .context("a block listing that is not a list")?;
            let Some(last) = page.last().and_then(|b| b["height"].as_u64()) else {
                break;
            };
            for block in page {
                let Some(height) = block["height"].as_u64() else {
                    continue;
                };
                if heights.contains(&height) {
                    let records = block["entries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| e["record"].as_str().unwrap_or_default().to_owned())
                        .collect();
                    let hash = block["hash"].as_str().unwrap_or_default().to_owned();
                    blocks.insert(height, (hash, records));
                }
            }
            if last < from {
                bail!("{name} listed blocks below the height asked for");
            }
            from = last + 1;
        }
    }
    let mut missing = Vec::new();
    for ack in acks {
        let why = match held
            .get(ack.chain.as_str())
            .and_then(|b| b.get(&ack.height))
        {
            None => Some("no block at that height".to_owned()),
            Some((hash, _)) if *hash != ack.block => {
                Some(format!("another block at that height: {hash}"))
            }
            Some((_, records)) if records.get(ack.index) != Some(&ack.record) => {
                Some("the block does not hold the record at that index".to_owned())
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            missing.push(Missing {
                node: name.to_owned(),
                ack: ack.clone(),
                why,
            });
        }
    }
    Ok(missing)
}

/// How a wait for convergence ended.
#[derive(Debug)]
pub struct Convergence {
    /// Seconds from the start of the wait to convergence; `None` if it did not converge.
    pub seconds: Option<f64>,
    /// At the limit: acknowledged records some node still lacks (lost).
    pub missing: Vec<Missing>,
    /// At the limit: what differed between the nodes.
    pub detail: String,
}

/// Whether every running node shows the same heads, each at least at the acknowledged heights.
fn heads_agree(cluster: &Cluster, names: &[String], top: &BTreeMap<String, u64>) -> Result<()> {
    let mut first: Option<(String, Heads)> = None;
    for name in names {
        let h = heads(cluster, name)?;
        for (chain, height) in top {
            let held = h.get(chain).map(|(held, _)| *held);
            if held.is_none_or(|held| held < *height) {
                bail!(
                    "{name} holds chain {chain:.12} at {held:?}, below the acknowledged {height}"
                );
            }
        }
        match &first {
            None => first = Some((name.clone(), h)),
            Some((other, theirs)) if *theirs != h => {
                let differs: Vec<String> = theirs
                    .iter()
                    .filter(|(c, v)| h.get(*c) != Some(*v))
                    .map(|(c, v)| {
                        format!(
                            "{c:.12}: {other} {} / {name} {:?}",
                            v.0,
                            h.get(c).map(|x| x.0)
                        )
                    })
                    .collect();
                bail!("heads differ ({})", differs.join("; "));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Waits until every running node holds every acknowledged record and the same heads, for at
/// most `limit`; the time is counted from `since`.
pub fn converge(cluster: &Cluster, acks: &[Ack], since: Instant, limit: Duration) -> Convergence {
    let names: Vec<String> = cluster
        .names()
        .into_iter()
        .filter(|n| cluster.running(n))
        .collect();
    let top = acked_heights(acks);
    let mut detail = String::from("not checked");
    let mut last_account: Option<Instant> = None;
    loop {
        let seen = since.elapsed();
        match heads_agree(cluster, &names, &top) {
            Ok(()) if last_account.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) => {
                last_account = Some(Instant::now());
                let mut missing = Vec::new();
                let mut failed = None;
                for name in &names {
                    match account(cluster, name, acks) {
                        Ok(m) => missing.extend(m),
                        Err(e) => failed = Some(format!("{e:#}")),
                    }
                }
                match (failed, missing.first()) {
                    (None, None) => {
                        return Convergence {
                            seconds: Some(seen.as_secs_f64()),
                            missing,
                            detail: String::new(),
                        };
                    }
                    (Some(e), _) => detail = e,
                    (None, Some(m)) => {
                        detail =
                            format!("{} acknowledged records missing; first: {m}", missing.len())
                    }
                }
            }
            Ok(()) => {}
            Err(e) => detail = format!("{e:#}"),
        }
        if since.elapsed() > limit {
            // Whatever a node still lacks now is lost.
            let missing = names
                .iter()
                .filter_map(|n| account(cluster, n, acks).ok())
                .flatten()
                .collect();
            return Convergence {
                seconds: None,
                missing,
                detail,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until every running node holds each chain of `top` at least at its height; the
/// seconds from `since`, or `None` after `limit`.
pub fn wait_heights(
    cluster: &Cluster,
    top: &BTreeMap<String, u64>,
    since: Instant,
    limit: Duration,
) -> Option<f64> {
    let names: Vec<String> = cluster
        .names()
        .into_iter()
        .filter(|n| cluster.running(n))
        .collect();
    loop {
        let reached = names.iter().all(|name| {
            heads(cluster, name).is_ok_and(|held| {
                top.iter()
                    .all(|(chain, height)| held.get(chain).is_some_and(|(h, _)| h >= height))
            })
        });
        if reached {
            return Some(since.elapsed().as_secs_f64());
        }
        if since.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
