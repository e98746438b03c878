//! Repair of what the verifier found: each damaged run moved into quarantine (kept for
//! forensics), the holes that leaves below a chain's head listed for anti-entropy to fetch, and
//! quarantine events marked restored once their range is held again. Blocks fetched back go
//! through the normal validation (`validate::Position::Hole` for a hole below the head).

use medchain_protocol::{ChainId, PayloadHash};
use medchain_store::{QuarantineEvent, StoreError};

use crate::ledger::{Gap, Ledger};
use crate::verifier::Violation;

/// What repairing one violation did: the blocks quarantined and the range to fetch.
#[derive(Clone, Debug)]
pub struct Repair {
    /// The quarantine event (kept in the store).
    pub event: QuarantineEvent,
    /// The chain to re-fetch.
    pub chain: ChainId,
    /// The first height to re-fetch.
    pub from_height: u64,
    /// The last height to re-fetch (inclusive).
    pub to_height: u64,
}

impl Ledger {
    /// Quarantines the violation's damaged run (the blocks above it stay); returns the range to
    /// fetch from peers.
    pub fn quarantine(&mut self, violation: &Violation, now_ms: u64) -> Result<Repair, StoreError> {
        let reason = format!(
            "{} at height {} (damaged through {}): {}",
            violation.kind.as_str(),
            violation.height,
            violation.to_height,
            violation.detail
        );
        if self.own_chain() == Some(violation.chain) {
            // Blocks at heights the network holds are about to leave our store: signing now
            // could sign them again. Paused in memory even if the record cannot be saved.
            let _ = self.pause_writes(
                crate::signing::PauseKind::OwnChainQuarantined,
                format!(
                    "heights {} to {} of this node's chain are in quarantine, being refetched",
                    violation.height, violation.to_height
                ),
                now_ms,
            );
        }
        let heights = violation.height..=violation.to_height.max(violation.height);
        let event = self
            .store
            .quarantine_range(&violation.chain, heights, now_ms, &reason)?;
        Ok(Repair {
            chain: violation.chain,
            from_height: event.from_height,
            to_height: event.to_height,
            event,
        })
    }

    /// The heights still missing of every open quarantine event, up to its chain's head.
    /// Anti-entropy fetches these from peers: comparing heads cannot show them. Above the head
    /// (an event that reached the head cut it back) the heads show what is missing.
    pub fn holes(&self) -> Result<Vec<Gap>, StoreError> {
        let mut holes = Vec::new();
        for event in self.store().quarantine_events()? {
            if event.restored_at_ms.is_some() {
                continue;
            }
            // Only what lies at or below the head: above it, comparing heads finds it.
            let Some(head) = self.store().head(&event.chain)? else {
                continue;
            };
            if head.height < event.from_height {
                continue;
            }
            let to = event.to_height.min(head.height);
            if let Some(from) = self
                .store()
                .first_unindexed(&event.chain, event.from_height, to)?
            {
                holes.push(Gap {
                    chain: event.chain,
                    from,
                    to: to.saturating_add(1),
                });
            }
        }
        Ok(holes)
    }

    /// Puts back a payload fetched from a peer after its stored copy was found corrupt: the bytes
    /// are stored under their own hash, replacing what was there.
    pub fn restore_payload(&mut self, bytes: &[u8]) -> Result<PayloadHash, StoreError> {
        let hashes = self.store.put_payloads(&[bytes])?;
        self.store.flush()?;
        Ok(hashes
            .first()
            .copied()
            .unwrap_or_else(|| PayloadHash::of(bytes)))
    }

    /// Marks every open quarantine event whose whole range is held again as restored. Returns
    /// the events marked.
    pub fn complete_restores(&mut self, now_ms: u64) -> Result<Vec<QuarantineEvent>, StoreError> {
        let mut done = Vec::new();
        for event in self.store().quarantine_events()? {
            if event.restored_at_ms.is_some() {
                continue;
            }
            // The head check first: it is one read, and a range cut from the head is refilled
            // only once the head is back above it.
            let head = self.store().head(&event.chain)?;
            if head.is_none_or(|h| h.height < event.to_height) {
                continue;
            }
            let refilled = self
                .store()
                .first_unindexed(&event.chain, event.from_height, event.to_height)?
                .is_none();
            if refilled {
                self.store.mark_restored(event.id, now_ms)?;
                done.push(event);
            }
        }
        Ok(done)
    }
}
