//! The append-only logs: equivocation evidence and the verifier's reports.
//!
//! Evidence is keyed by (chain, height, hash of the second block) and kept at most once per
//! (chain, height): one proof that a key signed twice at a height is all anyone needs, and a
//! provider gone rogue cannot fill the store by signing many variants of one height. Listing
//! is by pages in key order. Reports are
//! opaque bytes (the chain crate encodes them) under an increasing sequence number.

use medchain_protocol::limits::MAX_EVIDENCE_BYTES;
use medchain_protocol::{BlockHash, ChainId, EquivocationEvidence, encoding};

use crate::error::{EngineResult, StoreError, bad};
use crate::keys;
use crate::open::{Store, StoreReader, name};

impl Store {
    /// Stores equivocation evidence keyed by (chain, height, second block hash) of the first
    /// header's chain and height, unless evidence for that chain and height is held already;
    /// returns true if new. Flushes.
    pub fn put_evidence(&mut self, evidence: &EquivocationEvidence) -> Result<bool, StoreError> {
        let header = &evidence.first.header;
        let prefix = keys::height_key(&header.chain, header.height);
        if let Some(held) = self.trees().evidence.scan_prefix(prefix).next() {
            held.engine()?;
            return Ok(false);
        }
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
            self.flush_now()?;
        }
        Ok(is_new)
    }

    /// Appends an opaque verifier report (the chain crate encodes it); returns its sequence
    /// number (1, 2, ...). Flushes.
    pub fn put_report(&mut self, report: &[u8]) -> Result<u64, StoreError> {
        let tree = &self.trees().reports;
        let seq = next_seq(tree, name::REPORTS)?;
        tree.insert(keys::seq_key(seq), report).engine()?;
        self.flush_now()?;
        Ok(seq)
    }
}

impl StoreReader {
    /// All stored evidence, by (chain, height). Values that do not decode are passed over (the
    /// verifier sets them aside).
    pub fn evidence(&self) -> Result<Vec<EquivocationEvidence>, StoreError> {
        Ok(self.evidence_page(None, usize::MAX)?.0)
    }

    /// At most `limit` pieces of evidence after the first `skip` (the sync protocol's paging).
    pub fn evidence_skipping(
        &self,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<EquivocationEvidence>, StoreError> {
        let mut page = Vec::new();
        for item in self.trees().evidence.iter().skip(skip) {
            if page.len() >= limit {
                break;
            }
            let (_, value) = item.engine()?;
            if let Ok(evidence) = encoding::decode(&value, MAX_EVIDENCE_BYTES) {
                page.push(evidence);
            }
        }
        Ok(page)
    }

    /// At most `limit` pieces of evidence after (chain, height) `after` (from the start if
    /// `None`), by (chain, height); and the (chain, height) to ask for the next page after, if
    /// there may be more.
    #[allow(clippy::type_complexity)]
    pub fn evidence_page(
        &self,
        after: Option<(ChainId, u64)>,
        limit: usize,
    ) -> Result<(Vec<EquivocationEvidence>, Option<(ChainId, u64)>), StoreError> {
        let start = match after {
            // Every key of (chain, height) starts with its height key: skip past all of them.
            Some((chain, height)) => match height.checked_add(1) {
                Some(next) => keys::height_key(&chain, next).to_vec(),
                None => {
                    let mut key = keys::height_key(&chain, height).to_vec();
                    key.extend_from_slice(&[0xff; 33]);
                    key
                }
            },
            None => Vec::new(),
        };
        let mut page = Vec::new();
        for item in self.trees().evidence.range(start..) {
            let (_, value) = item.engine()?;
            let Ok(evidence) = encoding::decode::<EquivocationEvidence>(&value, MAX_EVIDENCE_BYTES)
            else {
                continue;
            };
            if page.len() == limit {
                let next = page
                    .last()
                    .map(|e: &EquivocationEvidence| (e.first.header.chain, e.first.header.height));
                return Ok((page, next));
            }
            page.push(evidence);
        }
        Ok((page, None))
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

    /// Whether any evidence is held for (chain, height).
    pub fn has_evidence_at(&self, chain: &ChainId, height: u64) -> Result<bool, StoreError> {
        match self
            .trees()
            .evidence
            .scan_prefix(keys::height_key(chain, height))
            .next()
        {
            Some(item) => item.engine().map(|_| true),
            None => Ok(false),
        }
    }

    /// At most `limit` reports, newest first (malformed keys passed over: the verifier sets
    /// them aside).
    pub fn reports(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees().reports.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item.engine()?;
            if let Some(seq) = keys::decode_seq(&key) {
                out.push((seq, value.to_vec()));
            }
        }
        Ok(out)
    }
}

/// One more than the last well-formed sequence number in `tree` (keys are u64 BE), or 1 in an
/// empty tree. Malformed keys (another length) are passed over, so a planted one cannot stop
/// every later write; a sequence at its end (u64::MAX, which only a planted key reaches) is
/// `Corrupt` naming that key (the verifier sets it aside). Only the store's one writer calls
/// this, so two writers cannot take the same number.
pub(crate) fn next_seq(tree: &sled::Tree, tree_name: &'static str) -> Result<u64, StoreError> {
    for item in tree.iter().rev() {
        let (key, _) = item.engine()?;
        if let Some(last) = keys::decode_seq(&key) {
            return last.checked_add(1).ok_or_else(|| bad(tree_name, &key));
        }
    }
    Ok(1)
}
