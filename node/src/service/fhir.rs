//! What the FHIR endpoints read (`api/fhir` maps it to resources): a record's entries with their
//! signed blocks (Provenance), and its access entries with theirs (AuditEvent). Every entry is
//! read from a signature-checked block; the organisation is that of the block's signer.

use std::collections::HashMap;

use medchain_chain::provenance::Limits;
use medchain_protocol::identity::org_of;
use medchain_protocol::{Block, BlockHash, CertHash, Entry, EntryKind, EntryRef, RecordId};

use super::{Service, ServiceError};

/// An entry with the facts of the block that holds it.
#[derive(Clone, Debug)]
pub struct SignedEntry {
    /// Where it is.
    pub at: EntryRef,
    /// The entry.
    pub entry: Entry,
    /// Its block's time (ms since the epoch, as the signer stated it).
    pub time_ms: u64,
    /// Its block's hash.
    pub block: BlockHash,
    /// The block's Ed25519 signature.
    pub signature: [u8; 64],
    /// The signer's organisation, from its certificate.
    pub org: Option<String>,
}

/// Organisations by certificate, read once per request.
type Orgs = HashMap<CertHash, Option<String>>;

impl Service {
    /// Every entry of `record` but its access entries (create, amend, derive, merge, dispose,
    /// grant, revoke, erase), in chain order, each with its block's facts. A history read:
    /// audited like one.
    pub fn record_entries(
        &self,
        record: RecordId,
        actor: &str,
    ) -> Result<Vec<SignedEntry>, ServiceError> {
        self.coordination.integrity().check()?;
        let limits = Limits {
            max_depth: 0,
            max_records: 1,
        };
        let history = self.history_of(record, limits)?;
        let node =
            history.records.into_iter().next().ok_or_else(|| {
                ServiceError::NotFound(format!("record {record} is not known here"))
            })?;
        let mut orgs = Orgs::new();
        let mut entries = Vec::with_capacity(node.versions.len());
        for version in &node.versions {
            if let Some(signed) = self.signed_entry(&version.at, &mut orgs)? {
                entries.push(signed);
            }
        }
        let latest = entries.iter().rev().find(|e| !e.entry.kind.has_terms());
        if let Some(latest) = latest {
            self.audit_read(actor, record, latest.entry.patient, latest.at)?;
        }
        Ok(entries)
    }

    /// One page of `record`'s access entries after `after` (at most `limit`), each with its
    /// block's facts, and where the next page starts.
    pub fn record_accesses(
        &self,
        record: RecordId,
        after: Option<EntryRef>,
        limit: usize,
    ) -> Result<(Vec<SignedEntry>, Option<EntryRef>), ServiceError> {
        self.coordination.integrity().check()?;
        let refs = self
            .reads
            .store()
            .access_entries(&record, after.as_ref(), limit)
            .map_err(|e| self.read_failed(e))?;
        let mut orgs = Orgs::new();
        let mut accesses = Vec::with_capacity(refs.len());
        for at in &refs {
            let Some(signed) = self.signed_entry(at, &mut orgs)? else {
                continue;
            };
            // The index is a lookup aid: only what the block says counts.
            if signed.entry.kind == EntryKind::Access && signed.entry.record == record {
                accesses.push(signed);
            }
        }
        let next = (refs.len() == limit)
            .then(|| refs.last().copied())
            .flatten();
        Ok((accesses, next))
    }

    /// The entry at `at` with its block's facts, if held.
    fn signed_entry(
        &self,
        at: &EntryRef,
        orgs: &mut Orgs,
    ) -> Result<Option<SignedEntry>, ServiceError> {
        let Some(block) = self
            .reads
            .block_at(&at.chain, at.height)
            .map_err(|e| self.read_failed(e))?
        else {
            return Ok(None);
        };
        let Some(entry) = block.entries.get(at.index as usize).cloned() else {
            return Ok(None);
        };
        let org = match orgs.get(&block.header.cert) {
            Some(org) => org.clone(),
            None => {
                let org = self.signer_org(&block)?;
                orgs.insert(block.header.cert, org.clone());
                org
            }
        };
        Ok(Some(SignedEntry {
            at: *at,
            entry,
            time_ms: block.header.time_ms,
            block: block.hash(),
            signature: block.signature.0,
            org,
        }))
    }

    /// The organisation of `block`'s signer, from the certificate it carries or names.
    fn signer_org(&self, block: &Block) -> Result<Option<String>, ServiceError> {
        let der = self
            .reads
            .certificate_of(block)
            .map_err(|e| self.read_failed(e))?;
        Ok(der.as_deref().and_then(org_of))
    }
}
