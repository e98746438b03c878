//! Grants as the owner of a record sees them: granting and revoking read access to a record (or
//! to all of its patient's records here), erasing it, and listing what is in force.
//!
//! A grant or revoke is an entry on our own chain, written like any other (signed, replicated,
//! in the record's history): who granted what to whom, when. Releasing the keys a grant opens
//! is `key_release`'s.

use medchain_chain::EntryDraft;
use medchain_chain::grants::{PatientTerms, TermsEntry, creating_entry};
use medchain_protocol::entry::is_printable_text;
use medchain_protocol::identity::org_of;
use medchain_protocol::limits::MAX_ORG_LEN;
use medchain_protocol::{ChainId, Entry, EntryKind, EntryRef, Parent, PatientRef, RecordId, Terms};
use serde::Serialize;

use super::{Service, ServiceError, batch};

/// A grant or revoke written: `POST /v1/records/{id}/grants`, `DELETE .../grants/{org}`.
#[derive(Debug, Serialize)]
pub struct TermsWritten {
    /// The record named.
    pub record: RecordId,
    /// grant, revoke or erase.
    pub kind: EntryKind,
    /// The organisation it names (grant, revoke).
    pub to: Option<String>,
    /// Whether it covers all of the patient's records at this provider.
    pub patient: bool,
    /// Where the entry is.
    pub entry: EntryRef,
    /// The block holding it, flushed before this answer.
    pub block: medchain_protocol::BlockHash,
}

/// `GET /v1/records/{id}/grants`.
#[derive(Debug, Serialize)]
pub struct GrantsView {
    /// The record.
    pub record: RecordId,
    /// The chain that created it, whose entries alone decide who reads it.
    pub owner: ChainId,
    /// The grants in force: one per organisation the record is open to.
    pub in_force: Vec<TermsEntry>,
    /// Every grant, revoke and erase entry covering the record, in chain order.
    pub entries: Vec<TermsEntry>,
}

/// What a grant, revoke or erase asks for.
#[derive(Debug)]
pub struct TermsRequest {
    /// The record named (by the path).
    pub record: RecordId,
    /// The organisation, for a grant or revoke.
    pub to: Option<String>,
    /// All of the patient's records at this provider, not only this one.
    pub whole_patient: bool,
    /// Who acts.
    pub actor: String,
}

impl Service {
    /// The record's creating entry and that entry, refused unless our own chain created it.
    fn own_record(&self, record: &RecordId) -> Result<(EntryRef, Entry), ServiceError> {
        let own = self.own_chain().ok_or_else(|| {
            ServiceError::Forbidden("this is an auditor node: it grants nothing".into())
        })?;
        let created = creating_entry(&self.reads, record)
            .map_err(|e| self.read_failed(e))?
            .ok_or_else(|| ServiceError::NotFound(format!("record {record} is not known here")))?;
        if created.chain != own {
            return Err(ServiceError::Forbidden(format!(
                "record {record} was created by another provider: only its own provider grants, revokes or erases it"
            )));
        }
        let entry = self
            .entry(&created)?
            .ok_or_else(|| ServiceError::NotFound(format!("record {record} is not held here")))?;
        Ok((created, entry))
    }

    /// The terms entries of our chain about `patient`.
    pub(super) fn terms_of(
        &self,
        chain: &ChainId,
        patient: &PatientRef,
    ) -> Result<PatientTerms, ServiceError> {
        PatientTerms::read(&self.reads, chain, patient).map_err(|e| self.read_failed(e))
    }

    /// Grants `request.to` read access to the record (or to all of its patient's records
    /// here): a grant entry on our chain.
    pub fn grant(&self, request: TermsRequest) -> Result<TermsWritten, ServiceError> {
        self.coordination.integrity().check()?;
        let author = self.writer()?;
        let org = request
            .to
            .as_deref()
            .ok_or_else(|| ServiceError::BadRequest("a grant names an organisation".into()))?;
        let (created, entry) = self.own_record(&request.record)?;
        self.check_grantee(org)?;
        let terms = self.terms_of(&created.chain, &entry.patient)?;
        if terms.erased(&created, &request.record) {
            return Err(ServiceError::Gone(format!(
                "record {} is erased: there is nothing left to grant",
                request.record
            )));
        }
        self.write_terms(author, EntryKind::Grant, request, created, entry.patient)
    }

    /// Revokes `request.to`'s access to the record (or, with `whole_patient`, to all of its
    /// patient's records here): a revoke entry on our chain. No key is released after it, and
    /// the grantee deletes the keys it holds when the entry reaches it.
    pub fn revoke(&self, request: TermsRequest) -> Result<TermsWritten, ServiceError> {
        self.coordination.integrity().check()?;
        let author = self.writer()?;
        let org = request.to.as_deref().unwrap_or_default();
        let (created, entry) = self.own_record(&request.record)?;
        let terms = self.terms_of(&created.chain, &entry.patient)?;
        let granted = terms
            .in_force(&request.record)
            .into_iter()
            .any(|t| t.to.as_deref() == Some(org) && (!request.whole_patient || t.whole_patient));
        if !granted {
            return Err(ServiceError::NotFound(format!(
                "no {}grant to {org:?} is in force on record {}",
                if request.whole_patient {
                    "patient "
                } else {
                    ""
                },
                request.record
            )));
        }
        self.write_terms(author, EntryKind::Revoke, request, created, entry.patient)
    }

    /// Erases the record's payloads (or, with `whole_patient`, those of all of its patient's
    /// records here): an erase entry on our chain. Our own data keys of the erased entries are
    /// deleted once it is committed, and every node that holds a copy deletes it when the
    /// entry reaches it; from then on the payloads read 410 everywhere.
    pub fn erase(&self, mut request: TermsRequest) -> Result<TermsWritten, ServiceError> {
        self.coordination.integrity().check()?;
        let author = self.writer()?;
        request.to = None;
        let (created, entry) = self.own_record(&request.record)?;
        if !request.whole_patient {
            let terms = self.terms_of(&created.chain, &entry.patient)?;
            // Erased already, and no version written since: nothing is left to erase.
            if self.latest_version_erased(&request.record, &terms)? {
                return Err(ServiceError::Gone(format!(
                    "record {} is erased already",
                    request.record
                )));
            }
        }
        self.write_terms(author, EntryKind::Erase, request, created, entry.patient)
    }

    /// Whether the record's latest version is covered by an erase.
    fn latest_version_erased(
        &self,
        record: &RecordId,
        terms: &PatientTerms,
    ) -> Result<bool, ServiceError> {
        let latest = self
            .reads
            .store()
            .record_entries(record)
            .map_err(|e| self.read_failed(e))?
            .into_iter()
            .rfind(|at| !terms.covering(record).any(|t| t.at == *at));
        Ok(latest.is_none_or(|at| terms.erased(&at, record)))
    }

    /// Writes one grant, revoke or erase entry naming the record's creating entry.
    pub(super) fn write_terms(
        &self,
        author: &medchain_chain::Author,
        kind: EntryKind,
        request: TermsRequest,
        created: EntryRef,
        patient: PatientRef,
    ) -> Result<TermsWritten, ServiceError> {
        let draft = EntryDraft {
            kind,
            record: Some(request.record),
            patient,
            actor: request.actor,
            payload: None,
            parents: vec![Parent::Entry(created)],
            terms: Some(Terms {
                to: request.to.clone(),
                whole_patient: request.whole_patient,
            }),
        };
        let (record, entry, block) = self.batcher.write(draft, |drafts| {
            Ok(batch::placed(&self.author(author, drafts)?))
        })?;
        tracing::info!(%record, kind = %kind, org = request.to.as_deref().unwrap_or("-"), whole_patient = request.whole_patient, %entry, "access terms written");
        Ok(TermsWritten {
            record,
            kind,
            to: request.to,
            patient: request.whole_patient,
            entry,
            block,
        })
    }

    /// `to` must be another member's organisation that this node knows: a provider with a
    /// chain here, or a member admitted as a peer this run (an auditor has no chain).
    fn check_grantee(&self, to: &str) -> Result<(), ServiceError> {
        if !is_printable_text(to, MAX_ORG_LEN) {
            return Err(ServiceError::BadRequest(format!(
                "the organisation must be 1 to {MAX_ORG_LEN} bytes of printable text"
            )));
        }
        if self.member_org.as_deref() == Some(to) {
            return Err(ServiceError::BadRequest(
                "this is our own organisation: its node reads its own records already".into(),
            ));
        }
        if !self.member_orgs()?.iter().any(|o| o == to) {
            return Err(ServiceError::BadRequest(format!(
                "no member of organisation {to:?} is known to this node: a provider must have a chain here, an auditor must be connected"
            )));
        }
        Ok(())
    }

    /// The organisations of the members this node knows: providers by the certificates of
    /// their chains' heads, and peers admitted this run.
    pub fn member_orgs(&self) -> Result<Vec<String>, ServiceError> {
        let mut orgs = self
            .peer_orgs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let store = self.reads.store();
        for head in store.heads()? {
            let cert = store
                .block_at(&head.chain, head.height)?
                .and_then(|b| store.certificate(&b.header.cert).transpose())
                .transpose()?;
            orgs.extend(cert.as_deref().and_then(org_of));
        }
        Ok(orgs.into_iter().collect())
    }

    /// Notes the organisation of a member admitted as a peer (an auditor may be granted
    /// access only while this node knows it).
    pub fn note_member(&self, org: String) {
        let mut orgs = self.peer_orgs.lock().unwrap_or_else(|p| p.into_inner());
        if orgs.len() < MAX_NOTED_ORGS {
            orgs.insert(org);
        }
    }

    /// The grants in force on a record and every terms entry covering it.
    pub fn grants(&self, record: RecordId) -> Result<GrantsView, ServiceError> {
        self.coordination.integrity().check()?;
        let created = creating_entry(&self.reads, &record)
            .map_err(|e| self.read_failed(e))?
            .ok_or_else(|| ServiceError::NotFound(format!("record {record} is not known here")))?;
        let entry = self
            .entry(&created)?
            .ok_or_else(|| ServiceError::NotFound(format!("record {record} is not held here")))?;
        let terms = self.terms_of(&created.chain, &entry.patient)?;
        Ok(GrantsView {
            record,
            owner: created.chain,
            in_force: terms.in_force(&record).into_iter().cloned().collect(),
            entries: terms.covering(&record).cloned().collect(),
        })
    }
}

/// Most organisations noted from admitted peers (one per member of the consortium).
const MAX_NOTED_ORGS: usize = 4096;
