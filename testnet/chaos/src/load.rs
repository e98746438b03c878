//! Write load that keeps going through kills, damage, partitions and pauses, and remembers every
//! record a node acknowledged: its record ID, chain, height, index and block hash, exactly as the
//! answer gave them. Only acknowledged records count: a refusal (503 while writes are paused),
//! a timeout or a connection cut by a kill is not a loss, since the client was never told the
//! record was kept.
//!
//! Client threads spread requests over the provider targets that are enabled: single records
//! (`POST /v1/records`) and batches (`POST /v1/records/batch`), now and then a payload large
//! enough that sled keeps it in `blobs/` and peers fetch it by hash. A harness can disable a
//! target (waiting for the requests in flight to it to end) before it destroys that node's
//! store, so a record acknowledged by that node alone is never destroyed by the harness.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::rng::Rng;

/// One acknowledged record.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The node that acknowledged it.
    pub node: String,
    /// Its record ID.
    pub record: String,
    /// The chain (hex).
    pub chain: String,
    /// The block height.
    pub height: u64,
    /// Its index in the block.
    pub index: usize,
    /// The block hash the answer named.
    pub block: String,
}

pub use medchain_testnet::Target;

/// How the load behaves.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Concurrent clients.
    pub clients: usize,
    /// Largest batch (1 = single records only).
    pub max_batch: usize,
    /// Pause of each client between its requests.
    pub pause: Duration,
    /// One record in this many carries a 300 KiB payload (0 = never).
    pub large_every: u64,
    /// Records per second, all clients together (`None`: as fast as the nodes answer). A paced
    /// client that falls behind (a node down or paused) makes up at most a second of the lost
    /// time afterwards, never a long burst.
    pub rate: Option<u32>,
}

impl Shape {
    /// The shape in words, for a harness's report.
    pub fn describe(&self) -> String {
        let pace = self
            .rate
            .map_or("as fast as the nodes answer".to_owned(), |rate| {
                format!("paced at {rate} records/s in all")
            });
        let large = if self.large_every == 0 {
            String::new()
        } else {
            format!("; 1 in {} records 300 KiB", self.large_every)
        };
        format!(
            "{} clients, records and batches of up to {}, {pace}{large}",
            self.clients, self.max_batch
        )
    }
}

/// What the load saw, apart from the acknowledgements.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    /// Requests sent.
    pub requests: u64,
    /// Records acknowledged.
    pub acknowledged: u64,
    /// Requests answered 503 (writes paused, or the node not ready).
    pub refused_503: u64,
    /// Requests that got no answer (node down, killed, paused, cut off).
    pub unanswered: u64,
    /// Answers that were neither an acknowledgement nor a 503: each is a finding.
    pub unexpected: u64,
}

struct Shared {
    targets: Vec<Target>,
    enabled: Vec<AtomicBool>,
    in_flight: Vec<AtomicUsize>,
    stop: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    counts: Mutex<Counts>,
    unexpected: Mutex<Vec<String>>,
    sequence: AtomicU64,
    shape: Shape,
    rng: Rng,
    run_tag: u64,
}

/// The running load.
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// A synthetic FHIR observation, about `bytes` long (the patient identifier is made up).
fn record(run_tag: u64, seq: u64, bytes: usize) -> Value {
    let mut payload = json!({
        "resourceType": "Observation",
        "id": format!("chaos-{run_tag:x}-{seq}"),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": 60 + seq % 40, "unit": "beats/minute"},
    });
    if bytes > 0 {
        payload["note"] = json!([{ "text": "x".repeat(bytes) }]);
    }
    json!({
        "kind": "create",
        "patient": format!("MRN-CHAOS-{}", seq % 997),
        "actor": "chaos-writer",
        "payload": payload,
    })
}

impl Load {
    /// Starts `shape.clients` client threads writing to `targets`.
    pub fn start(targets: Vec<Target>, shape: Shape, seed: u64) -> Self {
        let shared = Arc::new(Shared {
            enabled: targets.iter().map(|_| AtomicBool::new(true)).collect(),
            in_flight: targets.iter().map(|_| AtomicUsize::new(0)).collect(),
            targets,
            stop: AtomicBool::new(false),
            acks: Mutex::default(),
            counts: Mutex::default(),
            unexpected: Mutex::default(),
            sequence: AtomicU64::new(0),
            shape,
            rng: Rng::new(seed),
            run_tag: seed,
        });
        let threads = (0..shape.clients.max(1))
            .map(|client| {
                let shared = shared.clone();
                std::thread::spawn(move || client_loop(&shared, client))
            })
            .collect();
        Self { shared, threads }
    }

    /// Stops sending to `name` and waits until no request to it is in flight: from then on no
    /// record of `name` is acknowledged until `enable`.
    pub fn disable(&self, name: &str) {
        for (i, t) in self.shared.targets.iter().enumerate() {
            if t.name == name {
                self.shared.enabled[i].store(false, Ordering::SeqCst);
                while self.shared.in_flight[i].load(Ordering::SeqCst) > 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    /// Sends to `name` again.
    pub fn enable(&self, name: &str) {
        for (i, t) in self.shared.targets.iter().enumerate() {
            if t.name == name {
                self.shared.enabled[i].store(true, Ordering::SeqCst);
            }
        }
    }

    /// Disables every target (the load idles until `resume`).
    pub fn pause(&self) {
        let names: Vec<String> = self.shared.targets.iter().map(|t| t.name.clone()).collect();
        for name in names {
            self.disable(&name);
        }
    }

    /// Enables every target.
    pub fn resume(&self) {
        for enabled in &self.shared.enabled {
            enabled.store(true, Ordering::SeqCst);
        }
    }

    /// Every record acknowledged so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.shared
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records acknowledged so far by each node.
    pub fn acked_by(&self) -> BTreeMap<String, u64> {
        let mut by = BTreeMap::new();
        for ack in self
            .shared
            .acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            *by.entry(ack.node.clone()).or_default() += 1;
        }
        by
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.shared
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The first few unexpected answers.
    pub fn unexpected(&self) -> Vec<String> {
        self.shared
            .unexpected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops every client and waits for them.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop();
    }
}

fn client_loop(shared: &Shared, client: usize) {
    // A paused (SIGSTOP) or cut-off node must not hold a client for long.
    let agent = medchain_testnet::agent(Duration::from_secs(8));
    let mut turn = client;
    // Each client sends its share of the rate: one record every `per_record`.
    let per_record =
        shared.shape.rate.filter(|r| *r > 0).map(|rate| {
            Duration::from_secs_f64(shared.shape.clients.max(1) as f64 / f64::from(rate))
        });
    let mut next = Instant::now();
    while !shared.stop.load(Ordering::SeqCst) {
        turn = turn.wrapping_add(1);
        let slot = turn % shared.targets.len().max(1);
        // Counted in flight before the enabled check, so `disable` never misses a request.
        shared.in_flight[slot].fetch_add(1, Ordering::SeqCst);
        let enabled = shared.enabled[slot].load(Ordering::SeqCst);
        let sent = if enabled {
            send(shared, &agent, slot)
        } else {
            0
        };
        shared.in_flight[slot].fetch_sub(1, Ordering::SeqCst);
        if !enabled {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        std::thread::sleep(shared.shape.pause);
        if let Some(per_record) = per_record {
            let now = Instant::now();
            next = (next + per_record * u32::try_from(sent).unwrap_or(u32::MAX))
                .max(now.checked_sub(Duration::from_secs(1)).unwrap_or(now));
            // In steps, so that `stop` is not held up by a long pause at a low rate.
            while next > Instant::now() && !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            }
        }
    }
}

/// Sends one request of 1 to `max_batch` records; answers how many records it carried.
fn send(shared: &Shared, agent: &ureq::Agent, slot: usize) -> u64 {
    let target = &shared.targets[slot];
    let batch = 1 + shared.rng.below(shared.shape.max_batch.max(1) as u64);
    let first = shared.sequence.fetch_add(batch, Ordering::SeqCst);
    let records: Vec<Value> = (first..first + batch)
        .map(|seq| {
            let large = shared.shape.large_every > 0 && seq % shared.shape.large_every == 7;
            record(shared.run_tag, seq, if large { 300 << 10 } else { 0 })
        })
        .collect();
    let (path, body) = if batch == 1 {
        ("/v1/records", records[0].clone())
    } else {
        ("/v1/records/batch", json!({ "records": records }))
    };
    count(shared, |c| c.requests += 1);
    answer(shared, target, agent, path, &body);
    batch
}

fn answer(shared: &Shared, target: &Target, agent: &ureq::Agent, path: &str, body: &Value) {
    let response = agent
        .post(format!("{}{path}", target.api))
        .header("Authorization", &format!("Bearer {}", target.token))
        .send_json(body);
    let mut response = match response {
        Ok(r) => r,
        Err(_) => return count(shared, |c| c.unanswered += 1),
    };
    let status = response.status().as_u16();
    let answer: Value = match response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_json()
    {
        Ok(v) => v,
        // The connection was cut while the answer was read: not acknowledged.
        Err(_) => return count(shared, |c| c.unanswered += 1),
    };
    match status {
        201 => acknowledge(shared, target, &answer),
        200 if answer.get("results").is_some() => {
            for result in answer["results"].as_array().into_iter().flatten() {
                match result["status"].as_u64() {
                    Some(201) => acknowledge(shared, target, result),
                    Some(503) => count(shared, |c| c.refused_503 += 1),
                    _ => unexpected(shared, target, &format!("batch item {result}")),
                }
            }
        }
        503 => count(shared, |c| c.refused_503 += 1),
        _ => unexpected(shared, target, &format!("{status} {answer}")),
    }
}

fn acknowledge(shared: &Shared, target: &Target, answer: &Value) {
    let entry = &answer["entry"];
    let ack = (|| {
        Some(Ack {
            node: target.name.clone(),
            record: answer["record"].as_str()?.to_owned(),
            chain: entry["chain"].as_str()?.to_owned(),
            height: entry["height"].as_u64()?,
            index: usize::try_from(entry["index"].as_u64()?).ok()?,
            block: answer["block"].as_str()?.to_owned(),
        })
    })();
    match ack {
        Some(ack) => {
            shared
                .acks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ack);
            count(shared, |c| c.acknowledged += 1);
        }
        None => unexpected(
            shared,
            target,
            &format!("an acknowledgement without a position: {answer}"),
        ),
    }
}

fn unexpected(shared: &Shared, target: &Target, what: &str) {
    count(shared, |c| c.unexpected += 1);
    let mut list = shared.unexpected.lock().unwrap_or_else(|p| p.into_inner());
    if list.len() < 10 {
        let short: String = what.chars().take(300).collect();
        list.push(format!("{}: {short}", target.name));
    }
}

fn count(shared: &Shared, change: impl FnOnce(&mut Counts)) {
    change(&mut shared.counts.lock().unwrap_or_else(|p| p.into_inner()));
}
