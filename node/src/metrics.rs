//! Prometheus metrics, served as text at `/metrics`.
//!
//! One registry for the node; libp2p's own metrics (swarm, gossipsub, identify, ping) join it
//! under `medchain_libp2p_`.
//! Chain heights are read from the store at scrape time, so they can never drift from it.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern (never the concrete path: it may hold a patient identifier).
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// Labels by route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern.
    pub route: String,
}

/// Labels by verifier finding.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The violation kind.
    pub kind: String,
}

/// Labels by refusal reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `Rejection::reason()` of the chain crate.
    pub reason: String,
}

/// Labels by certificate.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    /// `member`, `ca` or `api_tls` (a fixed set).
    pub cert: &'static str,
}

/// Labels by chain.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChainLabels {
    /// The chain ID.
    pub chain: String,
}

/// The node's metrics.
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// API requests by route, method and status.
    pub api_requests: Family<RequestLabels, Counter>,
    /// API latency by route, seconds.
    pub api_latency: Family<RouteLabels, Histogram>,
    /// Verifier scans run.
    pub verifier_runs: Counter,
    /// Violations found, by kind.
    pub violations: Family<KindLabels, Counter>,
    /// Quarantine events started.
    pub quarantines: Counter,
    /// Quarantine events completed: the range came back from peers and verified.
    pub repairs: Counter,
    /// Height of each chain held.
    pub chain_height: Family<ChainLabels, Gauge>,
    /// Blocks accepted (gossip and sync).
    pub blocks_accepted: Counter,
    /// Blocks refused, by reason.
    pub blocks_rejected: Family<ReasonLabels, Counter>,
    /// How far behind the best peer each chain was at the last anti-entropy round, in blocks.
    pub chain_lag: Family<ChainLabels, Gauge>,
    /// Peers admitted now.
    pub peers: Gauge,
    /// 1 while the last integrity scan could not complete (no record is served), else 0.
    pub store_unverified: Gauge,
    /// Payloads the verifier found damaged or missing, waiting to be fetched by hash.
    pub payloads_wanted: Gauge,
    /// Data keys a grant opens to this node that it has asked, or will ask, their owners for.
    pub keys_wanted: Gauge,
    /// 1 while writes are paused (this node's head is not confirmed by a peer), else 0.
    pub writes_paused: Gauge,
    /// Blocks waiting in the out-of-order buffer for earlier heights.
    pub buffered_blocks: Gauge,
    /// Bytes the process has allocated and not freed (jemalloc's `stats.allocated`).
    pub heap_allocated: Gauge,
    /// Bytes of memory the allocator holds resident (`stats.resident`): allocated, plus freed
    /// pages not yet returned, plus its own metadata.
    pub heap_resident: Gauge,
    /// Seconds until each certificate this node depends on expires (negative once expired).
    pub certificate_expiry: Family<CertLabels, Gauge>,
    /// Seconds until the revocation list in force says the next one is due (negative past it).
    pub crl_next_update: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("medchain");
        let api_requests = Family::<RequestLabels, Counter>::default();
        let api_latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let verifier_runs = Counter::default();
        let violations = Family::<KindLabels, Counter>::default();
        let quarantines = Counter::default();
        let repairs = Counter::default();
        let chain_height = Family::<ChainLabels, Gauge>::default();
        let blocks_accepted = Counter::default();
        let blocks_rejected = Family::<ReasonLabels, Counter>::default();
        let chain_lag = Family::<ChainLabels, Gauge>::default();
        let peers = Gauge::default();
        let buffered_blocks = Gauge::default();
        let writes_paused = Gauge::default();
        let store_unverified = Gauge::default();
        let payloads_wanted = Gauge::default();
        let keys_wanted = Gauge::default();
        registry.register(
            "keys_wanted",
            "Data keys a grant opens to this node, waiting to be released by their owners",
            keys_wanted.clone(),
        );
        registry.register(
            "payloads_wanted",
            "Payloads found damaged or missing, waiting to be fetched by hash from peers",
            payloads_wanted.clone(),
        );
        registry.register(
            "store_unverified",
            "1 while the last integrity scan could not complete: no record is served until one does",
            store_unverified.clone(),
        );
        registry.register(
            "writes_paused",
            "1 while writes are paused until a peer that holds this node's chain confirms its head",
            writes_paused.clone(),
        );
        let certificate_expiry = Family::<CertLabels, Gauge>::default();
        let crl_next_update = Gauge::default();
        registry.register(
            "certificate_expiry_seconds",
            "Seconds until each certificate the node depends on expires (cert: member, ca, api_tls)",
            certificate_expiry.clone(),
        );
        registry.register(
            "crl_next_update_seconds",
            "Seconds until the revocation list in force says the next one is due",
            crl_next_update.clone(),
        );
        let heap_allocated = Gauge::default();
        let heap_resident = Gauge::default();
        registry.register(
            "heap_allocated_bytes",
            "Bytes allocated and not freed (jemalloc stats.allocated, at the last scrape)",
            heap_allocated.clone(),
        );
        registry.register(
            "heap_resident_bytes",
            "Bytes the allocator holds resident (jemalloc stats.resident, at the last scrape)",
            heap_resident.clone(),
        );
        registry.register(
            "buffered_blocks",
            "Blocks waiting in the out-of-order buffer for earlier heights",
            buffered_blocks.clone(),
        );
        registry.register(
            "api_requests",
            "HTTP API requests by route, method and status",
            api_requests.clone(),
        );
        registry.register(
            "api_request_seconds",
            "HTTP API latency by route",
            api_latency.clone(),
        );
        registry.register(
            "verifier_runs",
            "Full verifier scans run",
            verifier_runs.clone(),
        );
        registry.register(
            "verifier_violations",
            "Integrity violations found, by kind",
            violations.clone(),
        );
        registry.register(
            "quarantines",
            "Quarantine events started (blocks moved aside for repair)",
            quarantines.clone(),
        );
        registry.register(
            "chain_height",
            "Height of each chain held",
            chain_height.clone(),
        );
        registry.register(
            "blocks_accepted",
            "Blocks accepted from gossip and sync",
            blocks_accepted.clone(),
        );
        registry.register(
            "blocks_rejected",
            "Blocks refused, by reason",
            blocks_rejected.clone(),
        );
        registry.register(
            "chain_lag_blocks",
            "Blocks each chain was behind the best peer at the last anti-entropy round",
            chain_lag.clone(),
        );
        registry.register("peers", "Peers admitted", peers.clone());
        registry.register(
            "repairs",
            "Quarantined ranges restored from peers",
            repairs.clone(),
        );
        Self {
            registry: Arc::new(Mutex::new(registry)),
            api_requests,
            api_latency,
            verifier_runs,
            violations,
            quarantines,
            repairs,
            chain_height,
            blocks_accepted,
            blocks_rejected,
            chain_lag,
            peers,
            buffered_blocks,
            writes_paused,
            store_unverified,
            payloads_wanted,
            keys_wanted,
            heap_allocated,
            certificate_expiry,
            crl_next_update,
            heap_resident,
        }
    }

    /// The registry, for the network layer to add libp2p's own metrics to.
    pub fn shared_registry(&self) -> Arc<Mutex<Registry>> {
        self.registry.clone()
    }

    /// Reads the allocator's statistics into the heap gauges (they are not kept current by
    /// themselves: jemalloc refreshes them when its epoch advances).
    pub fn refresh_heap(&self) {
        if tikv_jemalloc_ctl::epoch::advance().is_err() {
            return;
        }
        let gauge = |g: &Gauge, v: Result<usize, tikv_jemalloc_ctl::Error>| {
            if let Ok(bytes) = v {
                g.set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        };
        gauge(
            &self.heap_allocated,
            tikv_jemalloc_ctl::stats::allocated::read(),
        );
        gauge(
            &self.heap_resident,
            tikv_jemalloc_ctl::stats::resident::read(),
        );
    }

    /// Sets the writes-paused gauge (read at scrape time, like chain heights).
    pub fn refresh_writes_paused(&self, paused: bool) {
        self.writes_paused.set(i64::from(paused));
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
