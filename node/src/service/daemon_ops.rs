//! What the network glue, the verifier and the daemon's lifecycle ask of the ledger, each by
//! name: blocks and ranges from peers, equivocation evidence, quarantine and restores, payloads
//! put back, the trust in force, the confirmation of our own chain's head, the final flush.
//!
//! Each takes the ledger's lock for one operation and stamps it with the service's clock, read
//! once the lock is held (a scan may hold it for a while, and a time read before would be
//! stale), so no caller outside the service holds the ledger (the store's one writer) or picks
//! the time.

use medchain_chain::{
    Committed, Confirmation, Decoded, Gap, Ingested, OwnClaim, PeerReport, PrecheckedRange,
    Rejection, Repair, SigningError, Trust, Violation,
};
use medchain_protocol::{ChainHead, ChainId, EquivocationEvidence, PayloadHash};
use medchain_store::{QuarantineEvent, StoreError};

use super::Service;

impl Service {
    /// Judges a block from outside (gossip, `POST /v1/blocks`) sent by `origin`; with it, how
    /// many blocks wait in the ledger's buffer for earlier heights. (Checking its structure
    /// before taking the ledger's lock was tried: peak memory rose by a third at a million
    /// records for no gain, docs/performance.md.)
    pub fn ingest_block(
        &self,
        decoded: Decoded,
        origin: medchain_chain::Origin,
    ) -> (Result<Ingested, Rejection>, usize) {
        let (outcome, buffered) = {
            let mut ledger = self.ledger();
            let now = self.now();
            let outcome = ledger.ingest_from(decoded, origin, now);
            (outcome, ledger.buffered())
        };
        if let Ok(Ingested::Committed(run)) = &outcome {
            self.after_commit(run);
        }
        (outcome, buffered)
    }

    /// Commits a peer's answer to a range request, checked already for what needs no store
    /// (`medchain_chain::precheck_range`, run off the ledger's lock), in order, up to the first
    /// block refused.
    pub fn ingest_prechecked(&self, range: PrecheckedRange) -> (Vec<Committed>, Option<Rejection>) {
        let answer = {
            let mut ledger = self.ledger();
            let now = self.now();
            ledger.ingest_prechecked(range, now)
        };
        self.after_commit(&answer.0);
        answer
    }

    /// The payloads the blocks of `chain` from `from` (a range's worth) reference and this node
    /// does not hold, erased ones left out (absent by design: never fetched again).
    pub fn missing_payloads(
        &self,
        chain: &ChainId,
        from: u64,
    ) -> Result<Vec<PayloadHash>, StoreError> {
        let limit = medchain_protocol::limits::MAX_BLOCKS_PER_RANGE;
        let store = self.reads.store();
        let missing = store.missing_payloads(chain, from, limit)?;
        if missing.is_empty() {
            return Ok(missing);
        }
        let erasures = medchain_chain::grants::Erasures::of_chain(store, chain)?;
        if erasures.is_empty() {
            return Ok(missing);
        }
        let mut erased = std::collections::HashSet::new();
        for block in store.blocks_range(chain, from, limit)? {
            for (index, entry) in (0u32..).zip(&block.entries) {
                if let Some(payload) = &entry.payload
                    && erasures.erased(&block.entry_ref(index), entry)
                {
                    erased.insert(payload.hash);
                }
            }
        }
        Ok(missing
            .into_iter()
            .filter(|h| !erased.contains(h))
            .collect())
    }

    /// Keeps equivocation evidence; true if it is new to this node.
    pub fn ingest_evidence(&self, evidence: &EquivocationEvidence) -> Result<bool, Rejection> {
        let mut ledger = self.ledger();
        let now = self.now();
        ledger.ingest_evidence(evidence, now)
    }

    /// Moves the damaged run a violation names into quarantine.
    pub fn quarantine(&self, violation: &Violation) -> Result<Repair, StoreError> {
        let mut ledger = self.ledger();
        let now = self.now();
        ledger.quarantine(violation, now)
    }

    /// The quarantined ranges not yet restored, at or below their chains' heads.
    pub fn holes(&self) -> Result<Vec<Gap>, StoreError> {
        self.ledger().holes()
    }

    /// Marks every quarantine whose range peers have refilled as restored; the events marked.
    pub fn complete_restores(&self) -> Result<Vec<QuarantineEvent>, StoreError> {
        let mut ledger = self.ledger();
        let now = self.now();
        ledger.complete_restores(now)
    }

    /// One step of a payload segment's compaction, under the ledger's lock (writes wait for
    /// at most one step).
    pub fn compact_payload_step(
        &self,
        plan: &mut medchain_store::CompactionPlan,
        budget_bytes: u64,
    ) -> Result<bool, StoreError> {
        self.ledger().compact_payload_step(plan, budget_bytes)
    }

    /// Removes a compacted segment no location names any more.
    pub fn remove_compacted_segment(
        &self,
        plan: &medchain_store::CompactionPlan,
    ) -> Result<bool, StoreError> {
        self.ledger().remove_compacted_segment(plan)
    }

    /// Puts back a payload fetched by hash (its hash is what the store keys it by).
    pub fn restore_payload(&self, bytes: &[u8]) -> Result<PayloadHash, StoreError> {
        self.ledger().restore_payload(bytes)
    }

    /// The trust (consortium and revocation list) new blocks are judged by from now on.
    pub fn set_trust(&self, trust: Trust) {
        self.ledger().set_trust(trust);
    }

    /// Weighs a peer's claim of our own chain's head (`medchain_chain::signing`).
    pub fn observe_own_head(&self, claim: &ChainHead) -> Result<Option<OwnClaim>, SigningError> {
        let mut ledger = self.ledger();
        let now = self.now();
        ledger.observe_own_head(claim, now)
    }

    /// The epoch of our signing state (a provider's), which a confirmation must name.
    pub fn signing_epoch(&self) -> Option<u64> {
        self.ledger().signing_epoch()
    }

    /// Confirms (or not) our own head from peers' reports gathered in signing epoch `epoch`.
    pub fn confirm_own_head(
        &self,
        reports: &[PeerReport],
        epoch: u64,
    ) -> Result<Confirmation, SigningError> {
        self.ledger().confirm_own_head(reports, epoch)
    }

    /// Flushes the store (at shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.ledger().flush()
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }
}
