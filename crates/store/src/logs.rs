//! The append-only logs: equivocation evidence and the verifier's reports.
//!
//! Evidence is keyed by (chain, height, hash of the second block), so the same conflict heard
//! from several peers is stored once and all conflicts at one height sort together. Reports are
//! opaque bytes (the chain crate encodes them) under an increasing sequence number.

use medchain_protocol::limits::MAX_EVIDENCE_BYTES;
use medchain_protocol::{BlockHash, ChainId, EquivocationEvidence, encoding};

use crate::error::{EngineResult, StoreError, bad};
use crate::keys;
use crate::open::{Store, name};

impl Store {
    /// Stores equivocation evidence keyed by (chain, height, second block hash) of the first
    /// header's chain and height; returns true if new. Flushes.
    pub fn put_evidence(&self, evidence: &EquivocationEvidence) -> Result<bool, StoreError> {
        let header = &evidence.first.header;
        let key = keys::evidence_key(&header.chain, header.height, &evidence.second.header.hash());
        let value = encoding::encode(evidence);
        // Compare-and-swap from "absent": atomic, so two threads storing the same evidence
        // cannot both see it as new.
        let swapped =
            self.trees()
                .evidence
                .compare_and_swap(key, None as Option<&[u8]>, Some(value));
        let is_new = swapped.engine()?.is_ok();
        if is_new {
            self.flush()?;
        }
        Ok(is_new)
    }

    /// All stored evidence, by (chain, height, second hash).
    pub fn evidence(&self) -> Result<Vec<EquivocationEvidence>, StoreError> {
        let mut all = Vec::new();
        for item in self.trees().evidence.iter() {
            let (key, value) = item.engine()?;
            let evidence = encoding::decode(&value, MAX_EVIDENCE_BYTES)
                .map_err(|_| bad(name::EVIDENCE, &key))?;
            all.push(evidence);
        }
        Ok(all)
    }

    /// Whether evidence is stored for (chain, height, second block hash).
    pub fn has_evidence(
        &self,
        chain: &ChainId,
        height: u64,
        second: &BlockHash,
    ) -> Result<bool, StoreError> {
        let key = keys::evidence_key(chain, height, second);
        self.trees().evidence.contains_key(key).engine()
    }

    /// Appends an opaque verifier report (the chain crate encodes it); returns its sequence
    /// number (1, 2, ...). Flushes.
    pub fn put_report(&self, report: &[u8]) -> Result<u64, StoreError> {
        let tree = &self.trees().reports;
        let _writer = self.write_guard();
        let seq = next_seq(tree, name::REPORTS)?;
        tree.insert(keys::seq_key(seq), report).engine()?;
        self.flush()?;
        Ok(seq)
    }

    /// At most `limit` reports, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees().reports.iter().rev().take(limit) {
            let (key, value) = item.engine()?;
            let seq = keys::decode_seq(&key).ok_or_else(|| bad(name::REPORTS, &key))?;
            out.push((seq, value.to_vec()));
        }
        Ok(out)
    }
}

/// One more than the last sequence number in `tree` (keys are u64 BE), or 1 in an empty tree.
/// The caller holds the write lock, so two writers cannot take the same number.
pub(crate) fn next_seq(tree: &sled::Tree, tree_name: &'static str) -> Result<u64, StoreError> {
    match tree.last().engine()? {
        None => Ok(1),
        Some((key, _)) => keys::decode_seq(&key)
            .and_then(|last| last.checked_add(1))
            .ok_or_else(|| bad(tree_name, &key)),
    }
}
