//! What the rogue saw and did, counted as it went, and the cheap randomness it draws from.

use super::*;

/// Cheap unpredictable bytes: blake3 of a per-run seed and a counter.
pub(crate) struct Noise {
    pub(crate) seed: u128,
    pub(crate) n: AtomicU64,
}

impl Noise {
    pub(crate) fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Noise {
            seed,
            n: AtomicU64::new(0),
        }
    }

    pub(crate) fn bytes(&self) -> [u8; 32] {
        let n = self.n.fetch_add(1, Ordering::Relaxed);
        let mut input = self.seed.to_le_bytes().to_vec();
        input.extend_from_slice(&n.to_le_bytes());
        *blake3::hash(&input).as_bytes()
    }

    pub(crate) fn u64(&self) -> u64 {
        let b = self.bytes();
        u64::from_le_bytes(b[..8].try_into().unwrap())
    }

    pub(crate) fn chain(&self) -> ChainId {
        ChainId(self.bytes())
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the rogue saw and did, counted as it went.
#[derive(Default)]
pub(crate) struct Stats {
    // Sync requests A sent the rogue, by kind and, for blocks, by whose chain.
    pub(crate) a_heads: AtomicU64,
    pub(crate) a_range_announced: AtomicU64,
    pub(crate) a_range_gossiped: AtomicU64,
    pub(crate) a_range_rogue_chain: AtomicU64,
    pub(crate) a_range_other: AtomicU64,
    pub(crate) a_payload: AtomicU64,
    pub(crate) a_evidence: AtomicU64,
    pub(crate) a_total: AtomicU64,
    /// When A sent each request, for a per-round view.
    pub(crate) a_times: Mutex<Vec<Instant>>,
    /// Made-up chains the rogue announced in heads answers, and those it gossiped blocks of.
    pub(crate) announced: Mutex<HashSet<ChainId>>,
    pub(crate) gossiped: Mutex<HashSet<ChainId>>,
    /// Distinct made-up chains A asked for.
    pub(crate) asked: Mutex<HashSet<ChainId>>,
    // The rogue's own range requests to A, by outcome.
    pub(crate) r_sent: AtomicU64,
    pub(crate) r_served: AtomicU64,
    pub(crate) r_served_empty: AtomicU64,
    pub(crate) r_served_bytes: AtomicU64,
    pub(crate) r_busy_slots: AtomicU64,
    pub(crate) r_busy_budget: AtomicU64,
    pub(crate) r_busy_other: AtomicU64,
    pub(crate) r_bad_request: AtomicU64,
    pub(crate) r_other_answer: AtomicU64,
    pub(crate) r_failed: AtomicU64,
    pub(crate) r_failures: Mutex<HashMap<String, u64>>,
    // Gossip the rogue published, by kind, and publish failures.
    pub(crate) g_ahead_own: AtomicU64,
    pub(crate) g_ahead_made_up: AtomicU64,
    pub(crate) g_ahead_fresh: AtomicU64,
    pub(crate) g_ahead_heavy: AtomicU64,
    pub(crate) g_bad_signature: AtomicU64,
    pub(crate) g_junk: AtomicU64,
    pub(crate) g_large_junk: AtomicU64,
    pub(crate) g_failed: AtomicU64,
    pub(crate) g_failures: Mutex<HashMap<String, u64>>,
    pub(crate) g_oversized: Mutex<Option<String>>,
}

pub(crate) fn n(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
