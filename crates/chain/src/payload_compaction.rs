//! Compaction of the payload segments through the ledger, the store's one writer: the steps
//! that write (`medchain_store::CompactionPlan`, whose module says how compaction works); the
//! planning and the check before a removal read without the ledger.

use medchain_store::{CompactionPlan, StoreError};

use crate::Ledger;

impl Ledger {
    /// Moves up to about `budget_bytes` of the plan's live payloads out of its segment; `true`
    /// while some remain.
    pub fn compact_payload_step(
        &mut self,
        plan: &mut CompactionPlan,
        budget_bytes: u64,
    ) -> Result<bool, StoreError> {
        self.store.compact_step(plan, budget_bytes)
    }

    /// Removes the plan's segment once the reader confirmed no location names it.
    pub fn remove_compacted_segment(&mut self, plan: &CompactionPlan) -> Result<bool, StoreError> {
        self.store.remove_compacted(plan)
    }
}
