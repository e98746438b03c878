//! Data keys a grant opens to this node and it does not hold yet, to ask their owners for
//! (the daemon's key fetcher drains it). Bounded: what does not fit is found again by the next
//! full reconciliation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use medchain_protocol::limits::MAX_KEYS_PER_REQUEST;
use medchain_protocol::{ChainId, EntryRef};

use super::integrity::lock;

/// The shortest time between two requests for one chain's key backups.
pub const BACKUP_REQUEST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Most keys waiting to be asked for.
pub const MAX_WANTED_KEYS: usize = 65_536;

/// Wanted keys by owner chain, and the wake-up of the fetcher.
#[derive(Debug, Default)]
pub struct WantedKeys {
    wanted: Mutex<BTreeMap<ChainId, BTreeSet<EntryRef>>>,
    /// Chains with new blocks whose key backups to fetch (bounded by the chains held), and when
    /// each was last asked for.
    backups: Mutex<(
        BTreeSet<ChainId>,
        std::collections::HashMap<ChainId, Instant>,
    )>,
    added: tokio::sync::Notify,
}

impl WantedKeys {
    /// Adds entries whose keys are wanted and wakes the fetcher. Answers how many did not fit.
    pub fn add(&self, entries: impl IntoIterator<Item = EntryRef>) -> usize {
        let mut wanted = lock(&self.wanted);
        let mut held: usize = wanted.values().map(BTreeSet::len).sum();
        let (mut added, mut dropped) = (0, 0);
        for at in entries {
            if held >= MAX_WANTED_KEYS {
                dropped += 1;
                continue;
            }
            if wanted.entry(at.chain).or_default().insert(at) {
                held += 1;
                added += 1;
            }
        }
        drop(wanted);
        if added > 0 {
            self.added.notify_one();
        }
        dropped
    }

    /// Up to one request's worth of wanted entries of each chain (they stay wanted until
    /// [`WantedKeys::settle`]).
    pub fn next_requests(&self) -> Vec<(ChainId, Vec<EntryRef>)> {
        lock(&self.wanted)
            .iter()
            .map(|(chain, entries)| {
                let batch = entries.iter().take(MAX_KEYS_PER_REQUEST).copied().collect();
                (*chain, batch)
            })
            .collect()
    }

    /// Entries answered for good (kept, refused, erased): no longer wanted.
    pub fn settle(&self, entries: &[EntryRef]) {
        let mut wanted = lock(&self.wanted);
        for at in entries {
            if let Some(set) = wanted.get_mut(&at.chain) {
                set.remove(at);
                if set.is_empty() {
                    wanted.remove(&at.chain);
                }
            }
        }
    }

    /// How many keys are wanted.
    pub fn len(&self) -> usize {
        lock(&self.wanted).values().map(BTreeSet::len).sum()
    }

    /// Whether some chain's backups wait for their turn.
    pub fn backups_waiting(&self) -> bool {
        !lock(&self.backups).0.is_empty()
    }

    /// Whether no key is wanted and no chain's backups wait.
    pub fn is_empty(&self) -> bool {
        lock(&self.wanted).is_empty() && lock(&self.backups).0.is_empty()
    }

    /// Notes that `chain` has new blocks whose key backups to fetch, and wakes the fetcher
    /// unless that chain was asked for lately (then a later round takes it: one request per
    /// chain per [`BACKUP_REQUEST_INTERVAL`], whatever the block rate).
    pub fn want_backups(&self, chain: ChainId) {
        let mut backups = lock(&self.backups);
        let due = backups
            .1
            .get(&chain)
            .is_none_or(|at| at.elapsed() >= BACKUP_REQUEST_INTERVAL);
        // Newly marked, even if not due: the fetcher is woken to schedule the chain's turn.
        if backups.0.insert(chain) || due {
            self.added.notify_one();
        }
    }

    /// The chains whose backups are wanted and due, now taken (and stamped as asked).
    pub fn take_backup_chains(&self) -> Vec<ChainId> {
        let mut backups = lock(&self.backups);
        let (marked, asked) = &mut *backups;
        let due: Vec<ChainId> = marked
            .iter()
            .filter(|c| {
                asked
                    .get(c)
                    .is_none_or(|at| at.elapsed() >= BACKUP_REQUEST_INTERVAL)
            })
            .copied()
            .collect();
        for chain in &due {
            marked.remove(chain);
            asked.insert(*chain, Instant::now());
        }
        due
    }

    /// Wakes the fetcher (an owner came back: what it did not answer may be answered now).
    pub fn wake(&self) {
        self.added.notify_one();
    }

    /// Resolves when keys are added (at once if some were added since the last wait).
    pub async fn added(&self) {
        self.added.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(chain: u8, height: u64) -> EntryRef {
        EntryRef {
            chain: ChainId([chain; 32]),
            height,
            index: 0,
        }
    }

    #[test]
    fn wanted_keys_are_batched_per_chain_and_settled() {
        let wanted = WantedKeys::default();
        assert_eq!(wanted.add((0..200).map(|h| at(1, h)).chain([at(2, 0)])), 0);
        let requests = wanted.next_requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].1.len(), MAX_KEYS_PER_REQUEST);
        wanted.settle(&requests[0].1);
        wanted.settle(&requests[1].1);
        assert_eq!(wanted.len(), 200 - MAX_KEYS_PER_REQUEST);
        let dropped = wanted.add((0..MAX_WANTED_KEYS as u64).map(|h| at(3, h)));
        assert_eq!(dropped, 200 - MAX_KEYS_PER_REQUEST);
        assert_eq!(wanted.len(), MAX_WANTED_KEYS);
    }

    #[test]
    fn one_chain_s_backups_are_asked_for_at_most_once_per_interval() {
        let wanted = WantedKeys::default();
        let chain = ChainId([4; 32]);
        wanted.want_backups(chain);
        wanted.want_backups(chain);
        assert_eq!(wanted.take_backup_chains(), vec![chain]);
        assert!(wanted.is_empty());
        wanted.want_backups(chain);
        assert!(
            wanted.take_backup_chains().is_empty(),
            "asked for a moment ago"
        );
        assert!(!wanted.is_empty(), "kept for a later round");
    }
}
