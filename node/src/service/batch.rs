//! Group commit: concurrent record writes share one block (one signature, one transaction, one
//! flush) instead of paying for a block each.
//!
//! The first writer to arrive becomes the leader: it waits `max_delay` for others to join, takes
//! up to `max_entries` drafts, and authors them together; every writer waits for its own result.
//! A draft that breaks an entry rule is answered with its error and the rest are retried, so
//! one bad request never fails another's.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
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

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, EntryDraft)>,
    answers: HashMap<u64, Answer>,
    leading: bool,
}

/// The write batcher.
pub struct Batcher {
    limits: Limits,
    queue: Mutex<Queue>,
    answered: Condvar,
}

impl Batcher {
    /// A batcher with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            queue: Mutex::default(),
            answered: Condvar::new(),
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
        let mut queue = self.lock();
        let mut tickets = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let ticket = queue.next_ticket;
            queue.next_ticket += 1;
            queue.pending.push((ticket, draft));
            tickets.push(ticket);
        }
        let mut mine: HashMap<u64, Answer> = HashMap::with_capacity(tickets.len());
        loop {
            for ticket in &tickets {
                if let Some(answer) = queue.answers.remove(ticket) {
                    mine.insert(*ticket, answer);
                }
            }
            if mine.len() == tickets.len() {
                return tickets
                    .iter()
                    .map(|t| {
                        mine.remove(t)
                            .unwrap_or_else(|| Err((500, "the batch lost a write".into())))
                            .map_err(|(status, message)| from_parts(status, message))
                    })
                    .collect();
            }
            if queue.leading {
                queue = self.answered.wait(queue).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            queue.leading = true;
            let max_entries = self.limits.max_entries.max(1);
            // A full block's worth already waiting: no reason to wait for more.
            if queue.pending.len() < max_entries {
                drop(queue);
                std::thread::sleep(self.limits.max_delay);
                queue = self.lock();
            }
            let take = queue.pending.len().min(max_entries);
            let batch: Vec<(u64, EntryDraft)> = queue.pending.drain(..take).collect();
            drop(queue);
            let answers = write_batch(batch, &author);
            queue = self.lock();
            queue.answers.extend(answers);
            queue.leading = false;
            self.answered.notify_all();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
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
