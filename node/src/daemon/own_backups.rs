//! Our own chain's key backups, asked of every admitted peer wherever blocks of our chain held
//! here have none (a rebuild, and again after a restart that cut one short), for `medchain
//! recovery restore`. Only a provider that makes backups (`[keys] recovery_public`) asks.
//!
//! The chain is walked from the lowest height that may lack a backup (learnt this run), or past
//! the stretches answered for lately; the stretches found are asked lowest first, at most
//! [`MAX_RUNS_PER_ROUND`] a round. A stretch every peer answered for is not asked again for
//! [`ASK_AGAIN_AFTER`] (one some peer did not answer for, for [`RETRY_UNANSWERED_AFTER`]):
//! blocks written before the recovery key was configured have no backup anywhere, and must
//! neither cost a request to every peer at every round nor keep the stretches above them from
//! their turn.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use medchain_protocol::ChainId;
use tracing::{debug, warn};

use super::network::{Glue, blocking, lock};

/// Most stretches (each at most 256 blocks) asked of every peer in one round.
const MAX_RUNS_PER_ROUND: usize = 64;
/// How long a stretch every peer answered for is left alone.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(3600);
/// How long a stretch some peer did not answer for (busy, away, failing) is left alone: the
/// stretches above it get their turn meanwhile.
const RETRY_UNANSWERED_AFTER: Duration = Duration::from_secs(300);
/// Most stretches remembered as asked (the oldest are forgotten first).
const MAX_ASKED: usize = 4096;

/// What this run learnt of our own chain's backups.
#[derive(Debug, Default)]
pub struct OwnBackups {
    /// Every block below this height with payloads has a backup here.
    whole_below: AtomicU64,
    /// Below this height every stretch without backups is left alone for now: the walk starts
    /// here until one of those is due again.
    resume_at: AtomicU64,
    /// Stretches (first height, end height) left alone, and until when.
    asked: Mutex<Vec<(u64, u64, Instant)>>,
}

impl OwnBackups {
    /// The stretches left alone now, sorted.
    fn recent(&self) -> Vec<(u64, u64)> {
        let now = Instant::now();
        let mut recent: Vec<(u64, u64)> = lock(&self.asked)
            .iter()
            .filter(|(_, _, until)| *until > now)
            .map(|(a, b, _)| (*a, *b))
            .collect();
        recent.sort_unstable();
        recent
    }

    /// Leaves the stretch `first..end` alone for `wait`.
    fn note_asked(&self, first: u64, end: u64, wait: Duration) {
        let mut asked = lock(&self.asked);
        if asked.len() >= MAX_ASKED {
            // A stretch forgotten early is due again: the next walk starts from the bottom.
            asked.remove(0);
            self.resume_at.store(0, Ordering::SeqCst);
        }
        asked.push((first, end, Instant::now() + wait));
    }

    /// Where the next walk starts: past the stretches left alone, unless one of them is due
    /// again (then, forgetting those, from the lowest gap).
    fn walk_from(&self) -> u64 {
        let now = Instant::now();
        let mut asked = lock(&self.asked);
        let before = asked.len();
        asked.retain(|(_, _, until)| *until > now);
        let whole_below = self.whole_below.load(Ordering::SeqCst);
        if asked.len() < before {
            self.resume_at.store(whole_below, Ordering::SeqCst);
            whole_below
        } else {
            self.resume_at.load(Ordering::SeqCst).max(whole_below)
        }
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
        let from = own.walk_from();
        let service = self.service.clone();
        let recent = own.recent();
        let gaps = match blocking(move || {
            service.own_key_backup_gaps(from, MAX_RUNS_PER_ROUND, |first, end| {
                !covered(&recent, first, end)
            })
        })
        .await
        {
            Some(Ok(Some(gaps))) => gaps,
            Some(Err(e)) => {
                warn!(error = %e, "gaps in our own key backups could not be found");
                return;
            }
            _ => return,
        };
        if from == own.whole_below.load(Ordering::SeqCst) {
            own.whole_below.store(gaps.whole_below, Ordering::SeqCst);
        }
        own.resume_at.store(gaps.resume_at, Ordering::SeqCst);
        if gaps.runs.is_empty() {
            return;
        }
        let Ok(peers) = self.client.admitted_peers().await else {
            return;
        };
        debug!(
            stretches = gaps.runs.len(),
            first = gaps.runs[0].0,
            "asking peers for our own key backups"
        );
        for (first, len) in gaps.runs {
            let end = first.saturating_add(u64::from(len));
            let mut answered = 0;
            for (peer, _) in &peers {
                if self.fetch_backups_from(*peer, chain, first, end).await {
                    answered += 1;
                }
            }
            // Left alone for an hour once every peer admitted now has answered for it; for a
            // few minutes if one did not (busy, away, failing), so that the stretches above it
            // still get their turn.
            if !peers.is_empty() {
                let wait = if answered == peers.len() {
                    ASK_AGAIN_AFTER
                } else {
                    RETRY_UNANSWERED_AFTER
                };
                own.note_asked(first, end, wait);
            }
        }
    }
}

/// Whether every height of `first..end` lies in the union of `stretches` (sorted by start).
fn covered(stretches: &[(u64, u64)], first: u64, end: u64) -> bool {
    let mut reached = first;
    for (a, b) in stretches {
        if reached >= end || *a > reached {
            break;
        }
        reached = reached.max(*b);
    }
    reached >= end
}

#[cfg(test)]
mod tests {
    use super::covered;

    #[test]
    fn a_stretch_is_covered_by_the_union_of_those_answered_for() {
        let asked = [(0, 10), (10, 20), (30, 40)];
        assert!(covered(&asked, 0, 20));
        assert!(covered(&asked, 5, 15), "across two");
        assert!(!covered(&asked, 15, 35), "a hole between");
        assert!(covered(&asked, 30, 40));
        assert!(!covered(&asked, 38, 41));
        assert!(!covered(&[], 0, 1));
    }
}
