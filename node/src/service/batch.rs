//! Group commit: concurrent record writes share one block (one signature, one transaction, one
//! flush) instead of paying for a block each.
//!
//! The first writer to arrive becomes the leader: it waits `max_delay` for others to join (not
//! when a full block's worth already waits), takes up to `max_entries` drafts, and authors them
//! together. Every writer waits on its own slot, woken only when its answers are in (waking every
//! waiter on each batch cost more than the writes at a few thousand requests per second). A
//! leader whose own drafts are answered hands the lead to the writer of the oldest draft still
//! waiting. A draft that breaks an entry rule is answered with its error and the rest are
//! retried, so one bad request never fails another's. A panic while writing a batch answers
//! its writers with the failure and frees the lead: the queue never stalls.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use medchain_chain::EntryDraft;
use medchain_protocol::{BlockHash, EntryRef, RecordId};

use super::error::ServiceError;

/// Where one draft went.
pub type Placed = (RecordId, EntryRef, BlockHash);

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most drafts in one batch.
    pub max_entries: usize,
    /// How long the leader waits for others to join.
    pub max_delay: Duration,
}

/// An answer as it can be handed to another thread (`ServiceError` is not `Clone`).
type Answer = Result<Placed, (u16, String)>;

/// One `write_many` call's answers, and whether it was handed the lead.
struct Slot {
    state: Mutex<SlotState>,
    woken: Condvar,
}

struct SlotState {
    answers: Vec<Option<Answer>>,
    missing: usize,
    lead: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A draft waiting for a batch: its slot and its place in that slot.
type Waiting = (Arc<Slot>, usize, EntryDraft);

#[derive(Default)]
struct Queue {
    pending: VecDeque<Waiting>,
    leading: bool,
}

/// The write batcher.
pub struct Batcher {
    limits: Limits,
    queue: Mutex<Queue>,
}

impl Batcher {
    /// A batcher with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            queue: Mutex::default(),
        }
    }

    /// Writes `draft` in a batch with whatever arrives meanwhile; `author` writes one batch and
    /// returns where each draft went, in order.
    pub fn write(
        &self,
        draft: EntryDraft,
        author: impl Fn(Vec<EntryDraft>) -> Result<Vec<Placed>, ServiceError>,
    ) -> Result<Placed, ServiceError> {
        self.write_many(vec![draft], author)
            .pop()
            .unwrap_or_else(|| Err(ServiceError::Failed("the batch lost a write".into())))
    }

    /// Writes `drafts` (in order, possibly over several blocks) together with whatever arrives
    /// meanwhile; answers each draft in order.
    pub fn write_many(
        &self,
        drafts: Vec<EntryDraft>,
        author: impl Fn(Vec<EntryDraft>) -> Result<Vec<Placed>, ServiceError>,
    ) -> Vec<Result<Placed, ServiceError>> {
        if drafts.is_empty() {
            return Vec::new();
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                answers: (0..drafts.len()).map(|_| None).collect(),
                missing: drafts.len(),
                lead: false,
            }),
            woken: Condvar::new(),
        });
        let mut leading = {
            let mut queue = self.lock();
            for (i, draft) in drafts.into_iter().enumerate() {
                queue.pending.push_back((slot.clone(), i, draft));
            }
            !std::mem::replace(&mut queue.leading, true)
        };
        loop {
            if leading {
                self.lead_one_batch(&author);
                let mut queue = self.lock();
                if slot.lock().missing > 0 {
                    continue;
                }
                // Done: hand the lead to the oldest waiting draft's writer, or give it up.
                match queue.pending.front() {
                    Some((next, _, _)) => {
                        next.lock().lead = true;
                        next.woken.notify_one();
                    }
                    None => queue.leading = false,
                }
                drop(queue);
            } else {
                let mut state = slot.lock();
                while state.missing > 0 && !state.lead {
                    state = slot.woken.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.missing > 0 {
                    state.lead = false;
                    leading = true;
                    continue;
                }
            }
            let mut state = slot.lock();
            return std::mem::take(&mut state.answers)
                .into_iter()
                .map(|answer| {
                    answer
                        .unwrap_or_else(|| Err((500, "the batch lost a write".into())))
                        .map_err(|(status, message)| from_parts(status, message))
                })
                .collect();
        }
    }

    /// Takes one batch from the queue, authors it and answers its writers.
    fn lead_one_batch(
        &self,
        author: &impl Fn(Vec<EntryDraft>) -> Result<Vec<Placed>, ServiceError>,
    ) {
        let max_entries = self.limits.max_entries.max(1);
        let mut queue = self.lock();
        // A full block's worth already waiting: no reason to wait for more.
        if queue.pending.len() < max_entries {
            drop(queue);
            std::thread::sleep(self.limits.max_delay);
            queue = self.lock();
        }
        let take = queue.pending.len().min(max_entries);
        let batch: Vec<Waiting> = queue.pending.drain(..take).collect();
        drop(queue);
        let mut places = Vec::with_capacity(batch.len());
        let mut drafts = Vec::with_capacity(batch.len());
        for (i, (slot, at, draft)) in batch.into_iter().enumerate() {
            places.push((slot, at));
            drafts.push((i as u64, draft));
        }
        let tickets: Vec<u64> = drafts.iter().map(|(t, _)| *t).collect();
        // A panic in the write path (a bug, or the storage engine on damaged files) must not
        // leave these writers waiting forever nor the lead taken: each is answered with the
        // failure and the queue goes on.
        let answers = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_batch(drafts, author)
        }))
        .unwrap_or_else(|panic| {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(panic = %text, "the write path panicked: the batch's writes failed");
            tickets
                .into_iter()
                .map(|t| (t, Err((500, format!("the write path failed: {text}")))))
                .collect()
        });
        for (i, answer) in answers {
            let Some((slot, at)) = places.get(i as usize) else {
                continue;
            };
            let mut state = slot.lock();
            if let Some(place) = state.answers.get_mut(*at) {
                *place = Some(answer);
                state.missing -= 1;
            }
            if state.missing == 0 {
                slot.woken.notify_one();
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Authors `batch`, taking out drafts that break an entry rule (answered with their error) and
/// retrying the rest.
fn write_batch(
    mut batch: Vec<(u64, EntryDraft)>,
    author: &impl Fn(Vec<EntryDraft>) -> Result<Vec<Placed>, ServiceError>,
) -> Vec<(u64, Answer)> {
    let mut answers = Vec::with_capacity(batch.len());
    while !batch.is_empty() {
        let drafts = batch.iter().map(|(_, d)| d.clone()).collect();
        match author(drafts) {
            Ok(placed) => {
                answers.extend(
                    batch
                        .iter()
                        .map(|(t, _)| *t)
                        .zip(placed.into_iter().map(Ok)),
                );
                return answers;
            }
            Err(ServiceError::BadRequest(message)) if batch.len() > 1 => {
                // The chain crate names the failing draft by index ("entry N: ...").
                let index = message
                    .strip_prefix("entry ")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|&i| i < batch.len());
                let Some(index) = index else {
                    answers.extend(
                        batch
                            .drain(..)
                            .map(|(t, _)| (t, Err((400, message.clone())))),
                    );
                    return answers;
                };
                let (ticket, _) = batch.remove(index);
                let own = message
                    .split_once(": ")
                    .map_or(message.as_str(), |(_, m)| m)
                    .to_owned();
                answers.push((ticket, Err((400, own))));
            }
            Err(error) => {
                let (status, message) = (error.status(), error.to_string());
                answers.extend(
                    batch
                        .drain(..)
                        .map(|(t, _)| (t, Err((status, message.clone())))),
                );
            }
        }
    }
    answers
}

fn from_parts(status: u16, message: String) -> ServiceError {
    match status {
        400 => ServiceError::BadRequest(message),
        403 => ServiceError::Forbidden(message),
        404 => ServiceError::NotFound(message),
        409 => ServiceError::Conflict(message),
        503 => ServiceError::Unavailable(message),
        _ => ServiceError::Failed(message),
    }
}

/// Where each authored entry went, flattened over the blocks of one `author` call.
pub fn placed(authored: &[medchain_chain::Authored]) -> Vec<Placed> {
    authored
        .iter()
        .flat_map(|a| {
            let hash = a.block.hash();
            a.records
                .iter()
                .zip(&a.refs)
                .map(move |(r, e)| (*r, *e, hash))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use medchain_chain::EntryDraft;
    use medchain_protocol::{EntryKind, EntryRef, PatientRef};

    use super::*;

    fn draft() -> EntryDraft {
        EntryDraft {
            kind: EntryKind::Create,
            record: None,
            patient: PatientRef([1; 32]),
            actor: "dr-1".into(),
            payload: None,
            parents: vec![],
            terms: None,
        }
    }

    fn place(i: usize) -> Placed {
        let at = EntryRef {
            chain: medchain_protocol::ChainId([2; 32]),
            height: 0,
            index: u32::try_from(i).unwrap_or(u32::MAX),
        };
        (RecordId([3; 16]), at, BlockHash([4; 32]))
    }

    /// A panic while writing answers every writer of that batch and frees the queue: the next
    /// writes go through.
    #[test]
    fn a_panic_in_the_write_path_fails_its_writes_and_frees_the_queue() {
        let batcher = Batcher::new(Limits {
            max_entries: 64,
            max_delay: Duration::from_millis(20),
        });
        let panicked = AtomicBool::new(false);
        let author = |drafts: Vec<EntryDraft>| -> Result<Vec<Placed>, ServiceError> {
            if !panicked.swap(true, Ordering::SeqCst) {
                panic!("simulated failure inside the write path");
            }
            Ok((0..drafts.len()).map(place).collect())
        };
        let first: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| batcher.write(draft(), author)))
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let failed = first
            .iter()
            .filter(|r| matches!(r, Ok(Err(ServiceError::Failed(m))) if m.contains("write path failed")))
            .count();
        assert!(failed >= 1, "{first:?}");
        assert!(
            first.iter().all(|r| r.is_ok()),
            "no writer may see the panic itself"
        );
        // The queue is free: later writes are answered.
        for _ in 0..3 {
            assert!(batcher.write(draft(), author).is_ok());
        }
    }
}
