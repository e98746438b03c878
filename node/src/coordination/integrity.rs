//! Whether the node can vouch for its store, and the two things the daemon is asked to do about
//! it: scan again soon, or rebuild the store from peers.
//!
//! Fail closed: when a scan cannot complete, the node says so loudly (error log, a metric,
//! `/ready` failing) and serves no record until a scan passes. A read that meets damage (a
//! forged or unreadable block) asks for a scan at once; damage the verifier cannot repair in
//! place (sled's own pages unreadable) asks for the store to be moved aside and rebuilt.

use std::sync::Mutex;

use medchain_protocol::ChainId;
use tokio::sync::Notify;

/// The last scan's verdict on the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No scan has completed yet (the start-up scan runs before the API serves).
    Unchecked,
    /// The last scan completed (what it found is quarantined and being repaired).
    Verified,
    /// The last scan could not complete; nothing is served until one does.
    Unverified(String),
}

/// How soon a scan that could not complete is tried again (the verifier schedule's wait while
/// the store is unverified).
pub const RETRY_UNVERIFIED: std::time::Duration = std::time::Duration::from_secs(30);

/// The scan that finds damage at one (chain, height) for this many times moves the store aside:
/// the repairs before it did not hold (sled's own pages under an index damaged, so what is
/// written back there is lost again), and repairing in place would loop.
pub const MAX_REPAIRS_IN_PLACE: u32 = 3;
/// Most (chain, height) pairs whose repairs are counted; the lowest-ordered is forgotten beyond.
const MAX_COUNTED_REPAIRS: usize = 1024;
/// Damage found again later than this after the first find at its height counts afresh: only
/// repairs that keep failing, not damage that recurs over days, move the store aside.
const REPAIR_WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

/// Records are not served: the last scan could not complete (why, inside).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the store could not be verified ({0}); no record is served until a scan passes")]
pub struct Unvouched(pub String);

/// The store's integrity state and the daemon's wake-ups.
#[derive(Debug)]
pub struct Integrity {
    verdict: Mutex<Verdict>,
    rebuild: Mutex<Option<String>>,
    scan_wanted: Notify,
    rebuild_wanted: Notify,
    /// How many times damage was found at each (chain, first height), within an hour of the
    /// first find there.
    repairs: Mutex<std::collections::BTreeMap<(ChainId, u64), (u32, std::time::Instant)>>,
}

impl Default for Integrity {
    fn default() -> Self {
        Self {
            verdict: Mutex::new(Verdict::Unchecked),
            rebuild: Mutex::new(None),
            scan_wanted: Notify::new(),
            rebuild_wanted: Notify::new(),
            repairs: Mutex::default(),
        }
    }
}

impl Integrity {
    /// Counts damage found at `chain` from `height` (about to be quarantined and repaired in
    /// place); answers how many times it has been found there within [`REPAIR_WINDOW`], this
    /// time included.
    pub fn damage_found_at(&self, chain: ChainId, height: u64) -> u32 {
        let mut repairs = lock(&self.repairs);
        if !repairs.contains_key(&(chain, height)) && repairs.len() >= MAX_COUNTED_REPAIRS {
            repairs.pop_first();
        }
        let now = std::time::Instant::now();
        let (count, since) = repairs.entry((chain, height)).or_insert((0, now));
        if now.duration_since(*since) > REPAIR_WINDOW {
            (*count, *since) = (0, now);
        }
        *count += 1;
        *count
    }

    /// The verdict now.
    pub fn verdict(&self) -> Verdict {
        lock(&self.verdict).clone()
    }

    /// Records the last scan's verdict.
    pub fn set(&self, verdict: Verdict) {
        *lock(&self.verdict) = verdict;
    }

    /// `Ok` when records may be served: the last scan completed.
    pub fn check(&self) -> Result<(), Unvouched> {
        match self.verdict() {
            Verdict::Verified | Verdict::Unchecked => Ok(()),
            Verdict::Unverified(reason) => Err(Unvouched(reason)),
        }
    }

    /// Asks for a scan soon (a read met damage). Kept until the scan task waits for it.
    pub fn request_scan(&self) {
        self.scan_wanted.notify_one();
    }

    /// Resolves at the next [`Integrity::request_scan`].
    pub async fn scan_requested(&self) {
        self.scan_wanted.notified().await;
    }

    /// Asks the daemon to move the store aside and rebuild it from peers (the first reason
    /// given is kept).
    pub fn request_rebuild(&self, reason: impl Into<String>) {
        let mut rebuild = lock(&self.rebuild);
        if rebuild.is_none() {
            *rebuild = Some(reason.into());
        }
        drop(rebuild);
        self.rebuild_wanted.notify_one();
    }

    /// Why a rebuild was asked for, if it was.
    pub fn rebuild_reason(&self) -> Option<String> {
        lock(&self.rebuild).clone()
    }

    /// Resolves once a rebuild is asked for.
    pub async fn rebuild_requested(&self) {
        loop {
            if self.rebuild_reason().is_some() {
                return;
            }
            self.rebuild_wanted.notified().await;
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain values, replaced whole: a poisoned lock holds nothing half-written.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_found_again_at_one_height_is_counted_and_the_count_is_bounded() {
        let integrity = Integrity::default();
        let chain = ChainId([7; 32]);
        assert_eq!(integrity.damage_found_at(chain, 5), 1);
        assert_eq!(integrity.damage_found_at(chain, 6), 1);
        assert_eq!(integrity.damage_found_at(chain, 5), 2);
        assert_eq!(integrity.damage_found_at(chain, 5), MAX_REPAIRS_IN_PLACE);
        for height in 100..100 + MAX_COUNTED_REPAIRS as u64 {
            integrity.damage_found_at(chain, height);
        }
        assert_eq!(lock(&integrity.repairs).len(), MAX_COUNTED_REPAIRS);
    }
}
