//! The node's service layer: everything the HTTP API (and later the network glue) asks of the
//! ledger, with the rules of a hospital node around it.
//!
//! - Writes (`submit`) pseudonymise the patient, check the payload, author the next block of our
//!   chain and return once it is flushed. Auditor nodes cannot write.
//! - Reads (`record`, `history`, `patient_records`) are audited: a provider node writes an
//!   `access` entry (who read what) to its own chain; an auditor node, which writes to no chain,
//!   appends the same facts to a local audit log. Reads never return a patient identifier.
//!
//! The ledger sits behind a mutex: sled calls block, so async callers use `spawn_blocking`.

mod audit;
mod batch;
mod error;
mod request;
mod view;

use std::sync::{Mutex, MutexGuard};

use medchain_chain::provenance::{self, History, Limits, Version};
use medchain_chain::{Author, Authored, EntryDraft, Ledger, Report};
use medchain_protocol::BlockMessage;
use medchain_protocol::identity::org_of;
use medchain_protocol::{
    Block, ChainId, EntryKind, EntryRef, EquivocationEvidence, Parent, PatientRef, PseudonymKey,
    RecordId,
};
use tokio::sync::mpsc;

pub use audit::{AuditLog, AuditTrail};
pub use batch::Limits as BatchLimits;
pub use error::ServiceError;
pub use request::NewRecord;
pub use view::{ChainView, PatientRecord, RecordView, RecordWritten};

/// Most blocks one listing returns.
pub const MAX_BLOCKS_PER_LISTING: u32 = 256;

/// The node's service.
pub struct Service {
    ledger: Mutex<Ledger>,
    author: Option<Author>,
    pseudonyms: PseudonymKey,
    audit: AuditTrail,
    clock: fn() -> u64,
    publisher: Option<mpsc::Sender<BlockMessage>>,
    /// Set while our own chain may be incomplete (the store was rebuilt): writing then could
    /// sign blocks at heights the network already holds.
    writes_paused: std::sync::atomic::AtomicBool,
    batcher: batch::Batcher,
    /// Wakes the network glue when the verifier has quarantined something, so the range is
    /// fetched from peers now rather than at the next anti-entropy round.
    repair_wanted: tokio::sync::Notify,
}

impl Service {
    /// A service over `ledger`; `author` is `Some` on a provider node.
    pub fn new(
        ledger: Ledger,
        author: Option<Author>,
        pseudonyms: PseudonymKey,
        audit: AuditTrail,
        clock: fn() -> u64,
    ) -> Self {
        Self {
            ledger: Mutex::new(ledger),
            author,
            pseudonyms,
            audit,
            clock,
            publisher: None,
            writes_paused: std::sync::atomic::AtomicBool::new(false),
            repair_wanted: tokio::sync::Notify::new(),
            batcher: batch::Batcher::new(BatchLimits {
                max_entries: medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK,
                max_delay: std::time::Duration::from_millis(2),
            }),
        }
    }

    /// Sets how concurrent record writes are batched into blocks.
    pub fn with_batching(mut self, limits: BatchLimits) -> Self {
        self.batcher = batch::Batcher::new(limits);
        self
    }

    /// Refuses writes until [`Service::resume_writes`] (after catching up with a peer).
    pub fn pause_writes(&self) {
        self.writes_paused
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Allows writes again; returns whether they were paused.
    pub fn resume_writes(&self) -> bool {
        self.writes_paused
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Asks the network glue to fetch quarantined ranges from peers now. Callable from any
    /// thread; requests made while none is waited for are kept (one wake-up for all of them).
    pub fn request_repair(&self) {
        self.repair_wanted.notify_one();
    }

    /// Resolves at the next [`Service::request_repair`] (at once if one is pending).
    pub async fn repair_requested(&self) {
        self.repair_wanted.notified().await;
    }

    /// Sends every block this node authors to `publisher` (the network glue gossips them).
    pub fn with_publisher(mut self, publisher: mpsc::Sender<BlockMessage>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Authors `drafts` and hands the blocks to the publisher.
    fn author(
        &self,
        author: &Author,
        drafts: Vec<EntryDraft>,
    ) -> Result<Vec<Authored>, ServiceError> {
        // Every write of this node (records, and the access entries of audited reads) passes here.
        self.refuse_while_own_chain_quarantined(author)?;
        let authored = self.ledger().author(author, drafts, (self.clock)())?;
        if let Some(publisher) = &self.publisher {
            for a in &authored {
                let message = BlockMessage {
                    block: a.block.block().clone(),
                    payloads: a.block.payloads().iter().cloned().map(Into::into).collect(),
                };
                // A full queue only delays replication: peers fetch the block by sync.
                if publisher.try_send(message).is_err() {
                    tracing::warn!(
                        height = a.block.height(),
                        "publish queue full; peers will fetch the block by sync"
                    );
                }
            }
        }
        Ok(authored)
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock leaves the ledger as consistent as the store (every
        // block is written in one transaction, and a run of blocks leaves a prefix of whole
        // blocks), so a poisoned lock is taken over, not propagated.
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes a record entry as the next block of our chain.
    pub fn submit(&self, request: NewRecord) -> Result<RecordWritten, ServiceError> {
        let author = self.writer()?;
        let draft = request.into_draft(&self.pseudonyms)?;
        let (record, entry, block) = self.batcher.write(draft, |drafts| {
            Ok(batch::placed(&self.author(author, drafts)?))
        })?;
        Ok(RecordWritten {
            record,
            entry,
            block,
        })
    }

    /// Writes several records (a batch import): each is answered on its own, in order; a record
    /// that breaks a rule fails alone. They share blocks with each other and with concurrent
    /// writes.
    pub fn submit_many(
        &self,
        requests: Vec<NewRecord>,
    ) -> Result<Vec<Result<RecordWritten, ServiceError>>, ServiceError> {
        let author = self.writer()?;
        let mut answers: Vec<Option<Result<RecordWritten, ServiceError>>> =
            Vec::with_capacity(requests.len());
        let mut drafts = Vec::with_capacity(requests.len());
        for request in requests {
            match request.into_draft(&self.pseudonyms) {
                Ok(draft) => {
                    drafts.push(draft);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let mut placed = self
            .batcher
            .write_many(drafts, |drafts| {
                Ok(batch::placed(&self.author(author, drafts)?))
            })
            .into_iter();
        Ok(answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| {
                    placed
                        .next()
                        .unwrap_or_else(|| {
                            Err(ServiceError::Failed("the batch lost a write".into()))
                        })
                        .map(|(record, entry, block)| RecordWritten {
                            record,
                            entry,
                            block,
                        })
                })
            })
            .collect())
    }

    /// Writing while part of our own chain is in quarantine would sign new blocks at heights the
    /// network already holds: equivocation. Writes wait until the chain is restored.
    fn refuse_while_own_chain_quarantined(&self, author: &Author) -> Result<(), ServiceError> {
        if self.writes_paused.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ServiceError::Unavailable(
                "this node's store was rebuilt; writes resume once it has caught up with a peer"
                    .into(),
            ));
        }
        let open = self
            .ledger()
            .store()
            .quarantine_events()?
            .into_iter()
            .any(|e| e.chain == author.chain() && e.restored_at_ms.is_none());
        if open {
            return Err(ServiceError::Unavailable(
                "this node's own chain is being repaired from peers; writes resume once it is restored".into(),
            ));
        }
        Ok(())
    }

    fn writer(&self) -> Result<&Author, ServiceError> {
        self.author.as_ref().ok_or_else(|| {
            ServiceError::Forbidden(
                "this is an auditor node: it reads every chain and writes to none".into(),
            )
        })
    }

    /// The latest version of a record, with its payload; the read is audited.
    pub fn record(&self, record: RecordId, actor: &str) -> Result<RecordView, ServiceError> {
        let history = self.history_of(
            record,
            Limits {
                max_depth: 0,
                max_records: 1,
            },
        )?;
        let node =
            history.records.into_iter().next().ok_or_else(|| {
                ServiceError::NotFound(format!("record {record} is not known here"))
            })?;
        let latest = node.versions.last().cloned().ok_or_else(|| {
            ServiceError::NotFound(format!("record {record} has no versions here"))
        })?;
        let patient = self.patient_of(&latest.at)?;
        let (payload, payload_note) = self.payload_json(&latest)?;
        self.audit_read(actor, record, patient, latest.at)?;
        Ok(RecordView {
            record,
            patient,
            versions: node.versions.len(),
            disposed: node.disposed,
            latest,
            payload,
            payload_note,
        })
    }

    /// The history of a record across chains; the read is audited.
    pub fn history(&self, record: RecordId, actor: &str) -> Result<History, ServiceError> {
        let history = self.history_of(record, Limits::default())?;
        if let Some(latest) = history.records.first().and_then(|n| n.versions.last()) {
            let patient = self.patient_of(&latest.at)?;
            self.audit_read(actor, record, patient, latest.at)?;
        }
        Ok(history)
    }

    fn history_of(&self, record: RecordId, limits: Limits) -> Result<History, ServiceError> {
        let ledger = self.ledger();
        Ok(provenance::history(ledger.store(), record, limits)?)
    }

    /// Every record of a patient (by identifier, pseudonymised here); the read is audited.
    pub fn patient_records(
        &self,
        identifier: &str,
        actor: &str,
    ) -> Result<Vec<PatientRecord>, ServiceError> {
        let patient = PatientRef::pseudonymise(&self.pseudonyms, identifier)
            .map_err(|e| ServiceError::BadRequest(format!("patient: {e}")))?;
        let refs = self.ledger().store().patient_entries(&patient)?;
        let mut records: Vec<PatientRecord> = Vec::new();
        for at in refs {
            // The index is a lookup aid, not the truth: an entry planted in it (or left by
            // damage) must not show one patient's record under another.
            let Some(entry) = self.entry(&at)? else {
                continue;
            };
            if entry.patient != patient || entry.kind == EntryKind::Access {
                continue;
            }
            match records.iter_mut().find(|r| r.record == entry.record) {
                Some(r) => r.entries.push(at),
                None => records.push(PatientRecord {
                    record: entry.record,
                    entries: vec![at],
                }),
            }
        }
        for r in &records {
            if let Some(last) = r.entries.last() {
                self.audit_read(actor, r.record, patient, *last)?;
            }
        }
        Ok(records)
    }

    fn entry(&self, at: &EntryRef) -> Result<Option<medchain_protocol::Entry>, ServiceError> {
        let block = self.ledger().store().block_at(&at.chain, at.height)?;
        Ok(block.and_then(|b| b.entries.get(at.index as usize).cloned()))
    }

    fn patient_of(&self, at: &EntryRef) -> Result<PatientRef, ServiceError> {
        self.entry(at)?
            .map(|e| e.patient)
            .ok_or_else(|| ServiceError::NotFound(format!("entry {at} is not held here")))
    }

    fn payload_json(
        &self,
        version: &Version,
    ) -> Result<(Option<serde_json::Value>, Option<&'static str>), ServiceError> {
        let Some(hash) = version.payload else {
            return Ok((None, Some("this version carries no payload")));
        };
        let Some(bytes) = self.ledger().store().payload(&hash)? else {
            return Ok((None, Some("payload not yet fetched by this node")));
        };
        Ok(match serde_json::from_slice(&bytes) {
            Ok(json) => (Some(json), None),
            Err(_) => (None, Some("payload is not JSON")),
        })
    }

    /// Records a read: an access entry on our chain (provider), a local log line (auditor).
    fn audit_read(
        &self,
        actor: &str,
        record: RecordId,
        patient: PatientRef,
        version: EntryRef,
    ) -> Result<(), ServiceError> {
        match (&self.audit, &self.author) {
            (AuditTrail::Off, _) => Ok(()),
            (AuditTrail::Chain, Some(author)) => {
                let access = EntryDraft {
                    kind: EntryKind::Access,
                    record: Some(record),
                    patient,
                    actor: actor.to_owned(),
                    payload: None,
                    parents: vec![Parent::Entry(version)],
                };
                self.author(author, vec![access])?;
                Ok(())
            }
            (AuditTrail::Chain, None) => Err(ServiceError::Unavailable(
                "on-chain audit needs a provider node".into(),
            )),
            (AuditTrail::LocalLog(log), _) => log
                .append(actor, record, patient, version, (self.clock)())
                .map_err(|e| ServiceError::Unavailable(format!("audit log: {e}"))),
        }
    }

    /// Every chain this node holds, with its provider organisation.
    pub fn chains(&self) -> Result<Vec<ChainView>, ServiceError> {
        let ledger = self.ledger();
        let store = ledger.store();
        let mut out = Vec::new();
        for head in store.heads()? {
            let org = store
                .block_at(&head.chain, 0)?
                .and_then(|g| g.certificate)
                .as_deref()
                .and_then(org_of);
            out.push(ChainView { head, org });
        }
        Ok(out)
    }

    /// Blocks of a chain from a height, at most `limit` (capped).
    pub fn blocks(
        &self,
        chain: &ChainId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Block>, ServiceError> {
        Ok(self
            .ledger()
            .store()
            .blocks_range(chain, from, limit.min(MAX_BLOCKS_PER_LISTING))?)
    }

    /// Equivocation evidence held.
    pub fn evidence(&self) -> Result<Vec<EquivocationEvidence>, ServiceError> {
        Ok(self.ledger().store().evidence()?)
    }

    /// Runs the verifier now.
    pub fn verify(&self) -> Result<Report, ServiceError> {
        let clock = self.clock;
        Ok(self.ledger().verify(clock(), clock)?)
    }

    /// Past verifier reports, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<Report>, ServiceError> {
        Ok(self.ledger().reports(limit)?)
    }

    /// Runs `f` with the ledger (for the network glue).
    pub fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        f(&mut self.ledger())
    }
}

#[cfg(test)]
pub(crate) mod tests;
