//! Watches when blocks become visible: one thread per node polls its `GET /v1/chains` every few
//! milliseconds and records, per chain, when each new head height was first seen. A write at
//! height h is visible on a node from the first poll that saw a height >= h; the poll period is
//! the resolution of every latency figure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::load::Target;

/// Per chain: (height, first seen) in increasing height.
type Seen = HashMap<String, Vec<(u64, Instant)>>;

/// The watcher of every node.
pub struct Watch {
    seen: Vec<Arc<Mutex<Seen>>>,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The poll period.
    pub period: Duration,
}

impl Watch {
    /// Starts polling every node in `nodes` every `period`.
    pub fn start(nodes: &[Target], period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen = Vec::new();
        let mut threads = Vec::new();
        for node in nodes {
            let table: Arc<Mutex<Seen>> = Arc::default();
            let (node, table_, stop_) = (node.clone(), table.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                poll(&node, &table_, &stop_, period)
            }));
            seen.push(table);
        }
        Self {
            seen,
            names: nodes.iter().map(|n| n.name.clone()).collect(),
            stop,
            threads,
            period,
        }
    }

    /// When `node` (by index) first showed `chain` at height >= `height`.
    pub fn first_seen(&self, node: usize, chain: &str, height: u64) -> Option<Instant> {
        let seen = self.seen[node].lock().unwrap_or_else(|p| p.into_inner());
        let heights = seen.get(chain)?;
        let at = heights.partition_point(|(h, _)| *h < height);
        heights.get(at).map(|(_, t)| *t)
    }

    /// When every node first showed `chain` at height >= `height` (None if one has not).
    pub fn everywhere(&self, chain: &str, height: u64) -> Option<Instant> {
        (0..self.seen.len())
            .map(|n| self.first_seen(n, chain, height))
            .collect::<Option<Vec<Instant>>>()?
            .into_iter()
            .max()
    }

    /// Waits until every node shows every (chain, height) in `wanted`, up to `limit`; answers
    /// when the last became visible, or the first (node, chain) still missing.
    pub fn wait_everywhere(
        &self,
        wanted: &HashMap<String, u64>,
        limit: Duration,
    ) -> Result<Instant, String> {
        let started = Instant::now();
        loop {
            let mut latest = None::<Instant>;
            let mut missing = None;
            for (chain, height) in wanted {
                match self.everywhere(chain, *height) {
                    Some(t) => latest = Some(latest.map_or(t, |l| l.max(t))),
                    None => {
                        let node = (0..self.seen.len())
                            .find(|n| self.first_seen(*n, chain, *height).is_none())
                            .map_or("?", |n| self.names[n].as_str());
                        missing = Some(format!(
                            "{node} lacks chain {}.. height {height}",
                            &chain[..8.min(chain.len())]
                        ));
                        break;
                    }
                }
            }
            match (missing, latest) {
                (None, Some(t)) => return Ok(t),
                (None, None) => return Ok(Instant::now()),
                (Some(m), _) if started.elapsed() > limit => {
                    return Err(format!("not replicated within {limit:?}: {m}"));
                }
                _ => std::thread::sleep(self.period),
            }
        }
    }

    /// Stops every poller.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn poll(node: &Target, table: &Mutex<Seen>, stop: &AtomicBool, period: Duration) {
    let agent = crate::load::agent(Duration::from_secs(10));
    while !stop.load(Ordering::Relaxed) {
        let next = Instant::now() + period;
        let answer = agent
            .get(format!("{}/v1/chains", node.api))
            .header("Authorization", &format!("Bearer {}", node.token))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok());
        let now = Instant::now();
        if let Some(Value::Array(chains)) = answer {
            let mut table = table.lock().unwrap_or_else(|p| p.into_inner());
            for chain in chains {
                let (Some(id), Some(height)) = (chain["chain"].as_str(), chain["height"].as_u64())
                else {
                    continue;
                };
                let heights = table.entry(id.to_owned()).or_default();
                if heights.last().is_none_or(|(h, _)| *h < height) {
                    heights.push((height, now));
                }
            }
        }
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}
