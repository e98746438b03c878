//! The service's reads: a record, its history, a patient's records, a record's accesses,
//! chains, blocks, evidence, reports. They go through `chain::Reads` (signature-checked blocks)
//! on a store reader, never take the ledger's lock, and are refused while the store cannot be
//! vouched for; a read that meets damage asks for a scan at once. Record reads are audited.

use medchain_chain::provenance::{self, History, Limits, MAX_COUNTED_ACCESSES, Version};
use medchain_chain::{OpenError, Report};
use medchain_protocol::identity::org_of;
use medchain_protocol::{
    Block, ChainId, EntryKind, EntryRef, EquivocationEvidence, PatientRef, RecordId,
};

use medchain_requests::PatientQuery;
use medchain_store::StoreError;

use super::{
    AccessPage, AccessView, ChainView, MAX_BLOCKS_PER_LISTING, PatientRecord, RecordView, Service,
    ServiceError,
};

impl Service {
    /// A store error met by a read: damage asks for a scan at once (the verifier quarantines
    /// and repairs it); the read answers 503 meanwhile.
    pub(super) fn read_failed(&self, error: impl Into<ServiceError>) -> ServiceError {
        let error = error.into();
        let damaged_payload = match &error {
            ServiceError::Store(StoreError::Corrupt(corruption)) => corruption.damaged_payload(),
            _ => None,
        };
        if let Some(key) = damaged_payload {
            // A damaged payload is fetched again by hash; a scan could do nothing more.
            tracing::error!(payload = %key, "a read met a damaged payload: fetching it from peers");
            self.coordination.wanted_payloads().add_read_damage([key]);
            self.coordination.request_repair();
        } else if let ServiceError::Store(e) = &error
            && e.is_corruption()
        {
            tracing::error!(error = %e, "a read met damage in the store: scanning now");
            self.coordination.integrity().request_scan();
        }
        error
    }

    /// The latest version of a record, with its payload; the read is audited.
    pub fn record(&self, record: RecordId, actor: &str) -> Result<RecordView, ServiceError> {
        self.coordination.integrity().check()?;
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
        // Grants, revokes and erasures are in the record's history, but are not its content.
        let latest = node
            .versions
            .iter()
            .rev()
            .find(|v| !v.kind.has_terms())
            .cloned()
            .ok_or_else(|| {
                ServiceError::NotFound(format!("record {record} has no versions here"))
            })?;
        let patient = self.patient_of(&latest.at)?;
        self.refuse_erased(&record, &patient, &latest.at)?;
        let (payload, payload_note) = self.payload_json(&latest)?;
        self.audit_read(actor, record, patient, latest.at)?;
        Ok(RecordView {
            record,
            patient,
            versions: node.versions.iter().filter(|v| !v.kind.has_terms()).count(),
            disposed: node.disposed,
            latest,
            payload,
            payload_note,
        })
    }

    /// 410 if the payload of the version at `at` (of `record`, about `patient`) is erased.
    fn refuse_erased(
        &self,
        record: &RecordId,
        patient: &PatientRef,
        at: &EntryRef,
    ) -> Result<(), ServiceError> {
        let Some(created) = medchain_chain::grants::creating_entry(&self.reads, record)
            .map_err(|e| self.read_failed(e))?
        else {
            return Ok(());
        };
        if self.terms_of(&created.chain, patient)?.erased(at, record) {
            return Err(ServiceError::Gone(format!(
                "record {record} is erased: its payloads can no longer be read by anyone"
            )));
        }
        Ok(())
    }

    /// The history of a record across chains; the read is audited.
    pub fn history(&self, record: RecordId, actor: &str) -> Result<History, ServiceError> {
        self.coordination.integrity().check()?;
        let history = self.history_of(record, Limits::default())?;
        let latest = history
            .records
            .first()
            .and_then(|n| n.versions.iter().rev().find(|v| !v.kind.has_terms()));
        if let Some(latest) = latest {
            let patient = self.patient_of(&latest.at)?;
            self.audit_read(actor, record, patient, latest.at)?;
        }
        Ok(history)
    }

    pub(super) fn history_of(
        &self,
        record: RecordId,
        limits: Limits,
    ) -> Result<History, ServiceError> {
        provenance::history(&self.reads, record, limits).map_err(|e| self.read_failed(e))
    }

    /// Every record of a patient (by identifier, pseudonymised here); the read is audited.
    pub fn patient_records(
        &self,
        query: &PatientQuery,
        actor: &str,
    ) -> Result<Vec<PatientRecord>, ServiceError> {
        self.coordination.integrity().check()?;
        let patient = query.pseudonym(self.pseudonym_key()?)?;
        let refs = self
            .reads
            .store()
            .patient_entries(&patient)
            .map_err(|e| self.read_failed(e))?;
        let mut records: Vec<PatientRecord> = Vec::new();
        let mut position: std::collections::HashMap<RecordId, usize> = Default::default();
        // Each block once: a patient's entries (their reads' access entries above all) share
        // blocks.
        let mut block: Option<Block> = None;
        for at in refs {
            let held = block
                .as_ref()
                .is_some_and(|b| b.header.chain == at.chain && b.header.height == at.height);
            if !held {
                block = self
                    .reads
                    .block_at(&at.chain, at.height)
                    .map_err(|e| self.read_failed(e))?;
            }
            // The index is a lookup aid, not the truth: an entry planted in it (or left by
            // damage) must not show one patient's record under another.
            let Some(entry) = block
                .as_ref()
                .and_then(|b| b.entries.get(at.index as usize))
            else {
                continue;
            };
            if entry.patient != patient || entry.kind == EntryKind::Access || entry.kind.has_terms()
            {
                continue;
            }
            match position.get(&entry.record) {
                Some(&i) => records[i].entries.push(at),
                None => {
                    position.insert(entry.record, records.len());
                    records.push(PatientRecord {
                        record: entry.record,
                        entries: vec![at],
                    });
                }
            }
        }
        let reads: Vec<_> = records
            .iter()
            .filter_map(|r| r.entries.last().map(|last| (r.record, patient, *last)))
            .collect();
        self.audit_reads(actor, &reads)?;
        Ok(records)
    }

    pub(super) fn entry(
        &self,
        at: &EntryRef,
    ) -> Result<Option<medchain_protocol::Entry>, ServiceError> {
        let block = self
            .reads
            .block_at(&at.chain, at.height)
            .map_err(|e| self.read_failed(e))?;
        Ok(block.and_then(|b| b.entries.get(at.index as usize).cloned()))
    }

    fn patient_of(&self, at: &EntryRef) -> Result<PatientRef, ServiceError> {
        self.entry(at)?
            .map(|e| e.patient)
            .ok_or_else(|| ServiceError::NotFound(format!("entry {at} is not held here")))
    }

    /// The payload of `version`, opened with this node's data key: the JSON, or a note saying
    /// why there is none. No key for it is a refusal (403): this node holds the ciphertext and
    /// verifies it, but only the author, or a member it granted, reads it.
    fn payload_json(
        &self,
        version: &Version,
    ) -> Result<(Option<serde_json::Value>, Option<&'static str>), ServiceError> {
        if version.payload.is_none() {
            return Ok((None, Some("this version carries no payload")));
        }
        let entry = self.entry(&version.at)?.ok_or_else(|| {
            ServiceError::NotFound(format!("entry {} is not held here", version.at))
        })?;
        match self.keys.open(self.reads.store(), &version.at, &entry) {
            Ok(plaintext) => Ok(match serde_json::from_slice(&plaintext) {
                Ok(json) => (Some(json), None),
                Err(_) => (None, Some("payload is not JSON")),
            }),
            Err(OpenError::NoKey) => {
                // Not a read (nothing was disclosed), so no access entry; but an attempt a
                // privacy officer may want to see.
                tracing::warn!(record = %entry.record, entry = %version.at, "read refused: this node holds no key for the record's payload");
                Err(ServiceError::Forbidden(format!(
                    "record {}: this node holds no key for its payload; only the provider that wrote it, or a member it granted access, can read it",
                    entry.record
                )))
            }
            Err(OpenError::NotHeld) => Ok((None, Some("payload not yet fetched by this node"))),
            Err(OpenError::NoPayload) => Ok((None, Some("this version carries no payload"))),
            Err(OpenError::Store(e)) => Err(self.read_failed(e)),
            Err(OpenError::Release(e)) => Err(ServiceError::Failed(e.to_string())),
            Err(OpenError::Key(e)) => {
                tracing::error!(entry = %version.at, error = %e, "a data key does not open its payload: the key store is damaged");
                Err(ServiceError::Failed(format!(
                    "the data key of entry {} does not open its payload ({e}): this node's key store is damaged",
                    version.at
                )))
            }
        }
    }

    /// Every chain this node holds, with its provider organisation.
    pub fn chains(&self) -> Result<Vec<ChainView>, ServiceError> {
        let store = self.reads.store();
        let mut out = Vec::new();
        for head in store.heads()? {
            let org = store
                .block_at(&head.chain, 0)?
                .and_then(|g| g.certificate)
                .as_deref()
                .and_then(org_of);
            let key_backups = store.key_backup_count(&head.chain);
            out.push(ChainView {
                head,
                org,
                key_backups,
            });
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
        self.coordination.integrity().check()?;
        self.reads
            .blocks_range(chain, from, limit.min(MAX_BLOCKS_PER_LISTING))
            .map_err(|e| self.read_failed(e))
    }

    /// One page of a record's access entries after `after`, each with who read which version
    /// and when; and where the next page starts (`None` at the end).
    pub fn accesses(
        &self,
        record: RecordId,
        after: Option<EntryRef>,
        limit: usize,
    ) -> Result<AccessPage, ServiceError> {
        self.coordination.integrity().check()?;
        let store = self.reads.store();
        let refs = store
            .access_entries(&record, after.as_ref(), limit)
            .map_err(|e| self.read_failed(e))?;
        let counted = store
            .access_count(&record, MAX_COUNTED_ACCESSES + 1)
            .map_err(|e| self.read_failed(e))?;
        let mut accesses = Vec::with_capacity(refs.len());
        for at in &refs {
            let block = self
                .reads
                .block_at(&at.chain, at.height)
                .map_err(|e| self.read_failed(e))?;
            let Some((entry, time_ms)) = block.and_then(|b| {
                let time = b.header.time_ms;
                b.entries.get(at.index as usize).cloned().map(|e| (e, time))
            }) else {
                continue;
            };
            // The index is a lookup aid: only an access entry of this very record counts.
            if entry.kind != EntryKind::Access || entry.record != record {
                continue;
            }
            accesses.push(AccessView {
                at: *at,
                actor: entry.actor,
                time_ms,
                version: entry.parents.first().copied(),
            });
        }
        let next = (refs.len() == limit)
            .then(|| refs.last().map(ToString::to_string))
            .flatten();
        Ok(AccessPage {
            record,
            total: counted.min(MAX_COUNTED_ACCESSES),
            total_at_least: counted > MAX_COUNTED_ACCESSES,
            accesses,
            next,
        })
    }

    /// One page of the equivocation evidence held (see `StoreReader::evidence_page`).
    #[allow(clippy::type_complexity)]
    pub fn evidence_page(
        &self,
        after: Option<(ChainId, u64)>,
        limit: usize,
    ) -> Result<(Vec<EquivocationEvidence>, Option<(ChainId, u64)>), ServiceError> {
        Ok(self.reads.store().evidence_page(after, limit)?)
    }

    /// The last `limit` quarantine events (blocks moved aside as damaged, and whether they came
    /// back from peers), newest first.
    pub fn quarantines(
        &self,
        limit: usize,
    ) -> Result<Vec<medchain_store::QuarantineEvent>, ServiceError> {
        Ok(self.reads.store().recent_quarantine_events(limit)?)
    }

    /// Past verifier reports, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<Report>, ServiceError> {
        Ok(medchain_chain::stored_report::past_reports(
            self.reads.store(),
            limit,
        )?)
    }
}
