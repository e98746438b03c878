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

#[path = "../common/mod.rs"]
mod common;
mod node_side;
mod peer;
mod scenario;
mod stats;
mod traffic;

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
    Block, BlockDraft, BlockHash, BlockMessage, ChainHead, ChainId, Entry, EntryKind, PatientRef,
    PayloadHash, PayloadRef, RecordId, Signature, SyncRequest, SyncResponse,
};

use node_side::*;
use peer::*;
use scenario::*;
use stats::*;
use traffic::*;

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
