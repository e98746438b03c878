//! Who may read a record's payloads, as the record's own chain says: its grants, revokes and
//! erasures.
//!
//! Only the chain that created a record can grant, revoke or erase it (the protocol's rule: such
//! an entry names the record's creating entry, on its own chain, as its one parent). So one
//! chain's entries about one patient decide, for every entry of that chain:
//!
//! - **Erased**: an erase covering the entry's record (the record itself, or all of the
//!   patient's records) comes after the entry. Its data key is destroyed everywhere.
//! - **Open** to an organisation: the latest grant or revoke to that organisation that covers the
//!   record is a grant. A record-level revoke after a patient grant closes that one record; a
//!   patient grant after it opens it again.
//! - **Closed** otherwise.
//!
//! The owner decides with this before releasing a key, and a grantee with the same function
//! (over its verified copy of the owner's chain) decides which keys to fetch and which to
//! delete, so both read the same entries the same way.

use std::collections::HashMap;

use medchain_protocol::{Block, ChainId, Entry, EntryKind, EntryRef, PatientRef, RecordId};
use medchain_store::{StoreError, StoreReader};

use crate::reads::Reads;

/// A grant, revoke or erase entry of one chain, as the decision reads it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TermsEntry {
    /// Where it is.
    pub at: EntryRef,
    /// Grant, revoke or erase.
    pub kind: EntryKind,
    /// The record it names.
    pub record: RecordId,
    /// The organisation a grant or revoke names.
    pub to: Option<String>,
    /// Whether it covers every record of the patient at this provider.
    pub whole_patient: bool,
    /// Who wrote it (the provider's staff or system identifier).
    pub actor: String,
    /// The time of its block, ms since the Unix epoch.
    pub time_ms: u64,
}

impl TermsEntry {
    fn of(at: EntryRef, entry: &Entry, block: &Block) -> Option<Self> {
        let terms = entry.terms.as_ref()?;
        entry.kind.has_terms().then(|| Self {
            at,
            kind: entry.kind,
            record: entry.record,
            to: terms.to.clone(),
            whole_patient: terms.whole_patient,
            actor: entry.actor.clone(),
            time_ms: block.header.time_ms,
        })
    }

    /// Whether it is about `record` (by name, or as one of its patient's records).
    pub fn covers(&self, record: &RecordId) -> bool {
        self.whole_patient || self.record == *record
    }
}

/// What a chain's entries say about one entry's payload key for one organisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// A grant in force opens it.
    Open,
    /// No grant in force opens it.
    Closed,
    /// It is erased: no key exists any more, for anyone.
    Erased,
}

/// Every grant, revoke and erase entry of one chain about one patient, in chain order.
#[derive(Clone, Debug, Default)]
pub struct PatientTerms {
    entries: Vec<TermsEntry>,
}

impl PatientTerms {
    /// The entries of `chain` about `patient`, from the `terms` index, each read back from its
    /// signature-checked block (the index is a lookup aid: an entry that is not a terms entry
    /// of this patient is ignored).
    pub fn read(reads: &Reads, chain: &ChainId, patient: &PatientRef) -> Result<Self, StoreError> {
        // The index is on a disk an attacker may own: a key naming another chain's position, or
        // one position twice, must not reorder the decision. Only this chain's positions count,
        // each once, in chain order.
        let mut refs = reads.store().terms_entries(chain, patient)?;
        refs.retain(|at| at.chain == *chain);
        refs.sort_unstable();
        refs.dedup();
        let mut entries = Vec::with_capacity(refs.len());
        let mut block: Option<Block> = None;
        for at in refs {
            if block.as_ref().is_none_or(|b| b.header.height != at.height) {
                block = reads.block_at(chain, at.height)?;
            }
            let Some(b) = &block else { continue };
            let found = b
                .entries
                .get(at.index as usize)
                .filter(|e| e.patient == *patient)
                .and_then(|e| TermsEntry::of(at, e, b));
            entries.extend(found);
        }
        Ok(Self { entries })
    }

    /// Whether the chain holds none (the usual case).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in chain order.
    pub fn covering_all(&self) -> impl Iterator<Item = &TermsEntry> {
        self.entries.iter()
    }

    /// The entries covering `record`, in chain order.
    pub fn covering<'a>(&'a self, record: &'a RecordId) -> impl Iterator<Item = &'a TermsEntry> {
        self.entries.iter().filter(move |t| t.covers(record))
    }

    /// Whether the payload of the entry at `at` (of `record`) is erased. Only an entry of the
    /// erasing chain itself is: another provider's version of the record (an amend on its own
    /// chain) is that provider's payload, and positions on two chains do not compare.
    pub fn erased(&self, at: &EntryRef, record: &RecordId) -> bool {
        self.covering(record).any(|t| {
            t.kind == EntryKind::Erase
                && t.at.chain == at.chain
                && (t.at.height, t.at.index) > (at.height, at.index)
        })
    }

    /// Whether a grant in force opens `record` to `org`.
    pub fn open_to(&self, record: &RecordId, org: &str) -> bool {
        self.covering(record)
            .filter(|t| t.to.as_deref() == Some(org))
            .filter(|t| matches!(t.kind, EntryKind::Grant | EntryKind::Revoke))
            .last()
            .is_some_and(|t| t.kind == EntryKind::Grant)
    }

    /// The standing of the entry at `at` (of `record`) for `org`.
    pub fn standing(&self, at: &EntryRef, record: &RecordId, org: &str) -> Standing {
        if self.erased(at, record) {
            Standing::Erased
        } else if self.open_to(record, org) {
            Standing::Open
        } else {
            Standing::Closed
        }
    }

    /// The organisations `record` is open to, each with the grant that opens it (the latest).
    pub fn in_force<'a>(&'a self, record: &'a RecordId) -> Vec<&'a TermsEntry> {
        let mut orgs: Vec<&str> = self
            .covering(record)
            .filter_map(|t| t.to.as_deref())
            .collect();
        orgs.sort_unstable();
        orgs.dedup();
        orgs.into_iter()
            .filter(|org| self.open_to(record, org))
            .filter_map(|org| {
                self.covering(record)
                    .filter(|t| t.kind == EntryKind::Grant && t.to.as_deref() == Some(org))
                    .last()
            })
            .collect()
    }
}

/// Every erase entry of one chain, for the scans that must treat an erased payload as absent by
/// design (the verifier, the fetch of missing payloads): never a payload to fetch, never a
/// violation. Built from the `terms` index and the blocks it names (an index key planted to name
/// another entry is ignored: only erase entries count); empty for nearly every chain.
#[derive(Clone, Debug, Default)]
pub struct Erasures {
    /// (Record, patient) -> the position of its latest erase (the patient as the decision
    /// reads it: only an erase about the entry's own patient covers it).
    records: HashMap<(RecordId, PatientRef), (u64, u32)>,
    /// Patient -> the position of the latest erase of all of its records.
    patients: HashMap<PatientRef, (u64, u32)>,
}

impl Erasures {
    /// The erase entries of `chain` this store holds.
    pub fn of_chain(store: &StoreReader, chain: &ChainId) -> Result<Self, StoreError> {
        let mut erasures = Self::default();
        let mut block: Option<Block> = None;
        let mut refs: Vec<EntryRef> = store
            .terms_entries_of_chain(chain)?
            .into_iter()
            .map(|(_, at)| at)
            .filter(|at| at.chain == *chain)
            .collect();
        refs.sort_unstable();
        refs.dedup();
        for at in refs {
            if block.as_ref().is_none_or(|b| b.header.height != at.height) {
                block = store.block_at(chain, at.height)?;
            }
            let Some(entry) = block
                .as_ref()
                .and_then(|b| b.entries.get(at.index as usize))
                .filter(|e| e.kind == EntryKind::Erase)
            else {
                continue;
            };
            let position = (at.height, at.index);
            let whole = entry.terms.as_ref().is_some_and(|t| t.whole_patient);
            let latest = if whole {
                erasures.patients.entry(entry.patient).or_default()
            } else {
                erasures
                    .records
                    .entry((entry.record, entry.patient))
                    .or_default()
            };
            *latest = (*latest).max(position);
        }
        Ok(erasures)
    }

    /// Whether the chain erases nothing.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.patients.is_empty()
    }

    /// Whether the payload of `entry`, at `at` on this chain, is erased.
    pub fn erased(&self, at: &EntryRef, entry: &Entry) -> bool {
        let after = |erase: Option<&(u64, u32)>| erase.is_some_and(|e| *e > (at.height, at.index));
        entry.payload.is_some()
            && (after(self.records.get(&(entry.record, entry.patient)))
                || after(self.patients.get(&entry.patient)))
    }
}

/// Where `record` was created: the entry among its indexed ones whose position its ID is
/// derived from (no entry read needed). `None` when this node holds none of it.
pub fn creating_entry(reads: &Reads, record: &RecordId) -> Result<Option<EntryRef>, StoreError> {
    Ok(reads
        .store()
        .record_entries(record)?
        .into_iter()
        .find(|at| RecordId::derive(&at.chain, at.height, at.index) == *record))
}

#[cfg(test)]
mod tests;
