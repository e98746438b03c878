//! The rogue member (issue 13, items 3, 4 and 7): a member with a valid provider certificate
//! issued by the consortium's CA (`medchain ca issue`), run by this test process itself with
//! `medchain-net`, attacks a real daemon (provider A) while an honest daemon (provider H) shares
//! records with it.
//!
//! For a bounded window (20 s; `MEDCHAIN_ROGUE_SECS` makes it longer for the chaos harness)
//! the rogue:
//!
//! - answers A's heads requests with 4,096 made-up chains (random IDs at large heights), and
//!   A's block requests with junk (blocks that do not verify, other chains' blocks, empty or
//!   wrong-kind answers);
//! - gossips blocks A cannot judge yet: validly signed blocks of its own chain ahead of a gap,
//!   unsigned blocks of made-up chains whose genesis never comes (some at new positions, some
//!   carrying 2 MiB of inline payloads); in the second half also badly signed blocks, junk,
//!   2 MiB of junk and a message over the gossip limit;
//! - in the second half, keeps 64 range requests in flight, on A's real chain (about 16 MiB
//!   answers) and on made-up chains, a few over the protocol's range limit. (64 requests in
//!   flight take A's 16 streams per connection with the rogue, which would hide what A itself
//!   sends the rogue: so the first half shows that.)
//!
//! Meanwhile records are written on H and on A, one at a time, each timed until the other node
//! serves it; A's VmRSS and metrics are sampled. A runs with its network layer's sync requests
//! logged at debug, so what it tried to send the rogue (and what failed on its own side) is
//! counted too. Everything is printed (`--nocapture`).
//!
//! `a_rogue_member_cannot_degrade_a_node` asserts: A exits 0 on SIGTERM and logs no panic; the
//! heads path fetches at most 8 made-up chains per heads answer; A's `/metrics` has no label for
//! a made-up chain and few series; A answers the flood `Busy` beyond two requests in progress
//! (answers still being written count) and serves no more bytes than its per-peer budget;
//! honest records cross both ways within 15 s; A buffers no more than the rogue's share and
//! stays under a memory ceiling; every sync request A sends the rogue, whatever made it send it
//! (heads answers, gossip ahead of a gap), is a few per round; and A's memory grows by no more
//! than its per-peer shares allow.
//!
//! Loopback only. The daemons are killed on drop (`common::Node`); the rogue's tasks end with
//! its runtime, dropped when the scenario ends, whatever happens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use medchain_net::{Acceptance, Client, Event, PeerId, Topic};
use medchain_protocol::identity::{Consortium, MemberKey, pem_to_der_cert};
use medchain_protocol::limits::MAX_INLINE_PAYLOAD_BYTES;
use medchain_protocol::message::{SyncError, SyncErrorCode, WireMessage};
use medchain_protocol::{
    Block, BlockDraft, BlockHash, BlockMessage, ChainHead, ChainId, Signature, SyncRequest,
    SyncResponse,
};

/// The flood's length unless `MEDCHAIN_ROGUE_SECS` says otherwise.
const DEFAULT_SECS: u64 = 20;
/// Made-up chains in each heads answer (the protocol's `MAX_HEADS`).
const MADE_UP_HEADS: usize = 4096;
/// Range requests the rogue keeps in flight.
const IN_FLIGHT: usize = 64;

/// Seconds between A's anti-entropy rounds (`daemon::network::ANTI_ENTROPY_SECS`).
const ROUND_SECS: u64 = 5;
/// Unknown chains A fetches per peer and round (`catch_up::MAX_NEW_CHAINS_PER_ROUND`).
const NEW_CHAINS_PER_ROUND: u64 = 8;
/// Gaps of one peer's gossip A fetches per 5 s (`fetching::MAX_GAP_FETCHES_PER_WINDOW`).
const GAP_FETCHES_PER_WINDOW: u64 = 8;
/// A's byte budget per peer (`serving::SERVE_BURST_BYTES`, `SERVE_BYTES_PER_SEC`).
const SERVE_BURST_BYTES: f64 = 512.0 * 1024.0 * 1024.0;
const SERVE_BYTES_PER_SEC: f64 = 128.0 * 1024.0 * 1024.0;
/// Blocks one sender may have waiting in A's out-of-order buffer
/// (`medchain_chain::buffer::MAX_BUFFERED_PER_ORIGIN`).
const BUFFERED_PER_ORIGIN: i64 = 1024;
/// Blocks of about 1 MiB (20 records of 48 KiB, inline payloads) written on A before the flood,
/// so that a range of A's chain is a large answer.
const PRELOAD_BLOCKS: usize = 16;
/// The longest an honest record may take to reach the other node during the flood: it goes
/// by gossip in well under a second at rest, and by anti-entropy (every 5 s) if gossip drops
/// it; three rounds leave slack for two busy cores.
const HONEST_BOUND: Duration = Duration::from_secs(15);
/// What A's resident memory may grow by during the flood, from A's shares for one peer: the
/// out-of-order buffer (32 MiB), two sync answers in progress (two 16 MiB answers, each also
/// encoded), gossip being judged (4 at once, 2 MiB each), with room for the allocator.
const RSS_GROWTH_BOUND_KIB: u64 = 192 * 1024;
/// A ceiling A's resident memory must stay under whatever happens (about 90 MiB at rest).
const RSS_CEILING_KIB: u64 = 1024 * 1024;
/// Metric series A may gain during the flood (the issue saw 37,032 from 105).
const SERIES_GROWTH_BOUND: usize = 100;

/// Inline payloads of 64 KiB in a heavy gossiped block: about 2 MiB, within the gossip limit.
const HEAVY_PAYLOADS: usize = 31;
/// A's log filter: info, and the network layer's sync requests at debug.
const A_LOG_FILTER: &str = "info,medchain_net::sync=debug,medchain::daemon::catch_up=debug";

fn window() -> Duration {
    let secs = std::env::var("MEDCHAIN_ROGUE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SECS);
    Duration::from_secs(secs.max(1))
}

// ---------------------------------------------------------------------------------------------
// HTTP on loopback, usable from any thread (common::Node::http needs the node itself)

fn http(api: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
    http_to(api, Duration::from_secs(30), method, path, token, body)
}

/// Writes one small record; its ID, or the refusal.
fn write(api: &str, token: &str, patient: &str, n: u64) -> Result<String, String> {
    let body = format!(
        r#"{{"kind":"create","patient":"{patient}","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = http(api, "POST", "/v1/records", token, Some(&body));
    if status != 201 {
        return Err(format!("{status} {text}"));
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    Ok(json["record"].as_str().unwrap().to_owned())
}

/// Waits (bounded: 60 s) until a node's writes are not paused (a new node's are until its
/// peers have answered that none of them holds its chain).
fn wait_writable(api: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = http(api, "GET", "/v1/status", token, None);
        if status == 200 && text.contains("\"writes_paused\":null") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "writes still paused after 60 s: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `api` serves `record` with its payload.
fn readable(api: &str, token: &str, record: &str) -> bool {
    let (status, text) = http(api, "GET", &format!("/v1/records/{record}"), token, None);
    status == 200 && text.contains("\"resourceType\":\"Observation\"")
}

/// The chains a node holds, as (org, chain, height).
fn chains(api: &str, token: &str) -> Vec<(String, ChainId, u64)> {
    let (status, text) = http(api, "GET", "/v1/chains", token, None);
    assert_eq!(status, 200, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["org"].as_str().unwrap_or_default().to_owned(),
                c["chain"].as_str().unwrap().parse().unwrap(),
                c["height"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn chain_of_org(api: &str, token: &str, org: &str) -> (ChainId, u64) {
    chains(api, token)
        .into_iter()
        .find(|(o, _, _)| o == org)
        .map(|(_, chain, height)| (chain, height))
        .unwrap_or_else(|| panic!("{org} holds no chain yet"))
}

/// A's metrics: the series (sample lines), `medchain_buffered_blocks`, and every chain label.
struct Scrape {
    series: usize,
    buffered: i64,
    heap_allocated: i64,
    chain_labels: HashSet<String>,
}

fn scrape(api: &str, token: &str) -> Scrape {
    let (status, text) = http(api, "GET", "/metrics", token, None);
    assert_eq!(status, 200, "{text}");
    let samples = || {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    };
    let gauge = |name: &str| {
        samples()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as i64)
    };
    let buffered = gauge("medchain_buffered_blocks");
    let heap_allocated = gauge("medchain_heap_allocated_bytes");
    let mut chain_labels = HashSet::new();
    for line in samples() {
        let mut rest = line;
        while let Some(at) = rest.find("chain=\"") {
            rest = &rest[at + 7..];
            if let Some(end) = rest.find('"') {
                chain_labels.insert(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    Scrape {
        series: samples().count(),
        buffered,
        heap_allocated,
        chain_labels,
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts the daemon like `common::start`, with debug logs of its sync requests (each one
/// that fails is logged with its peer, so what A tried to send the rogue can be counted).
fn start_verbose(setup: &Setup) -> Node {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BIN)
        .args(["--log-format", "json", "run", "--config", p(&setup.config)])
        .env("RUST_LOG", A_LOG_FILTER)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    // With MEDCHAIN_ROGUE_LOG set, A's log is also written as it comes (kept if the test fails).
    let mut tee = std::env::var("MEDCHAIN_ROGUE_LOG")
        .ok()
        .and_then(|path| std::fs::File::create(format!("{path}.live")).ok());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(file) = tee.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut node = Node {
        child,
        api: String::new(),
        p2p: String::new(),
        lines,
        seen: Vec::new(),
    };
    node.wait_ready();
    node
}

/// Sends SIGTERM, waits (bounded) for the exit status, and returns it with every log line the
/// node wrote (those already read and the rest up to its end).
fn stop(node: &mut Node) -> (i32, Vec<String>) {
    let pid = node.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "node did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut lines = std::mem::take(&mut node.seen);
    while let Ok(line) = node.lines.recv_timeout(Duration::from_secs(2)) {
        lines.push(line);
    }
    (code, lines)
}

/// From A's log: its sync requests to `peer` that failed, by error, and the requests of
/// `peer` its network layer answered `Busy` (two in progress already).
fn requests_in_log(lines: &[String], peer: &str) -> (HashMap<String, u64>, u64) {
    let mut failed: HashMap<String, u64> = HashMap::new();
    let mut busy = 0;
    for line in lines {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &json["fields"];
        if fields["peer"].as_str() != Some(peer) {
            continue;
        }
        match fields["message"].as_str() {
            Some("sync request failed") => {
                let error = fields["error"].as_str().unwrap_or_default().to_owned();
                *failed.entry(error).or_default() += 1;
            }
            Some("too many requests with the node; busy") => busy += 1,
            _ => {}
        }
    }
    (failed, busy)
}

// ---------------------------------------------------------------------------------------------
// The rogue

/// Cheap unpredictable bytes: blake3 of a per-run seed and a counter.
struct Noise {
    seed: u128,
    n: AtomicU64,
}

impl Noise {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Noise {
            seed,
            n: AtomicU64::new(0),
        }
    }

    fn bytes(&self) -> [u8; 32] {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let mut input = self.seed.to_le_bytes().to_vec();
        input.extend_from_slice(&n.to_le_bytes());
        *blake3::hash(&input).as_bytes()
    }

    fn u64(&self) -> u64 {
        let b = self.bytes();
        u64::from_le_bytes(b[..8].try_into().unwrap())
    }

    fn chain(&self) -> ChainId {
        ChainId(self.bytes())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the rogue saw and did, counted as it went.
#[derive(Default)]
struct Stats {
    // Sync requests A sent the rogue, by kind and, for blocks, by whose chain.
    a_heads: AtomicU64,
    a_range_announced: AtomicU64,
    a_range_gossiped: AtomicU64,
    a_range_rogue_chain: AtomicU64,
    a_range_other: AtomicU64,
    a_payload: AtomicU64,
    a_evidence: AtomicU64,
    a_total: AtomicU64,
    /// When A sent each request, for a per-round view.
    a_times: Mutex<Vec<Instant>>,
    /// Made-up chains the rogue announced in heads answers, and those it gossiped blocks of.
    announced: Mutex<HashSet<ChainId>>,
    gossiped: Mutex<HashSet<ChainId>>,
    /// Distinct made-up chains A asked for.
    asked: Mutex<HashSet<ChainId>>,
    // The rogue's own range requests to A, by outcome.
    r_sent: AtomicU64,
    r_served: AtomicU64,
    r_served_empty: AtomicU64,
    r_served_bytes: AtomicU64,
    r_busy_slots: AtomicU64,
    r_busy_budget: AtomicU64,
    r_busy_other: AtomicU64,
    r_bad_request: AtomicU64,
    r_other_answer: AtomicU64,
    r_failed: AtomicU64,
    r_failures: Mutex<HashMap<String, u64>>,
    // Gossip the rogue published, by kind, and publish failures.
    g_ahead_own: AtomicU64,
    g_ahead_made_up: AtomicU64,
    g_ahead_fresh: AtomicU64,
    g_ahead_heavy: AtomicU64,
    g_bad_signature: AtomicU64,
    g_junk: AtomicU64,
    g_large_junk: AtomicU64,
    g_failed: AtomicU64,
    g_failures: Mutex<HashMap<String, u64>>,
    g_oversized: Mutex<Option<String>>,
}

fn n(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The rogue member: its identity, its network client and its tasks.
struct Rogue {
    key: MemberKey,
    cert: Vec<u8>,
    chain: ChainId,
    client: Client,
    a: PeerId,
    a_admitted: Arc<AtomicBool>,
    stats: Arc<Stats>,
    noise: Arc<Noise>,
    stop: Arc<AtomicBool>,
    started: Instant,
}

impl Rogue {
    /// A block of `chain` at `height` sealed with the rogue's key (so it verifies only when
    /// `chain` is the rogue's own), carrying the certificate or not.
    fn block(&self, chain: ChainId, height: u64, carry: bool) -> Block {
        let prev = if height == 0 {
            BlockHash::ZERO
        } else {
            BlockHash(self.noise.bytes())
        };
        BlockDraft {
            chain,
            height,
            prev,
            time_ms: now_ms(),
            certificate: self.cert.clone(),
            carry_certificate: carry,
            witnesses: Vec::new(),
            entries: Vec::new(),
        }
        .seal(&self.key)
    }

    fn made_up_heads(&self) -> Vec<ChainHead> {
        let heads: Vec<ChainHead> = (0..MADE_UP_HEADS)
            .map(|_| ChainHead {
                chain: self.noise.chain(),
                height: 1_000_000 + self.noise.u64() % 1_000_000,
                hash: BlockHash(self.noise.bytes()),
            })
            .collect();
        self.stats
            .announced
            .lock()
            .unwrap()
            .extend(heads.iter().map(|h| h.chain));
        heads
    }

    /// Junk for a block request of `chain` from `from`, in turn: nothing, blocks that do not
    /// verify, another chain's blocks, an answer of the wrong kind.
    fn junk_blocks(&self, chain: ChainId, from: u64, limit: u32, range: bool) -> SyncResponse {
        let count = u64::from(limit.min(4));
        let blocks: Vec<Block> = match self.noise.u64() % 4 {
            0 => Vec::new(),
            // Sealed with our key on a chain that is not ours (or, on ours, without the
            // certificate and after a made-up predecessor): they do not verify.
            1 => (from..from.saturating_add(count))
                .map(|h| {
                    let mut block = self.block(chain, h, chain != self.chain);
                    block.signature = Signature([0x5a; 64]);
                    block
                })
                .collect(),
            2 => {
                let other = self.noise.chain();
                (0..count).map(|h| self.block(other, h, true)).collect()
            }
            _ => {
                return if range {
                    SyncResponse::Blocks(Vec::new())
                } else {
                    SyncResponse::NotFound
                };
            }
        };
        if range {
            SyncResponse::Range(
                blocks
                    .into_iter()
                    .map(|block| BlockMessage {
                        block,
                        payloads: Vec::new(),
                    })
                    .collect(),
            )
        } else {
            SyncResponse::Blocks(blocks)
        }
    }

    /// Counts a block request A sent by whose chain it is.
    fn count_block_request(&self, chain: ChainId) {
        let stats = &self.stats;
        if chain == self.chain {
            inc(&stats.a_range_rogue_chain);
        } else if stats.announced.lock().unwrap().contains(&chain) {
            inc(&stats.a_range_announced);
            stats.asked.lock().unwrap().insert(chain);
        } else if stats.gossiped.lock().unwrap().contains(&chain) {
            inc(&stats.a_range_gossiped);
            stats.asked.lock().unwrap().insert(chain);
        } else {
            inc(&stats.a_range_other);
        }
    }

    fn answer(&self, request: &SyncRequest) -> SyncResponse {
        let stats = &self.stats;
        inc(&stats.a_total);
        stats.a_times.lock().unwrap().push(Instant::now());
        match *request {
            SyncRequest::Heads => {
                inc(&stats.a_heads);
                SyncResponse::Heads(self.made_up_heads())
            }
            SyncRequest::Range { chain, from, limit } => {
                self.count_block_request(chain);
                self.junk_blocks(chain, from, limit, true)
            }
            SyncRequest::Blocks { chain, from, limit } => {
                self.count_block_request(chain);
                self.junk_blocks(chain, from, limit, false)
            }
            SyncRequest::Payload(_) => {
                inc(&stats.a_payload);
                SyncResponse::NotFound
            }
            SyncRequest::Evidence { .. } => {
                inc(&stats.a_evidence);
                SyncResponse::Evidence(Vec::new())
            }
            SyncRequest::Hello(_) => SyncResponse::Error(SyncError {
                code: SyncErrorCode::BadRequest,
                message: "no".into(),
            }),
        }
    }

    /// Handles the rogue's network events: answers A with junk, judges nothing it relays.
    async fn drive(self: Arc<Self>, mut events: tokio::sync::mpsc::Receiver<Event>) {
        while let Some(event) = events.recv().await {
            match event {
                Event::SyncRequest(inbound) => {
                    let response = self.answer(&inbound.request);
                    let _ = self.client.respond(inbound.reply, response).await;
                }
                Event::Gossip(message) => {
                    let _ = self
                        .client
                        .report(message.id, message.propagation_source, Acceptance::Ignore)
                        .await;
                }
                Event::PeerAdmitted { peer, .. } if peer == self.a => {
                    self.a_admitted.store(true, Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// One of the [`IN_FLIGHT`] requesters: ranges of A's chain (three in four) and of made-up
    /// chains, the protocol's largest, one in a hundred over its limit; as fast as answers come.
    async fn request_ranges(self: Arc<Self>, a_chain: ChainId, a_height: u64) {
        let stats = &self.stats;
        while !self.stop.load(Ordering::Relaxed) {
            let pick = self.noise.u64();
            let (chain, from) = if pick % 4 == 3 {
                (self.noise.chain(), self.noise.u64() % 1_000_000)
            } else {
                (a_chain, (pick >> 8) % (a_height + 1) / 4)
            };
            let limit = if pick % 100 == 7 { 100_000 } else { 256 };
            inc(&stats.r_sent);
            match self.client.range(self.a, chain, from, limit).await {
                Ok(SyncResponse::Range(messages)) => {
                    if messages.is_empty() {
                        inc(&stats.r_served_empty);
                    }
                    inc(&stats.r_served);
                    let bytes: usize = messages
                        .iter()
                        .map(|m| {
                            m.block.encode().len()
                                + m.payloads.iter().map(|p| p.len()).sum::<usize>()
                        })
                        .sum();
                    stats
                        .r_served_bytes
                        .fetch_add(bytes as u64, Ordering::Relaxed);
                }
                Ok(SyncResponse::Error(SyncError { code, message })) => match code {
                    SyncErrorCode::Busy if message.contains("in progress") => {
                        inc(&stats.r_busy_slots)
                    }
                    SyncErrorCode::Busy if message.contains("share") => inc(&stats.r_busy_budget),
                    SyncErrorCode::Busy => inc(&stats.r_busy_other),
                    SyncErrorCode::BadRequest => inc(&stats.r_bad_request),
                    _ => inc(&stats.r_other_answer),
                },
                Ok(_) => inc(&stats.r_other_answer),
                Err(e) => {
                    inc(&stats.r_failed);
                    let kind = e.to_string();
                    let kind = kind.split(':').take(2).collect::<Vec<_>>().join(":");
                    *stats.r_failures.lock().unwrap().entry(kind).or_default() += 1;
                    // A failure is usually immediate (a refused stream): do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// Gossip A cannot judge yet, every 10 ms: a block of the rogue's own chain and one of a
    /// made-up chain, both at positions that repeat (a position already buffered takes no more
    /// room, but each message is new); every 20 ms a made-up block at a new position; every
    /// 200 ms a new made-up block carrying 2 MiB of inline payloads (within the gossip limit).
    /// From `hostile_after` also, every second, a badly signed block, junk and 2 MiB of junk,
    /// and once a message over the gossip limit. (A rejected message lowers the rogue's gossip
    /// score until A stops listening to its gossip, so those come second.)
    async fn gossip(self: Arc<Self>, hostile_after: Instant) {
        let stats = &self.stats;
        let made_up: Vec<ChainId> = (0..64).map(|_| self.noise.chain()).collect();
        stats
            .gossiped
            .lock()
            .unwrap()
            .extend(made_up.iter().copied());
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut i: u64 = 0;
        let mut oversized_sent = false;
        while !self.stop.load(Ordering::Relaxed) {
            tick.tick().await;
            i += 1;
            let own = self.block(self.chain, 2 + i % 16, true);
            self.publish(wire(own, 0), &stats.g_ahead_own).await;
            let repeated = self.block(made_up[(i % 64) as usize], 1000 + i / 64 % 16, false);
            self.publish(wire(repeated, 0), &stats.g_ahead_made_up)
                .await;
            if i.is_multiple_of(2) {
                let chain = self.noise.chain();
                stats.gossiped.lock().unwrap().insert(chain);
                let fresh = self.block(chain, 1 + i % 1000, false);
                self.publish(wire(fresh, 0), &stats.g_ahead_fresh).await;
            }
            if i.is_multiple_of(20) {
                let chain = self.noise.chain();
                stats.gossiped.lock().unwrap().insert(chain);
                let heavy = self.block(chain, 1 + i % 1000, false);
                self.publish(wire(heavy, HEAVY_PAYLOADS), &stats.g_ahead_heavy)
                    .await;
            }
            if Instant::now() < hostile_after {
                continue;
            }
            if i.is_multiple_of(100) {
                let mut block = self.block(self.chain, 3, true);
                block.signature = Signature(self.noise.bytes().repeat(2).try_into().unwrap());
                self.publish(wire(block, 0), &stats.g_bad_signature).await;
                let junk = self.noise.bytes().repeat(100);
                self.publish(junk, &stats.g_junk).await;
                let large = self.noise.bytes().repeat((2 << 20) / 32);
                self.publish(large, &stats.g_large_junk).await;
            }
            if !oversized_sent {
                oversized_sent = true;
                let over = vec![0xab; medchain_protocol::limits::MAX_GOSSIP_BYTES + 8192];
                let outcome = match self.client.publish(Topic::Blocks, over).await {
                    Ok(_) => "published".to_owned(),
                    Err(e) => format!("refused by the rogue's own gossipsub: {e}"),
                };
                *stats.g_oversized.lock().unwrap() = Some(outcome);
            }
        }
    }

    async fn publish(&self, data: Vec<u8>, counter: &AtomicU64) {
        match self.client.publish(Topic::Blocks, data).await {
            Ok(_) => inc(counter),
            Err(e) => {
                inc(&self.stats.g_failed);
                *self
                    .stats
                    .g_failures
                    .lock()
                    .unwrap()
                    .entry(e.to_string())
                    .or_default() += 1;
            }
        }
    }
}

/// A block message with `payloads` inline payloads of 64 KiB of noise (referenced by no entry:
/// that is found out only once the block links to its predecessor).
fn wire(block: Block, payloads: usize) -> Vec<u8> {
    let noise = block.hash();
    BlockMessage {
        block,
        payloads: (0..payloads)
            .map(|_| {
                noise
                    .as_bytes()
                    .repeat(MAX_INLINE_PAYLOAD_BYTES / 32)
                    .into()
            })
            .collect(),
    }
    .to_wire()
}

/// Issues the rogue's provider certificate with `medchain ca issue` and starts its network
/// layer, dialling A. Rogue-friendly bounds on its own side: it never refuses A a request,
/// so every request A sends is counted.
fn start_rogue(
    runtime: &tokio::runtime::Runtime,
    ca: &Ca,
    network: &str,
    a_p2p: &str,
) -> Arc<Rogue> {
    let member = ca.tmp.path().join("rogue-member");
    medchain(&[
        "ca",
        "issue",
        "--ca",
        p(&ca.dir),
        "--role",
        "provider",
        "--org",
        "Rogue Clinic",
        "--out",
        p(&member),
    ]);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap();
    let key = MemberKey::from_pkcs8_pem(&read(&member.join("member.key"))).unwrap();
    let cert = pem_to_der_cert(&read(&member.join("member.pem"))).unwrap();
    let root = pem_to_der_cert(&read(&ca.dir.join("ca.pem"))).unwrap();
    let consortium = Arc::new(Consortium::new(root, Vec::new()).unwrap());
    let mut config = medchain_net::Config::new(network, &key, cert.clone(), consortium).unwrap();
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.bootstrap = vec![a_p2p.parse().unwrap()];
    config.bounds.inbound_requests_per_peer = 1 << 20;
    config.bounds.events = 1 << 16;
    config.bounds.streams_per_connection = 4 * IN_FLIGHT;
    config.bounds.outbound_requests = 4 * IN_FLIGHT;
    config.timeouts.request = Duration::from_secs(10);
    let a: PeerId = a_p2p.rsplit('/').next().unwrap().parse().unwrap();
    let (client, events, _task) = runtime
        .block_on(async { medchain_net::start(config) })
        .unwrap();
    let rogue = Arc::new(Rogue {
        chain: ChainId::from_public_key(&key.public_key()),
        key,
        cert,
        client,
        a,
        a_admitted: Arc::default(),
        stats: Arc::default(),
        noise: Arc::new(Noise::new()),
        stop: Arc::default(),
        started: Instant::now(),
    });
    runtime.spawn(rogue.clone().drive(events));
    rogue
}

// ---------------------------------------------------------------------------------------------
// The honest side, on threads of its own while the flood runs

/// How long records took to cross, each way, and A's write latencies.
#[derive(Default, Debug)]
struct Honest {
    h_to_a: Vec<Duration>,
    a_to_h: Vec<Duration>,
    a_writes: Vec<Duration>,
    lost: Vec<String>,
}

/// Writes on H and on A in turn until `until`, timing each record until the other node
/// serves it (each wait bounded by twice [`HONEST_BOUND`], so a failure is measured too).
fn honest_traffic(a: (String, String), h: (String, String), until: Instant) -> Honest {
    let mut honest = Honest::default();
    let mut i = 0u64;
    while Instant::now() < until {
        i += 1;
        let from_h = i % 2 == 1;
        let ((src, src_token), (dst, dst_token)) = if from_h { (&h, &a) } else { (&a, &h) };
        let began = Instant::now();
        let record = match write(src, src_token, "MRN-HONEST", i) {
            Ok(record) => record,
            Err(refusal) => {
                let node = if from_h { "H" } else { "A" };
                honest
                    .lost
                    .push(format!("write on {node} refused: {refusal}"));
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if !from_h {
            honest.a_writes.push(began.elapsed());
        }
        let written = Instant::now();
        loop {
            if readable(dst, dst_token, &record) {
                let took = written.elapsed();
                if from_h {
                    honest.h_to_a.push(took);
                } else {
                    honest.a_to_h.push(took);
                }
                break;
            }
            if written.elapsed() > 2 * HONEST_BOUND {
                honest.lost.push(format!(
                    "{record} ({})",
                    if from_h { "H to A" } else { "A to H" }
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    honest
}

/// A's resident memory and buffered blocks, sampled until `until`.
#[derive(Default, Debug)]
struct Samples {
    rss_kib: Vec<u64>,
    buffered: Vec<i64>,
    series: Vec<usize>,
    heap_mib: Vec<i64>,
}

fn sample(pid: u32, api: String, token: String, until: Instant) -> Samples {
    let mut samples = Samples::default();
    while Instant::now() < until {
        samples.rss_kib.push(vm_rss_kib(pid));
        let scraped = scrape(&api, &token);
        samples.buffered.push(scraped.buffered);
        samples.series.push(scraped.series);
        samples.heap_mib.push(scraped.heap_allocated >> 20);
        std::thread::sleep(Duration::from_millis(500));
    }
    samples
}

fn max_of(durations: &[Duration]) -> Duration {
    durations.iter().copied().max().unwrap_or_default()
}

fn median(durations: &[Duration]) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------

/// Everything the scenario measured.
struct Outcome {
    /// From the rogue's admission until the last of A's requests could arrive.
    counted: Duration,
    /// Anti-entropy rounds in `counted`: one every 5 s, one at admission, one in flight.
    rounds: u64,
    /// A's requests that reached the rogue, and those A tried (reached or failed on A's side).
    a_requests: u64,
    a_attempted: u64,
    a_heads: u64,
    a_range_announced: u64,
    a_range_gossiped: u64,
    a_range_rogue_chain: u64,
    /// Chain labels in A's metrics that are none of A's, H's or the rogue's chains.
    foreign_labels: Vec<String>,
    series_before: usize,
    series_peak: usize,
    /// The rogue's range requests: sent, served, answered Busy, and the bytes served.
    r_sent: u64,
    r_served: u64,
    r_busy: u64,
    served_bytes: u64,
    flood_secs: f64,
    honest: Honest,
    buffered_peak: i64,
    rss_before_kib: u64,
    rss_peak_kib: u64,
    a_exit: i32,
    a_panics: Vec<String>,
    h_exit: i32,
}

/// The scenario runs one at a time (it loads both cores).
static SCENARIO: Mutex<()> = Mutex::new(());

/// Sets up A and H, lets the rogue loose on A for the window, measures, stops everything.
fn scenario() -> Outcome {
    let _one_at_a_time = SCENARIO.lock().unwrap_or_else(|p| p.into_inner());
    let test_began = Instant::now();
    let window = window();
    let ca = Ca::new();
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let mut a = start_verbose(&a_setup);
    let h_setup = ca.node("h", "provider", "Hospital H", std::slice::from_ref(&a.p2p));
    let mut h = start(&h_setup);
    let (a_api, a_token) = (a.api.clone(), a_setup.token.clone());
    let (h_api, h_token) = (h.api.clone(), h_setup.token.clone());
    let a_pid = a.child.id();
    wait_writable(&a_api, &a_token);
    wait_writable(&h_api, &h_token);

    // A's chain: blocks of about 1 MiB each, so a range of it is a large answer.
    let blob = "x".repeat(48 << 10);
    for b in 0..PRELOAD_BLOCKS {
        let records: Vec<String> = (0..20)
            .map(|r| {
                format!(
                    r#"{{"kind":"create","patient":"MRN-{b}","payload":{{"resourceType":"Observation","n":{r},"blob":"{blob}"}},"actor":"dr-1"}}"#
                )
            })
            .collect();
        let body = format!(r#"{{"records":[{}]}}"#, records.join(","));
        let (status, text) = http(&a_api, "POST", "/v1/records/batch", &a_token, Some(&body));
        assert_eq!(status, 200, "{}", &text[..text.len().min(500)]);
        assert!(
            text.contains("\"failed\":0"),
            "{}",
            &text[..text.len().min(500)]
        );
    }
    let h_first = write(&h_api, &h_token, "MRN-H", 0).unwrap();
    let (a_chain, a_height) = chain_of_org(&a_api, &a_token, "Hospital A");
    let deadline = Instant::now() + Duration::from_secs(60);
    while chains(&h_api, &h_token)
        .iter()
        .all(|(_, chain, height)| *chain != a_chain || *height < a_height)
        || !readable(&a_api, &a_token, &h_first)
    {
        assert!(
            Instant::now() < deadline,
            "A and H did not replicate within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (h_chain, _) = chain_of_org(&a_api, &a_token, "Hospital H");
    let before = scrape(&a_api, &a_token);
    let rss_before = vm_rss_kib(a_pid);
    let setup_took = test_began.elapsed();

    // The rogue joins, with a certificate of the same CA.
    let config = std::fs::read_to_string(&a_setup.config).unwrap();
    let config: toml::Value = toml::from_str(&config).unwrap();
    let network = config["node"]["network"].as_str().unwrap().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rogue = start_rogue(&runtime, &ca, &network, &a.p2p);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rogue.a_admitted.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "A did not admit the rogue within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The flood. The rogue's answers (made-up heads, junk blocks) and its gossip of blocks A
    // cannot judge run for the whole window; the range flood and the gossip A rejects run in
    // its second half: 64 requests in flight take A's streams with the rogue (16 per
    // connection), so A's own requests to the rogue are counted in the first half mostly.
    let flood_began = Instant::now();
    let half = flood_began + window / 2;
    let until = flood_began + window;
    let mut tasks = vec![runtime.spawn(rogue.clone().gossip(half))];
    let sampler = {
        let (api, token) = (a_api.clone(), a_token.clone());
        std::thread::spawn(move || sample(a_pid, api, token, until))
    };
    let honest = {
        let a = (a_api.clone(), a_token.clone());
        let h = (h_api.clone(), h_token.clone());
        std::thread::spawn(move || honest_traffic(a, h, until))
    };
    std::thread::sleep(half.saturating_duration_since(Instant::now()));
    for _ in 0..IN_FLIGHT {
        tasks.push(runtime.spawn(rogue.clone().request_ranges(a_chain, a_height)));
    }
    let samples = sampler.join().unwrap();
    rogue.stop.store(true, Ordering::SeqCst);
    let flood_took = flood_began.elapsed();
    let honest = honest.join().unwrap();
    // The flood's requests in flight end with their answers (or the rogue's 10 s timeout).
    runtime.block_on(async {
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    });
    let counted_until = Instant::now();
    let after = scrape(&a_api, &a_token);
    let rss_after = vm_rss_kib(a_pid);
    let _ = runtime.block_on(rogue.client.shutdown());
    // Once the rogue is gone, what A held for it should go too.
    std::thread::sleep(Duration::from_secs(3));
    let heap_gone = scrape(&a_api, &a_token).heap_allocated >> 20;
    let rss_gone = vm_rss_kib(a_pid);

    // ----- the numbers
    let s = &rogue.stats;
    let counted = counted_until.duration_since(rogue.started);
    let rounds = counted.as_secs() / ROUND_SECS + 2;
    let a_requests = n(&s.a_total);
    let made_up_asked = s.asked.lock().unwrap().len();
    let (first_half, per_round) = {
        let times = s.a_times.lock().unwrap();
        let first_half = times.iter().filter(|t| **t < half).count() as u64;
        let buckets = counted_until.duration_since(flood_began).as_secs() / ROUND_SECS + 1;
        let mut per = vec![0u64; buckets as usize];
        for t in times.iter() {
            let i = t.saturating_duration_since(flood_began).as_secs() / ROUND_SECS;
            let last = per.len() - 1;
            per[(i as usize).min(last)] += 1;
        }
        (first_half, per)
    };
    let rss_peak = samples
        .rss_kib
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(rss_after);
    let buffered_peak = samples
        .buffered
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(after.buffered);
    let series_peak = samples
        .series
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(after.series);
    let served_bytes = n(&s.r_served_bytes);
    let flood_secs = (flood_took - window / 2).as_secs_f64();
    let served_mib_s = served_bytes as f64 / f64::from(1 << 20) / flood_secs;
    let busy = n(&s.r_busy_slots) + n(&s.r_busy_budget) + n(&s.r_busy_other);
    println!(
        "rogue: setup {setup_took:.1?}; window {flood_took:.1?} (range flood in the second half); A's requests counted over {counted:.1?} from admission ({rounds} anti-entropy rounds)"
    );
    println!(
        "rogue: A -> rogue sync requests arrived: {a_requests} ({first_half} in the first half): {} heads, {} ranges of announced made-up chains, {} of gossiped made-up chains, {} of the rogue's chain, {} other, {} payload, {} evidence; {made_up_asked} distinct made-up chains asked for; per {ROUND_SECS} s of the window: {per_round:?}",
        n(&s.a_heads),
        n(&s.a_range_announced),
        n(&s.a_range_gossiped),
        n(&s.a_range_rogue_chain),
        n(&s.a_range_other),
        n(&s.a_payload),
        n(&s.a_evidence),
    );
    println!(
        "rogue: rogue -> A range requests ({IN_FLIGHT} in flight for {flood_secs:.1} s): {} sent; {} served ({} empty, {:.1} MiB, {served_mib_s:.1} MiB/s); Busy {busy} ({} two-in-progress, {} byte budget, {} other); {} bad request (limit over 256); {} other answers; {} failed {:?}",
        n(&s.r_sent),
        n(&s.r_served),
        n(&s.r_served_empty),
        served_bytes as f64 / f64::from(1 << 20),
        n(&s.r_busy_slots),
        n(&s.r_busy_budget),
        n(&s.r_busy_other),
        n(&s.r_bad_request),
        n(&s.r_other_answer),
        n(&s.r_failed),
        s.r_failures.lock().unwrap(),
    );
    println!(
        "rogue: gossip published: {} own-chain ahead of a gap, {} made-up ahead of a gap ({} more at new positions, {} more with 2 MiB of payloads), {} badly signed, {} junk, {} 2 MiB junk; {} publish failures {:?}; oversized: {}",
        n(&s.g_ahead_own),
        n(&s.g_ahead_made_up),
        n(&s.g_ahead_fresh),
        n(&s.g_ahead_heavy),
        n(&s.g_bad_signature),
        n(&s.g_junk),
        n(&s.g_large_junk),
        n(&s.g_failed),
        s.g_failures.lock().unwrap(),
        s.g_oversized
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("not sent"),
    );
    let known: HashSet<String> = [a_chain, h_chain, rogue.chain]
        .iter()
        .map(ChainId::to_hex)
        .collect();
    let foreign_labels: Vec<String> = after.chain_labels.difference(&known).cloned().collect();
    println!(
        "rogue: A metric series {} before, {series_peak} peak, {} after; {} chain labels, {} of them none of A's, H's or the rogue's",
        before.series,
        after.series,
        after.chain_labels.len(),
        foreign_labels.len(),
    );
    println!(
        "rogue: A VmRSS {} MiB before, {} MiB peak, {} MiB after (every 0.5 s: {:?}); buffered blocks peak {buffered_peak}",
        rss_before / 1024,
        rss_peak / 1024,
        rss_after / 1024,
        samples.rss_kib.iter().map(|k| k / 1024).collect::<Vec<_>>(),
    );
    println!(
        "rogue: A heap allocated (jemalloc), MiB every 0.5 s: {:?}; 3 s after the rogue left: heap {heap_gone} MiB, VmRSS {} MiB",
        samples.heap_mib,
        rss_gone / 1024
    );
    println!(
        "rogue: honest H -> A {} records, median {:.2?}, max {:.2?}; A -> H {} records, median {:.2?}, max {:.2?}; A write latency median {:.2?}, max {:.2?}; not crossed {:?}",
        honest.h_to_a.len(),
        median(&honest.h_to_a),
        max_of(&honest.h_to_a),
        honest.a_to_h.len(),
        median(&honest.a_to_h),
        max_of(&honest.a_to_h),
        median(&honest.a_writes),
        max_of(&honest.a_writes),
        honest.lost,
    );

    // ----- A and H stop; A's log says what A tried to send the rogue, and whether it panicked
    let (a_exit, a_log) = stop(&mut a);
    let a_panics: Vec<String> = a_log
        .iter()
        .filter(|l| l.to_lowercase().contains("panic"))
        .cloned()
        .collect();
    if let Ok(path) = std::env::var("MEDCHAIN_ROGUE_LOG") {
        std::fs::write(&path, a_log.join("\n")).unwrap();
        println!("rogue: A's log written to {path}");
    }
    let (a_failed, a_busy) = requests_in_log(&a_log, &rogue.client.peer_id().to_string());
    let a_failed_total: u64 = a_failed.values().sum();
    let a_attempted = a_requests + a_failed_total;
    println!(
        "rogue: A's log: {a_failed_total} of A's sync requests to the rogue failed on A's side {a_failed:?}, so A tried {a_attempted}; A's network layer answered {a_busy} of the rogue's requests Busy (two in progress)"
    );
    let (h_exit, _) = stop(&mut h);
    drop(runtime);
    println!(
        "rogue: A exit status {a_exit}, {} log lines, {} mention a panic; H exit status {h_exit}; scenario ran {:.1?}",
        a_log.len(),
        a_panics.len(),
        test_began.elapsed()
    );
    Outcome {
        counted,
        rounds,
        a_requests,
        a_attempted,
        a_heads: n(&s.a_heads),
        a_range_announced: n(&s.a_range_announced),
        a_range_gossiped: n(&s.a_range_gossiped),
        a_range_rogue_chain: n(&s.a_range_rogue_chain),
        foreign_labels,
        series_before: before.series,
        series_peak,
        r_sent: n(&s.r_sent),
        r_served: n(&s.r_served),
        r_busy: busy,
        served_bytes,
        flood_secs,
        honest,
        buffered_peak,
        rss_before_kib: rss_before,
        rss_peak_kib: rss_peak,
        a_exit,
        a_panics,
        h_exit,
    }
}

/// The bounds that hold: A stays up and well; the heads path's quota; metrics; serving
/// shares; honest records cross; buffered blocks and a ceiling on memory.
fn assert_bounds_that_hold(o: &Outcome) {
    assert_eq!(o.a_exit, 0, "A did not exit cleanly on SIGTERM");
    assert!(o.a_panics.is_empty(), "A logged panics: {:#?}", o.a_panics);
    assert_eq!(o.h_exit, 0, "H did not exit cleanly on SIGTERM");

    // The heads path: a heads request per round, at most 8 of the 4,096 made-up chains fetched
    // per heads answer (each once).
    assert!(
        o.a_heads <= o.rounds,
        "{} heads requests in {} rounds",
        o.a_heads,
        o.rounds
    );
    let announced_bound = NEW_CHAINS_PER_ROUND * o.a_heads.max(1);
    assert!(
        o.a_range_announced <= announced_bound,
        "A asked the rogue for {} ranges of made-up chains announced in {} heads answers (bound {announced_bound})",
        o.a_range_announced,
        o.a_heads
    );

    // Metrics: no label from a peer's answer, few series.
    assert!(
        o.foreign_labels.is_empty(),
        "A's metrics label made-up chains: {:?}",
        o.foreign_labels
    );
    assert!(
        o.series_peak <= o.series_before + SERIES_GROWTH_BOUND,
        "A's metric series grew from {} to {}",
        o.series_before,
        o.series_peak
    );

    // Serving: Busy beyond two requests in progress, and never more bytes than the budget.
    assert!(o.r_busy > 0, "A never answered the rogue's flood Busy");
    assert!(
        o.r_served < o.r_sent / 2,
        "A served {} of the rogue's {} requests: more than its share",
        o.r_served,
        o.r_sent
    );
    let budget = SERVE_BURST_BYTES + SERVE_BYTES_PER_SEC * o.flood_secs + 64.0 * 1048576.0;
    assert!(
        (o.served_bytes as f64) <= budget,
        "A served the rogue {} bytes, over its budget of {budget}",
        o.served_bytes
    );

    // Honest peers are still served, both ways.
    let honest = &o.honest;
    assert!(
        honest.lost.is_empty(),
        "records did not cross: {:?}",
        honest.lost
    );
    assert!(!honest.h_to_a.is_empty() && !honest.a_to_h.is_empty());
    assert!(
        max_of(&honest.h_to_a) <= HONEST_BOUND && max_of(&honest.a_to_h) <= HONEST_BOUND,
        "honest records took up to {:?} (H to A) and {:?} (A to H); bound {HONEST_BOUND:?}",
        max_of(&honest.h_to_a),
        max_of(&honest.a_to_h)
    );

    // Memory: the rogue's share of the out-of-order buffer, and a ceiling.
    assert!(
        o.buffered_peak <= BUFFERED_PER_ORIGIN,
        "A buffered {} blocks, over the rogue's share of {BUFFERED_PER_ORIGIN}",
        o.buffered_peak
    );
    assert!(
        o.rss_peak_kib <= RSS_CEILING_KIB,
        "A's VmRSS reached {} MiB (ceiling {} MiB)",
        o.rss_peak_kib / 1024,
        RSS_CEILING_KIB / 1024
    );
}

/// The bounds on what the rogue can make A send it and hold for it.
fn assert_sent_and_held_bounds(o: &Outcome) {
    // Every sync request A sends the rogue, whatever made A send it: a few per round (heads,
    // made-up chains of the heads answer, gaps of its gossip, a few more).
    let total_bound = o.rounds * (1 + NEW_CHAINS_PER_ROUND + GAP_FETCHES_PER_WINDOW + 4);
    assert!(
        o.a_attempted <= total_bound,
        "A sent (or tried to send) the rogue {} sync requests in {:.1?} ({} anti-entropy rounds; bound {total_bound}); of the {} that arrived, {} chased made-up chains of the rogue's gossip and {} the rogue's own chain",
        o.a_attempted,
        o.counted,
        o.rounds,
        o.a_requests,
        o.a_range_gossiped,
        o.a_range_rogue_chain,
    );
    // A's memory grows by no more than its shares for one peer allow.
    assert!(
        o.rss_peak_kib <= o.rss_before_kib + RSS_GROWTH_BOUND_KIB,
        "A's VmRSS grew from {} MiB to {} MiB (bound: {} MiB more)",
        o.rss_before_kib / 1024,
        o.rss_peak_kib / 1024,
        RSS_GROWTH_BOUND_KIB / 1024
    );
}

#[test]
fn a_rogue_member_cannot_degrade_a_node() {
    let outcome = scenario();
    assert_bounds_that_hold(&outcome);
    assert_sent_and_held_bounds(&outcome);
}
