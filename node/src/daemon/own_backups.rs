//! Our own chain's key backups, asked of every admitted peer wherever blocks of our chain held
//! here have none (a rebuild, and again after a restart that cut one short), for `medchain
//! recovery restore`. Only a provider that makes backups (`[keys] recovery_public`) asks.
//!
//! The chain is walked from the lowest height that may lack a backup (learnt this run); the
//! stretches found are asked lowest first, at most [`MAX_RUNS_PER_ROUND`] a round. A stretch
//! every peer was asked for is not asked again for [`ASK_AGAIN_AFTER`]: blocks written before
//! the recovery key was configured have no backup anywhere, and must neither cost a request to
//! every peer at every round nor keep the stretches above them from their turn.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use medchain_protocol::ChainId;
use tracing::{debug, warn};

use super::network::{Glue, blocking, lock};

/// Most stretches (each at most 256 blocks) asked of every peer in one round.
const MAX_RUNS_PER_ROUND: usize = 64;
/// Most stretches one walk of the chain collects (before those asked lately are left out).
const MAX_RUNS_WALKED: usize = 4096;
/// How long a stretch every peer was asked for is left alone.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(3600);
/// Most stretches remembered as asked (the oldest are forgotten first).
const MAX_ASKED: usize = 4096;

/// What this run learnt of our own chain's backups.
#[derive(Debug, Default)]
pub struct OwnBackups {
    /// Every block below this height with payloads has a backup here.
    whole_below: AtomicU64,
    /// Stretches (first height, end height) every peer was asked for, and when.
    asked: Mutex<Vec<(u64, u64, Instant)>>,
}

impl OwnBackups {
    /// Whether the stretch `first..end` was asked of every peer lately.
    fn asked_lately(&self, first: u64, end: u64) -> bool {
        lock(&self.asked)
            .iter()
            .any(|(a, b, at)| *a <= first && end <= *b && at.elapsed() < ASK_AGAIN_AFTER)
    }

    /// Notes that the stretch `first..end` was asked of every peer.
    fn note_asked(&self, first: u64, end: u64) {
        let mut asked = lock(&self.asked);
        asked.retain(|(_, _, at)| at.elapsed() < ASK_AGAIN_AFTER);
        if asked.len() >= MAX_ASKED {
            asked.remove(0);
        }
        asked.push((first, end, Instant::now()));
    }
}

impl Glue {
    /// Asks every admitted peer for the backups of the stretches of our own chain (`chain`)
    /// held here without them, lowest first.
    pub(super) async fn fetch_own_key_backups(&self, chain: ChainId) {
        if !self.service.backs_up_keys() {
            return;
        }
        let own = self.own_backups.clone();
        let from = own.whole_below.load(Ordering::SeqCst);
        let service = self.service.clone();
        let gaps = match blocking(move || service.own_key_backup_gaps(from, MAX_RUNS_WALKED)).await
        {
            Some(Ok(Some(gaps))) => gaps,
            Some(Err(e)) => {
                warn!(error = %e, "gaps in our own key backups could not be found");
                return;
            }
            _ => return,
        };
        own.whole_below.store(gaps.whole_below, Ordering::SeqCst);
        let runs: Vec<(u64, u64)> = gaps
            .runs
            .into_iter()
            .map(|(first, len)| (first, first.saturating_add(u64::from(len))))
            .filter(|(first, end)| !own.asked_lately(*first, *end))
            .take(MAX_RUNS_PER_ROUND)
            .collect();
        if runs.is_empty() {
            return;
        }
        let Ok(peers) = self.client.admitted_peers().await else {
            return;
        };
        debug!(
            stretches = runs.len(),
            first = runs[0].0,
            "asking peers for our own key backups"
        );
        for (first, end) in runs {
            for (peer, _) in &peers {
                self.fetch_backups_from(*peer, chain, first, end).await;
            }
            if !peers.is_empty() {
                own.note_asked(first, end);
            }
        }
    }
}
