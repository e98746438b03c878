//! The node's service layer: everything the HTTP API and the daemon's network tasks ask of the
//! ledger, with the rules of a hospital node around it.
//!
//! - Writes (`submit`) pseudonymise the patient and check the payload (`medchain-requests`),
//!   author the next block of our chain and return once it is flushed. Auditor nodes cannot
//!   write.
//! - Reads (`record`, `history`, `patient_records`) are audited: a provider node writes an
//!   `access` entry (who read what) to its own chain; an auditor node, which writes to no chain,
//!   appends the same facts to a local audit log. Reads never return a patient identifier.
//!
//! The ledger (the store's one writer) sits behind a mutex; reads go through a cloneable
//! `StoreReader` and never take that lock, so a long write does not hold up readers. sled calls
//! block, so async callers use `spawn_blocking`.

mod audit;
mod batch;
mod daemon_ops;
mod error;
mod fhir;
mod grants;
mod key_release;
mod proofs;
mod reads;
mod received_grants;
mod received_keys;
mod view;

use std::sync::{Arc, Mutex, MutexGuard};

use medchain_chain::{Author, Authored, EntryDraft, KeyRing, Ledger, Reads, Report};
use medchain_protocol::BlockMessage;
use medchain_protocol::{EntryKind, EntryRef, Parent, PatientRef, PseudonymKey, RecordId};
use medchain_store::StoreReader;
use medchain_store::signing::PersistedPause;

use crate::coordination::Coordination;

pub use audit::{AuditLog, AuditTrail};
pub use batch::Limits as BatchLimits;
pub use error::ServiceError;
pub use fhir::SignedEntry;
pub use grants::TermsRequest;
pub use medchain_requests::NewRecord;
pub use view::{AccessPage, AccessView, ChainView, PatientRecord, RecordView, RecordWritten};

/// Most blocks one listing returns.
pub const MAX_BLOCKS_PER_LISTING: u32 = 256;

/// The node's service.
pub struct Service {
    ledger: Mutex<Ledger>,
    /// Reads, without the ledger's lock, each block checked to be signed by its chain's key.
    reads: Reads,
    /// The pause of writes in force, readable without the ledger's lock (a provider's).
    pause: Option<medchain_chain::SharedPause>,
    /// The daemon's coordination: reads refuse to serve what a scan could not vouch for, and
    /// ask for a scan or a payload fetch when they meet damage.
    coordination: Arc<Coordination>,
    author: Option<Author>,
    /// The node's key ring: opens the payloads whose data keys this node holds.
    keys: KeyRing,
    /// A provider's own pseudonym key; an auditor has none.
    pseudonyms: Option<PseudonymKey>,
    audit: AuditTrail,
    clock: fn() -> u64,
    batcher: batch::Batcher,
    /// This member's organisation (its certificate's O): what grants name to open records to
    /// this node.
    member_org: Option<String>,
    /// Organisations of members admitted as peers this run.
    peer_orgs: Mutex<std::collections::BTreeSet<String>>,
    /// The (chain, patient) pairs with grant, revoke or erase entries.
    terms_pairs: received_keys::TermsPairs,
}

impl Service {
    /// A service over `ledger`; `author` is `Some` on a provider node.
    pub fn new(
        ledger: Ledger,
        author: Option<Author>,
        keys: KeyRing,
        pseudonyms: Option<PseudonymKey>,
        audit: AuditTrail,
        clock: fn() -> u64,
        coordination: Arc<Coordination>,
    ) -> Self {
        Self {
            reads: Reads::new(ledger.store().clone()),
            terms_pairs: received_keys::TermsPairs::load(ledger.store()),
            member_org: None,
            peer_orgs: Mutex::default(),
            pause: ledger.signing().map(medchain_chain::Signing::shared_pause),
            coordination,
            ledger: Mutex::new(ledger),
            author,
            keys,
            pseudonyms,
            audit,
            clock,
            batcher: batch::Batcher::new(BatchLimits {
                max_entries: medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK,
                max_delay: std::time::Duration::from_millis(2),
            }),
        }
    }

    /// Sets this member's organisation (grants to it open records to this node).
    pub fn with_member_org(mut self, org: String) -> Self {
        self.member_org = Some(org);
        self
    }

    /// Sets how concurrent record writes are batched into blocks.
    pub fn with_batching(mut self, limits: BatchLimits) -> Self {
        self.batcher = batch::Batcher::new(limits);
        self
    }

    /// Why writes are paused, if they are (see `medchain_chain::signing`); without the
    /// ledger's lock, so status and metrics answer while a long write or scan holds it.
    pub fn writes_paused(&self) -> Option<PersistedPause> {
        let pause = self.pause.as_ref()?;
        pause.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Our own chain, on a provider node.
    pub fn own_chain(&self) -> Option<medchain_protocol::ChainId> {
        self.author.as_ref().map(Author::chain)
    }

    /// An operator lifts the pause of writes by hand (see `medchain_chain::signing`).
    pub fn lift_pause(&self, by: &str, why: &str) -> Result<PersistedPause, ServiceError> {
        let clock = self.clock;
        self.ledger()
            .lift_pause(by, why, clock())
            .map_err(|e| match e {
                medchain_chain::SigningError::Store(e) => ServiceError::Store(e),
                medchain_chain::SigningError::NotAProvider => ServiceError::Forbidden(
                    "this is an auditor node: it has no chain of its own to write".into(),
                ),
                other => ServiceError::Conflict(other.to_string()),
            })
    }

    /// A read handle on the store (reads never take the ledger's lock).
    pub fn reader(&self) -> &StoreReader {
        self.reads.store()
    }

    /// Authors `drafts` and hands the blocks to the network glue to gossip.
    fn author(
        &self,
        author: &Author,
        drafts: Vec<EntryDraft>,
    ) -> Result<Vec<Authored>, ServiceError> {
        // Every write of this node (records, and the access entries of audited reads) passes
        // here; the ledger refuses to sign while its head is not confirmed (never twice at one
        // height), checking under the same lock as the signing.
        let authored = self.ledger().author(author, drafts, (self.clock)())?;
        let terms: Vec<medchain_chain::Committed> = authored
            .iter()
            .filter(|a| a.block.block().entries.iter().any(|e| e.kind.has_terms()))
            .map(|a| {
                // Our own blocks' key backups are made here: none to fetch.
                let mut committed = medchain_chain::Committed::of(&a.block);
                committed.payload_patients.clear();
                committed
            })
            .collect();
        // Our own grant, revoke or erase: keys it closes or erases go at once.
        self.after_commit(&terms);
        for a in &authored {
            self.coordination.publish(BlockMessage {
                block: a.block.block().clone(),
                payloads: a.block.payloads().iter().cloned().map(Into::into).collect(),
            });
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
        let draft = request.into_draft(self.pseudonym_key()?)?;
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
        let pseudonyms = self.pseudonym_key()?;
        let mut answers: Vec<Option<Result<RecordWritten, ServiceError>>> =
            Vec::with_capacity(requests.len());
        let mut drafts = Vec::with_capacity(requests.len());
        for request in requests {
            match request.into_draft(pseudonyms) {
                Ok(draft) => {
                    drafts.push(draft);
                    answers.push(None);
                }
                Err(e) => answers.push(Some(Err(e.into()))),
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

    /// Takes a renewed member certificate for this node's key: the next block carries it.
    /// Nothing to do on an auditor, which signs no blocks.
    pub fn renew_certificate(&self, certificate: Vec<u8>) -> Result<(), ServiceError> {
        match &self.author {
            Some(author) => author
                .renew(certificate)
                .map_err(|e| ServiceError::BadRequest(e.to_string())),
            None => Ok(()),
        }
    }

    /// The consortium in force (its root, and the revocation list last applied).
    pub fn consortium(&self) -> Arc<medchain_protocol::identity::Consortium> {
        self.ledger().trust().shared_consortium()
    }

    /// The provider's own pseudonym key; refused on an auditor, which holds none.
    pub(super) fn pseudonym_key(&self) -> Result<&PseudonymKey, ServiceError> {
        self.pseudonyms.as_ref().ok_or_else(|| {
            ServiceError::Forbidden(
                "this node holds no pseudonym key: each provider pseudonymises its patients with its own key, so no other member can look a patient up by identifier (or confirm a guessed one); ask by record ID, or through a patient grant (GET /v1/grants)".into(),
            )
        })
    }

    fn writer(&self) -> Result<&Author, ServiceError> {
        self.author.as_ref().ok_or_else(|| {
            ServiceError::Forbidden(
                "this is an auditor node: it reads every chain and writes to none".into(),
            )
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
        self.audit_reads(actor, &[(record, patient, version)])
    }

    /// Records several reads by `actor` at once: their access entries share blocks (a patient's
    /// hundred records are one or two blocks, not a hundred commits one after another).
    fn audit_reads(
        &self,
        actor: &str,
        reads: &[(RecordId, PatientRef, EntryRef)],
    ) -> Result<(), ServiceError> {
        match (&self.audit, &self.author) {
            (AuditTrail::Off, _) => Ok(()),
            (AuditTrail::Chain, Some(author)) => {
                let drafts = reads
                    .iter()
                    .map(|(record, patient, version)| EntryDraft {
                        kind: EntryKind::Access,
                        record: Some(*record),
                        patient: *patient,
                        actor: actor.to_owned(),
                        payload: None,
                        parents: vec![Parent::Entry(*version)],
                        terms: None,
                    })
                    .collect();
                // Through the batcher: concurrent reads (and writes) share blocks.
                let written = self.batcher.write_many(drafts, |drafts| {
                    Ok(batch::placed(&self.author(author, drafts)?))
                });
                written.into_iter().try_for_each(|w| w.map(drop))
            }
            (AuditTrail::Chain, None) => Err(ServiceError::Unavailable(
                "on-chain audit needs a provider node".into(),
            )),
            (AuditTrail::LocalLog(log), _) => {
                reads.iter().try_for_each(|(record, patient, version)| {
                    log.append(actor, *record, *patient, *version, (self.clock)())
                        .map_err(|e| ServiceError::Unavailable(format!("audit log: {e}")))
                })
            }
        }
    }

    /// Runs the verifier now. The scan runs without the ledger's lock (a scan of a large store
    /// takes seconds, and writes must not wait for it); a clean result is recorded at once.
    /// Anything else is scanned again under the lock, where no write races it, before the
    /// caller acts on it: a block committed mid-scan must not look like damage.
    pub fn verify(&self) -> Result<Report, ServiceError> {
        let clock = self.clock;
        let trust = self.ledger().trust().clone();
        let started = clock();
        if let Ok(mut report) = medchain_chain::verifier::scan(self.reads.store(), &trust, started)
            && report.is_clean()
        {
            self.ledger().keep_report(&mut report, clock())?;
            return Ok(report);
        }
        Ok(self.ledger().verify(clock(), clock)?)
    }
}

#[cfg(test)]
pub(crate) mod tests;
