//! The secondary indexes: which entries a block implies, the queries over them, and the check of
//! a block's index entries for the verifier.
//!
//! A block implies, for each entry at position `at`: `records[record ‖ at]`,
//! `patients[patient ‖ at]`, and for each parent `prov_down[parent ‖ at]` (an entry's own
//! parents are read from its block: no index of them is kept, schema 5); except an access entry (an audited read), which implies only
//! `accesses[record ‖ at]`, so that a record read a million times reads back as fast as one
//! read once (its versions, its patient's records and its descendants never walk its accesses,
//! and their count is a key count). A grant, revoke or erase entry also implies
//! `terms[chain ‖ patient ‖ at]`, so whether anything opens or erases a patient's records on a
//! chain is one prefix scan, almost always empty. Plus `certificates[H(der)]` when it carries a certificate.
//! All index values are empty: the key is the fact. The commit, the quarantine and the
//! verifier's check all derive these keys from [`implied`], so they cannot disagree.

use medchain_protocol::{
    Block, BlockHash, CertHash, ChainId, EntryKind, EntryRef, Parent, PatientRef, RecordId,
};

use crate::error::{EngineResult, StoreError, bad};
use crate::keys::{self, HASH_LEN, RECORD_LEN};
use crate::open::{StoreReader, Trees, name};
use crate::types::MissingIndex;

/// One of the entry index trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IndexTree {
    Records,
    Patients,
    ProvDown,
    Accesses,
    Terms,
}

impl IndexTree {
    pub(crate) const ALL: [IndexTree; 5] = [
        IndexTree::Records,
        IndexTree::Patients,
        IndexTree::ProvDown,
        IndexTree::Accesses,
        IndexTree::Terms,
    ];

    pub(crate) fn tree(self, trees: &Trees) -> &sled::Tree {
        match self {
            IndexTree::Records => &trees.records,
            IndexTree::Patients => &trees.patients,
            IndexTree::ProvDown => &trees.prov_down,
            IndexTree::Accesses => &trees.accesses,
            IndexTree::Terms => &trees.terms,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            IndexTree::Records => name::RECORDS,
            IndexTree::Patients => name::PATIENTS,
            IndexTree::ProvDown => name::PROV_DOWN,
            IndexTree::Accesses => name::ACCESSES,
            IndexTree::Terms => name::TERMS,
        }
    }

    /// The entry a key of this tree points at, or `None` if the key is malformed.
    pub(crate) fn entry_of(self, key: &[u8]) -> Option<EntryRef> {
        match self {
            IndexTree::Records | IndexTree::Accesses => keys::entry_after(key, RECORD_LEN),
            IndexTree::Patients => keys::entry_after(key, HASH_LEN),
            IndexTree::Terms => keys::entry_after(key, 2 * HASH_LEN),
            IndexTree::ProvDown => keys::prov_down_child(key),
        }
    }
}

/// One index entry a block implies: where, and what to report if it is missing.
pub(crate) struct Implied {
    pub(crate) tree: IndexTree,
    pub(crate) key: Vec<u8>,
    pub(crate) item: MissingIndex,
}

/// Every entry-index entry `block` implies, in block order.
pub(crate) fn implied(block: &Block) -> Vec<Implied> {
    let mut out = Vec::new();
    for (index, entry) in (0u32..).zip(&block.entries) {
        let at = block.entry_ref(index);
        if entry.kind == EntryKind::Access {
            out.push(Implied {
                tree: IndexTree::Accesses,
                key: keys::record_key(&entry.record, &at),
                item: MissingIndex::Access {
                    record: entry.record,
                    at,
                },
            });
            continue;
        }
        out.push(Implied {
            tree: IndexTree::Records,
            key: keys::record_key(&entry.record, &at),
            item: MissingIndex::Record {
                record: entry.record,
                at,
            },
        });
        out.push(Implied {
            tree: IndexTree::Patients,
            key: keys::patient_key(&entry.patient, &at),
            item: MissingIndex::Patient {
                patient: entry.patient,
                at,
            },
        });
        if entry.kind.has_terms() {
            out.push(Implied {
                tree: IndexTree::Terms,
                key: keys::terms_key(&at.chain, &entry.patient, &at),
                item: MissingIndex::Terms {
                    patient: entry.patient,
                    at,
                },
            });
        }
        for parent in &entry.parents {
            out.push(Implied {
                tree: IndexTree::ProvDown,
                key: keys::prov_down_key(parent, &at),
                item: MissingIndex::ChildEdge {
                    parent: *parent,
                    child: at,
                },
            });
        }
    }
    out
}

/// The certificate a block carries, under its content address.
pub(crate) fn carried_certificate(block: &Block) -> Option<(CertHash, &[u8])> {
    block
        .certificate
        .as_deref()
        .map(|der| (CertHash::of(der), der))
}

impl StoreReader {
    /// Where the record's entries are, ascending by (chain, height, index).
    pub fn record_entries(&self, record: &RecordId) -> Result<Vec<EntryRef>, StoreError> {
        self.entries_under(IndexTree::Records, &record.0)
    }

    /// How many access entries (audited reads) the record has, counted in its index up to
    /// `at_most` (a record read a million times costs a read of it `at_most` keys, not a
    /// million; the count says "at least" then).
    pub fn access_count(&self, record: &RecordId, at_most: u64) -> Result<u64, StoreError> {
        let mut count = 0u64;
        for item in self.trees().accesses.scan_prefix(record.0) {
            if count >= at_most {
                break;
            }
            item.engine()?;
            count += 1;
        }
        Ok(count)
    }

    /// At most `limit` of the record's access entries after `after` (from the first if
    /// `None`), ascending by (chain, height, index).
    pub fn access_entries(
        &self,
        record: &RecordId,
        after: Option<&EntryRef>,
        limit: usize,
    ) -> Result<Vec<EntryRef>, StoreError> {
        let start = match after {
            Some(at) => {
                let mut key = keys::record_key(record, at);
                key.push(0); // the smallest key after `at`'s
                key
            }
            None => record.0.to_vec(),
        };
        let mut out = Vec::new();
        for item in self.trees().accesses.range(start..) {
            if out.len() >= limit {
                break;
            }
            let (key, _) = item.engine()?;
            if !key.starts_with(&record.0) {
                break;
            }
            match keys::entry_after(&key, RECORD_LEN) {
                Some(at) => out.push(at),
                None => return Err(bad(name::ACCESSES, &key)),
            }
        }
        Ok(out)
    }

    /// Where the patient's entries are, ascending by (chain, height, index).
    pub fn patient_entries(&self, patient: &PatientRef) -> Result<Vec<EntryRef>, StoreError> {
        self.entries_under(IndexTree::Patients, &patient.0)
    }

    /// The grant, revoke and erase entries of `chain` about `patient` (whether on one record or
    /// on all of the patient's), ascending by position: empty for nearly every patient.
    pub fn terms_entries(
        &self,
        chain: &ChainId,
        patient: &PatientRef,
    ) -> Result<Vec<EntryRef>, StoreError> {
        let prefix = [chain.as_bytes(), &patient.0[..]].concat();
        self.entries_under(IndexTree::Terms, &prefix)
    }

    /// Every grant, revoke and erase entry of `chain`, with its patient, by patient then
    /// position.
    pub fn terms_entries_of_chain(
        &self,
        chain: &ChainId,
    ) -> Result<Vec<(PatientRef, EntryRef)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees().terms.scan_prefix(chain.as_bytes()).keys() {
            let key = item.engine()?;
            let patient = keys::hash32(key.get(HASH_LEN..2 * HASH_LEN).unwrap_or_default());
            match (patient, keys::entry_after(&key, 2 * HASH_LEN)) {
                (Some(patient), Some(at)) => out.push((PatientRef(patient), at)),
                _ => return Err(bad(name::TERMS, &key)),
            }
        }
        Ok(out)
    }

    /// Every (chain, patient) pair with grant, revoke or erase entries, in key order; `None` if
    /// there are more than `at_most`.
    pub fn terms_pairs(
        &self,
        at_most: usize,
    ) -> Result<Option<Vec<(ChainId, PatientRef)>>, StoreError> {
        let mut out: Vec<(ChainId, PatientRef)> = Vec::new();
        for item in self.trees().terms.iter().keys() {
            let key = item.engine()?;
            let pair = keys::hash32(key.get(..HASH_LEN).unwrap_or_default())
                .zip(keys::hash32(
                    key.get(HASH_LEN..2 * HASH_LEN).unwrap_or_default(),
                ))
                .map(|(chain, patient)| (ChainId(chain), PatientRef(patient)))
                .ok_or_else(|| bad(name::TERMS, &key))?;
            if out.last() != Some(&pair) {
                if out.len() == at_most {
                    return Ok(None);
                }
                out.push(pair);
            }
        }
        Ok(Some(out))
    }

    /// The parents `child` names, as its entry lists them; none if its block is not held. Read
    /// from the block: no index keeps them (schema 5 dropped `prov_up`, which no query read).
    pub fn parents_of(&self, child: &EntryRef) -> Result<Vec<Parent>, StoreError> {
        let Some(block) = self.block_at(&child.chain, child.height)? else {
            return Ok(Vec::new());
        };
        let entry = usize::try_from(child.index)
            .ok()
            .and_then(|i| block.entries.get(i));
        Ok(entry.map(|e| e.parents.clone()).unwrap_or_default())
    }

    /// The entries naming `parent` (from `prov_down`), ascending.
    pub fn children_of(&self, parent: &Parent) -> Result<Vec<EntryRef>, StoreError> {
        self.entries_under(IndexTree::ProvDown, &keys::parent_key(parent))
    }

    /// The EntryRefs under `prefix` in a tree whose keys are prefix ‖ EntryRef key.
    fn entries_under(&self, which: IndexTree, prefix: &[u8]) -> Result<Vec<EntryRef>, StoreError> {
        let mut out = Vec::new();
        for item in which.tree(self.trees()).scan_prefix(prefix) {
            let (key, _) = item.engine()?;
            match keys::entry_after(&key, prefix.len()) {
                Some(at) => out.push(at),
                None => return Err(bad(which.name(), &key)),
            }
        }
        Ok(out)
    }

    /// Which of the index entries `block` (stored under `hash`) implies are missing: the chain
    /// index entry (missing or pointing elsewhere), the entry indexes, the carried certificate.
    /// Heads are not checked: a head is the top of the chain index, checked by the verifier.
    pub fn missing_index_entries(
        &self,
        block: &Block,
        hash: &BlockHash,
    ) -> Result<Vec<MissingIndex>, StoreError> {
        let trees = self.trees();
        let mut missing = Vec::new();
        let (chain, height) = (block.header.chain, block.header.height);
        let indexed = trees
            .chain_index
            .get(keys::height_key(&chain, height))
            .engine()?;
        if indexed.as_deref() != Some(hash.as_bytes().as_slice()) {
            missing.push(MissingIndex::ChainIndex { height });
        }
        for entry in implied(block) {
            if !entry.tree.tree(trees).contains_key(&entry.key).engine()? {
                missing.push(entry.item);
            }
        }
        if let Some((cert, der)) = carried_certificate(block)
            && trees.certificates.get(cert.as_bytes()).engine()?.as_deref() != Some(der)
        {
            missing.push(MissingIndex::Certificate { hash: cert });
        }
        Ok(missing)
    }
}
