//! The load generator: FHIR-like JSON records written through the providers' HTTP APIs, either
//! as fast as `concurrency` clients can (closed loop: throughput) or at a fixed offered rate
//! (open loop: latency, timed from when each request was due, so a slow server cannot hide its
//! queueing by slowing the generator down).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub use medchain_testnet::Target;

/// What each request carries.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Payload size of one record, bytes (the JSON document as stored).
    pub record_bytes: usize,
    /// Records per request: 1 uses `POST /v1/records`, more uses `POST /v1/records/batch`.
    pub batch: usize,
}

/// One acknowledged request.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The provider that wrote it.
    pub target: String,
    /// The chain written (hex).
    pub chain: String,
    /// The highest block height holding one of its records.
    pub height: u64,
    /// Records written by it.
    pub records: u64,
    /// When it was due (open loop) or sent (closed loop).
    pub due: Instant,
    /// When its answer arrived (the records are flushed on the origin node).
    pub acked: Instant,
}

/// What a load run did.
#[derive(Debug)]
pub struct Outcome {
    /// Every acknowledged request.
    pub acks: Vec<Ack>,
    /// Requests or records that failed.
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
    /// When the load started.
    pub started: Instant,
    /// When the last answer arrived.
    pub finished: Instant,
}

impl Outcome {
    /// Records acknowledged.
    pub fn records(&self) -> u64 {
        self.acks.iter().map(|a| a.records).sum()
    }
}

/// When a closed-loop run stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this long.
    Elapsed(Duration),
    /// Once this many records are acknowledged (bounded by the duration as well).
    Records(u64, Duration),
}

/// The largest batch the API takes (`POST /v1/records/batch`).
pub const MAX_BATCH: u64 = 1024;

/// A record's JSON document, about `bytes` long once serialised.
pub fn payload(seq: u64, bytes: usize) -> Value {
    let mut document = json!({
        "resourceType": "Observation",
        "id": format!("bench-{seq}"),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/bench-{}", seq % 50_000)},
        "effectiveDateTime": "2026-11-25T08:00:00Z",
        "valueQuantity": {"value": 60 + seq % 40, "unit": "beats/minute"},
        "note": [{"text": ""}],
    });
    let used = document.to_string().len();
    document["note"][0]["text"] = Value::String("x".repeat(bytes.saturating_sub(used)));
    document
}

/// The request body for records `first..first + shape.batch`.
fn body(first: u64, shape: Shape) -> (String, Vec<u8>) {
    let record = |seq: u64| {
        json!({
            "kind": "create",
            // A synthetic identifier: it is pseudonymised on arrival like any other.
            "patient": format!("MRN-BENCH-{}", seq % 50_000),
            "actor": "bench-loader",
            "payload": payload(seq, shape.record_bytes),
        })
    };
    if shape.batch <= 1 {
        ("/v1/records".into(), record(first).to_string().into_bytes())
    } else {
        let records: Vec<Value> = (first..first + shape.batch as u64).map(record).collect();
        (
            "/v1/records/batch".into(),
            json!({ "records": records }).to_string().into_bytes(),
        )
    }
}

/// Sends one request; answers (chain, highest height, records written, records failed).
fn send(
    agent: &ureq::Agent,
    target: &Target,
    path: &str,
    body: &[u8],
) -> Result<(String, u64, u64, u64), String> {
    let mut response = agent
        .post(format!("{}{path}", target.api))
        .header("Authorization", &format!("Bearer {}", target.token))
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| format!("{}: {e}", target.name))?;
    let status = response.status().as_u16();
    let answer: Value = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_json()
        .map_err(|e| format!("{}: unreadable answer ({status}): {e}", target.name))?;
    if !(200..300).contains(&status) {
        return Err(format!("{}: {status} {answer}", target.name));
    }
    let written: Vec<&Value> = match answer.get("results") {
        Some(results) => results
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["status"] == 201)
            .collect(),
        None => vec![&answer],
    };
    let failed = answer["failed"].as_u64().unwrap_or(0);
    let chain = written
        .first()
        .and_then(|w| w["entry"]["chain"].as_str())
        .unwrap_or_default()
        .to_owned();
    let height = written
        .iter()
        .filter_map(|w| w["entry"]["height"].as_u64())
        .max()
        .ok_or_else(|| format!("{}: answer without an entry: {answer}", target.name))?;
    Ok((chain, height, written.len() as u64, failed))
}

/// An HTTP client of the testnet's APIs (trusting its API CA) that answers every status as a
/// response, giving up after `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    medchain_testnet::agent(timeout)
}

/// Shared by the workers of one run.
struct Run<'a> {
    targets: &'a [Target],
    shape: Shape,
    next: AtomicU64,
    acks: Mutex<Vec<Ack>>,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Run<'_> {
    /// Sends request number `request` to target number `slot` (modulo the targets).
    fn record(&self, slot: usize, request: u64, due: Instant) {
        let target = &self.targets[slot % self.targets.len()];
        // Requests are numbered once per process; a request's records are numbered from
        // request x the largest batch, so no two records of a run share a payload.
        let (path, body) = body(request * MAX_BATCH, self.shape);
        thread_local! { static AGENT: ureq::Agent = agent(Duration::from_secs(60)); }
        let result = AGENT.with(|agent| send(agent, target, &path, &body));
        match result {
            Ok((chain, height, records, failed)) => {
                let ack = Ack {
                    target: target.name.clone(),
                    chain,
                    height,
                    records,
                    due,
                    acked: Instant::now(),
                };
                self.acks
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(ack);
                if failed > 0 {
                    self.fail(failed, format!("{}: {failed} records refused", target.name));
                }
            }
            Err(e) => self.fail(self.shape.batch as u64, e),
        }
    }

    fn fail(&self, records: u64, message: String) {
        self.errors.fetch_add(records, Ordering::Relaxed);
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(message);
    }

    fn outcome(self, started: Instant) -> Outcome {
        let acks = self.acks.into_inner().unwrap_or_else(|p| p.into_inner());
        let finished = acks.iter().map(|a| a.acked).max().unwrap_or(started);
        Outcome {
            acks,
            errors: self.errors.into_inner(),
            first_error: self
                .first_error
                .into_inner()
                .unwrap_or_else(|p| p.into_inner()),
            started,
            finished,
        }
    }
}

/// Sequence numbers already handed out in this process (so every record's payload differs).
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Closed loop: `concurrency` clients, each sending its next request when the last is answered,
/// spread over `targets`, until `until`.
pub fn closed(targets: &[Target], shape: Shape, concurrency: usize, until: Until) -> Outcome {
    let base = SEQUENCE.load(Ordering::Relaxed);
    let run = Run {
        targets,
        shape,
        next: AtomicU64::new(base),
        acks: Mutex::default(),
        errors: AtomicU64::new(0),
        first_error: Mutex::default(),
    };
    let (deadline, want) = match until {
        Until::Elapsed(d) => (d, u64::MAX),
        Until::Records(n, d) => (d, n),
    };
    let started = Instant::now();
    let done = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for worker in 0..concurrency.max(1) {
            let (run, done) = (&run, &done);
            scope.spawn(move || {
                while started.elapsed() < deadline && done.load(Ordering::Relaxed) < want {
                    let request = run.next.fetch_add(1, Ordering::Relaxed);
                    run.record(worker, request, Instant::now());
                    done.fetch_add(shape.batch as u64, Ordering::Relaxed);
                    if run.errors.load(Ordering::Relaxed) > 0 {
                        break;
                    }
                }
            });
        }
    });
    SEQUENCE.store(run.next.load(Ordering::Relaxed), Ordering::Relaxed);
    run.outcome(started)
}

/// Open loop: requests due at a fixed rate (`records_per_s`, in requests of `shape.batch`) for
/// `duration`, spread over `targets`, with up to `workers` in flight.
pub fn open(
    targets: &[Target],
    shape: Shape,
    records_per_s: f64,
    duration: Duration,
    workers: usize,
) -> Outcome {
    let base = SEQUENCE.load(Ordering::Relaxed);
    let run = Run {
        targets,
        shape,
        next: AtomicU64::new(0),
        acks: Mutex::default(),
        errors: AtomicU64::new(0),
        first_error: Mutex::default(),
    };
    let interval = Duration::from_secs_f64(shape.batch as f64 / records_per_s.max(1.0));
    let requests = (duration.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
    let started = Instant::now() + Duration::from_millis(50);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let run = &run;
            scope.spawn(move || {
                loop {
                    let i = run.next.fetch_add(1, Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let due = started + interval.mul_f64(i as f64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    // Each request goes to the target of its number, so the load is spread
                    // evenly whatever worker sends it.
                    run.record(i as usize, base + i, due);
                }
            });
        }
    });
    SEQUENCE.store(
        base + run.next.load(Ordering::Relaxed).min(requests),
        Ordering::Relaxed,
    );
    run.outcome(started)
}
