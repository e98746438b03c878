//! Keys as a grantee (and any holder) sees them: which data keys of other providers' records
//! this node should fetch, which it must delete, and keeping the keys released to it.
//!
//! After every commit, the patients whose grant, revoke or erase entries arrived, and those
//! with new payload entries on a chain that has ever written such entries about them, are
//! reconciled: each payload entry of that chain about that patient is judged by the same rules
//! as the owner's ([`medchain_chain::grants`]), for this node's organisation.
//!
//! - open, and no key held: wanted (the daemon asks the owner; `coordination::wanted_keys`);
//! - closed (revoked) on another provider's chain, and a key held: the key is deleted;
//! - erased, anywhere: the key is deleted if held, and the entry's key is dropped from the key
//!   backups held. The sealed payload goes at the next verifier scan, which knows whether any
//!   entry not erased still references the same bytes (`Report::erased_payloads`).
//!
//! Which (chain, patient) pairs have ever had terms entries is kept in memory (rebuilt from the
//! store's `terms` index at start), so a commit with no such patient costs a set lookup per
//! payload entry and nothing else.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use medchain_chain::Committed;
use medchain_chain::grants::Standing;
use medchain_protocol::message::{KeyAnswer, KeyOutcome};
use medchain_protocol::{ChainId, EntryRef, PatientRef};
use medchain_store::StoreReader;

use super::{Service, ServiceError};

/// Most (chain, patient) pairs remembered; beyond it every payload entry is reconciled.
const MAX_TERMS_PAIRS: usize = 1 << 18;

/// The (chain, patient) pairs with grant, revoke or erase entries.
#[derive(Debug)]
pub struct TermsPairs {
    pairs: Mutex<Option<HashSet<(ChainId, PatientRef)>>>,
}

impl TermsPairs {
    /// The pairs the store's `terms` index holds. A store that cannot list them (or holds too
    /// many) leaves none remembered: every payload entry is then reconciled, slower but right.
    pub fn load(store: &StoreReader) -> Self {
        let pairs = store.terms_pairs(MAX_TERMS_PAIRS).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the terms index cannot be listed: every payload entry will be reconciled");
            None
        });
        Self {
            pairs: Mutex::new(pairs.map(|p| p.into_iter().collect())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashSet<(ChainId, PatientRef)>>> {
        self.pairs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, pair: (ChainId, PatientRef)) {
        let mut pairs = self.lock();
        if let Some(set) = pairs.as_mut() {
            if set.len() >= MAX_TERMS_PAIRS {
                // Too many to remember: from now on every payload entry is reconciled.
                *pairs = None;
            } else {
                set.insert(pair);
            }
        }
    }

    fn may_have_terms(&self, pair: &(ChainId, PatientRef)) -> bool {
        self.lock().as_ref().is_none_or(|set| set.contains(pair))
    }

    /// Every pair remembered; `None` when too many were to be remembered.
    pub(super) fn all(&self) -> Option<Vec<(ChainId, PatientRef)>> {
        self.lock()
            .as_ref()
            .map(|set| set.iter().copied().collect())
    }
}

/// What a reconciliation found.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Entries whose keys a grant opens to us and we do not hold.
    pub wanted: Vec<EntryRef>,
    /// Keys deleted (revoked or erased).
    pub deleted: usize,
}

impl Service {
    /// Reconciles the patients `committed` blocks touch (see the module documentation) and
    /// queues the keys now wanted. Never fails the commit: errors are logged.
    pub(super) fn after_commit(&self, committed: &[Committed]) {
        let own = self.own_chain();
        // Pairs with new grant, revoke or erase entries: judged whole. Blocks with new payload
        // entries of a pair that has such entries: only those entries are judged (a patient
        // with ten thousand entries must not cost ten thousand reads per commit).
        let mut touched = BTreeSet::new();
        let mut fresh = Vec::new();
        for block in committed {
            if !block.payload_patients.is_empty() {
                // Peers keep each provider's key backups; after a rebuild, our own come back.
                self.coordination.wanted_keys().want_backups(block.chain);
            }
            for patient in &block.terms_patients {
                self.terms_pairs.insert((block.chain, *patient));
                touched.insert((block.chain, *patient));
            }
            if Some(block.chain) != own
                && block
                    .payload_patients
                    .iter()
                    .any(|p| self.terms_pairs.may_have_terms(&(block.chain, *p)))
            {
                fresh.push((block.chain, block.height));
            }
        }
        if touched.is_empty() && fresh.is_empty() {
            return;
        }
        let found = self
            .reconcile_keys(touched.iter().copied())
            .and_then(|mut found| {
                found.wanted.extend(self.newly_open(&fresh, &touched)?);
                Ok(found)
            });
        match found {
            Ok(found) => {
                let dropped = self.coordination.wanted_keys().add(found.wanted);
                if dropped > 0 {
                    tracing::warn!(
                        dropped,
                        "too many keys wanted: the rest are found again by the next reconciliation"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "keys could not be reconciled after a commit"),
        }
    }

    /// The payload entries of the blocks `fresh` that a grant opens to this node (pairs in
    /// `judged` were reconciled whole already).
    fn newly_open(
        &self,
        fresh: &[(ChainId, u64)],
        judged: &BTreeSet<(ChainId, PatientRef)>,
    ) -> Result<Vec<EntryRef>, ServiceError> {
        let Some(org) = self.member_org.as_deref() else {
            return Ok(Vec::new());
        };
        let mut wanted = Vec::new();
        let mut terms = std::collections::HashMap::new();
        for (chain, height) in fresh {
            let Some(block) = self.reads.block_at(chain, *height)? else {
                continue;
            };
            for (index, entry) in (0u32..).zip(&block.entries) {
                let pair = (*chain, entry.patient);
                if entry.payload.is_none()
                    || judged.contains(&pair)
                    || !self.terms_pairs.may_have_terms(&pair)
                {
                    continue;
                }
                let patient_terms = match terms.entry(pair) {
                    std::collections::hash_map::Entry::Occupied(held) => held.into_mut(),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(self.terms_of(chain, &entry.patient)?)
                    }
                };
                let at = block.entry_ref(index);
                if patient_terms.standing(&at, &entry.record, org) == Standing::Open
                    && self.reads.store().data_key(&at)?.is_none()
                {
                    wanted.push(at);
                }
            }
        }
        Ok(wanted)
    }

    /// Deletes sealed payloads that only erased entries reference (a scan's
    /// `erased_payloads`).
    pub fn delete_erased_payloads(
        &self,
        hashes: &[medchain_protocol::PayloadHash],
    ) -> Result<(), ServiceError> {
        self.ledger().delete_payloads(hashes)?;
        Ok(())
    }

    /// Keeps key backups a peer sent of `chain` (`backup::check_key_backups` and
    /// `Ledger::keep_key_backups` say which). How many were kept.
    pub fn keep_key_backups(
        &self,
        chain: &ChainId,
        backups: &[medchain_protocol::key_backup::KeyBackup],
    ) -> Result<usize, ServiceError> {
        // Checked (signatures, digests, erasures) before the ledger's lock is taken.
        let checked =
            medchain_chain::backup::check_key_backups(self.reads.store(), chain, backups)?;
        Ok(self.ledger().keep_key_backups(checked)?)
    }

    /// Where our own chain's blocks lack key backups here, walking from height `from`
    /// (`medchain_chain::backup::key_backup_gaps`); `None` on an auditor.
    pub fn own_key_backup_gaps(
        &self,
        from: u64,
        max_runs: usize,
        wanted: impl FnMut(u64, u64) -> bool,
    ) -> Result<Option<medchain_chain::backup::BackupGaps>, ServiceError> {
        let Some(chain) = self.own_chain() else {
            return Ok(None);
        };
        let store = self.reads.store();
        let gaps = medchain_chain::backup::key_backup_gaps(store, &chain, from, max_runs, wanted)?;
        Ok(Some(gaps))
    }

    /// Whether this node backs up the keys of the blocks it authors (its hospital configured a
    /// recovery key).
    pub fn backs_up_keys(&self) -> bool {
        self.author
            .as_ref()
            .is_some_and(|a| a.keys().recovery_key().is_some())
    }

    /// The public key owning `chain` (its provider's), if this node holds a block of it.
    pub fn owner_key(&self, chain: &ChainId) -> Option<[u8; 32]> {
        self.reads.owner_key(chain).ok().flatten()
    }

    /// Reconciles every pair with terms entries (at start, and now and then: a want lost to
    /// a restart is found again).
    pub fn reconcile_all_keys(&self) -> Result<Reconciled, ServiceError> {
        match self.terms_pairs.all() {
            Some(pairs) => self.reconcile_keys(pairs),
            // Too many to remember: every pair the store's index names.
            None => {
                let pairs = self.reads.store().terms_pairs(usize::MAX)?;
                self.reconcile_keys(pairs.unwrap_or_default())
            }
        }
    }

    /// Reconciles the payload entries of each (chain, patient) pair.
    pub fn reconcile_keys(
        &self,
        pairs: impl IntoIterator<Item = (ChainId, PatientRef)>,
    ) -> Result<Reconciled, ServiceError> {
        let own = self.own_chain();
        // An organisation nothing is granted to: a node without one only ever deletes.
        let org = self.member_org.clone().unwrap_or_default();
        let store = self.reads.store();
        let mut found = Reconciled::default();
        let mut doomed = Vec::new();
        let mut erased_entries = Vec::new();
        for (chain, patient) in pairs {
            let terms = self.terms_of(&chain, &patient)?;
            if terms.is_empty() {
                continue;
            }
            for (at, entry) in self.payload_entries_of(&chain, &patient)? {
                let held = store.data_key(&at)?.is_some();
                let standing = terms.standing(&at, &entry.record, &org);
                if standing == Standing::Erased {
                    erased_entries.push(at);
                }
                match standing {
                    Standing::Erased if held => doomed.push(at),
                    Standing::Closed if held && Some(chain) != own => doomed.push(at),
                    Standing::Open if !held && Some(chain) != own => found.wanted.push(at),
                    _ => {}
                }
            }
        }
        if !erased_entries.is_empty() {
            // Backups keep no key of an erased entry either (a no-op once trimmed).
            self.ledger().drop_backed_up_keys(&erased_entries)?;
        }
        if !doomed.is_empty() {
            self.ledger().delete_data_keys(&doomed)?;
            found.deleted = doomed.len();
            tracing::info!(
                deleted = doomed.len(),
                "data keys deleted: access revoked or payloads erased"
            );
        }
        Ok(found)
    }

    /// The payload entries of `patient` on `chain`, in chain order, each read back from its
    /// signature-checked block (the patient index is a lookup aid: an entry it names that is
    /// not this patient's is skipped).
    pub(super) fn payload_entries_of(
        &self,
        chain: &ChainId,
        patient: &PatientRef,
    ) -> Result<Vec<(EntryRef, medchain_protocol::Entry)>, ServiceError> {
        let mut out = Vec::new();
        let mut block: Option<medchain_protocol::Block> = None;
        for at in self.reads.store().patient_entries(patient)? {
            if at.chain != *chain {
                continue;
            }
            if block.as_ref().is_none_or(|b| b.header.height != at.height) {
                block = self.reads.block_at(chain, at.height)?;
            }
            let entry = block
                .as_ref()
                .and_then(|b| b.entries.get(at.index as usize))
                .filter(|e| e.patient == *patient && e.payload.is_some());
            out.extend(entry.map(|e| (at, e.clone())));
        }
        Ok(out)
    }

    /// Whether our copy of the entry's chain opens its payload to this node's organisation.
    fn still_open(&self, at: &EntryRef) -> Result<bool, ServiceError> {
        let (Some(org), Some(entry)) = (self.member_org.as_deref(), self.entry(at)?) else {
            return Ok(false);
        };
        let terms = self.terms_of(&at.chain, &entry.patient)?;
        Ok(terms.standing(at, &entry.record, org) == Standing::Open)
    }

    /// Keeps the keys an owner released in answer to our request for `asked`: only answers
    /// about entries we asked for, each opened with our encryption key and checked to open for
    /// its entry. Returns the entries answered for good (kept, refused, erased or not held by
    /// the owner), which are no longer wanted.
    pub fn keep_released(&self, asked: &[EntryRef], answers: Vec<KeyAnswer>) -> Vec<EntryRef> {
        let asked: HashSet<&EntryRef> = asked.iter().collect();
        let mut settled = Vec::new();
        let mut released = Vec::new();
        for answer in answers {
            if !asked.contains(&answer.at) {
                continue;
            }
            match answer.outcome {
                KeyOutcome::Released(bytes) => released.push((answer.at, bytes.into_vec())),
                KeyOutcome::NotGranted | KeyOutcome::Erased | KeyOutcome::NotHeld => {
                    settled.push(answer.at);
                }
            }
        }
        // A revoke or an erase may have reached us since we asked: keep only what our copy of
        // the owner's chain still opens to us.
        let (still_open, closed): (Vec<_>, Vec<_>) = released
            .into_iter()
            .partition(|(at, _)| self.still_open(at).unwrap_or(false));
        settled.extend(closed.into_iter().map(|(at, _)| at));
        if still_open.is_empty() {
            return settled;
        }
        let (kept, failed) = self.ledger().keep_released_keys(&self.keys, &still_open);
        // A revoke or an erase committed between the check and the write found no key to
        // delete: judge the kept ones again now that they are written.
        let closed_since: Vec<EntryRef> = kept
            .iter()
            .filter(|at| !self.still_open(at).unwrap_or(false))
            .copied()
            .collect();
        if !closed_since.is_empty()
            && let Err(e) = self.ledger().delete_data_keys(&closed_since)
        {
            tracing::error!(error = %e, "keys closed while they were being kept could not be deleted: the next reconciliation does");
        }
        for (at, error) in &failed {
            tracing::warn!(entry = %at, %error, "a released key was not kept");
        }
        if !kept.is_empty() {
            tracing::info!(kept = kept.len(), "data keys received under grants");
        }
        settled.extend(kept);
        settled
    }
}
