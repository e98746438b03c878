//! Where a chain's blocks with payloads lack key backups here: the stretches a provider asks its
//! peers for after a rebuild (`node`'s `daemon::own_backups`), and the count a restore reports.

use medchain_protocol::ChainId;
use medchain_store::{StoreError, StoreReader};

/// Most blocks read per store page of the walk.
const PAGE: u32 = 256;

/// Where a chain's blocks lack key backups here (see [`key_backup_gaps`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackupGaps {
    /// Stretches (first height, number of blocks) to ask peers for, lowest first.
    pub runs: Vec<(u64, u32)>,
    /// Every block below this height with payloads has a backup here.
    pub whole_below: u64,
    /// Below this height every stretch without backups was left out by the caller (or there
    /// is none): a walk soon after may start here.
    pub resume_at: u64,
}

/// The stretches of `chain` from height `from` whose blocks with payloads have no key backup
/// here, none longer than one backup request's worth, that `wanted` (given each stretch's
/// first and end height) keeps: at most `max_runs` of them, lowest first. What to ask peers for
/// after a rebuild.
pub fn key_backup_gaps(
    store: &StoreReader,
    chain: &ChainId,
    from: u64,
    max_runs: usize,
    mut wanted: impl FnMut(u64, u64) -> bool,
) -> Result<BackupGaps, StoreError> {
    let most = u64::from(medchain_protocol::limits::MAX_BLOCKS_PER_RANGE);
    let mut runs: Vec<(u64, u32)> = Vec::new();
    // The stretch being gathered: first and last height without a backup.
    let mut open: Option<(u64, u64)> = None;
    let mut first_gap = None;
    let mut close = |stretch: (u64, u64), runs: &mut Vec<(u64, u32)>| {
        let (first, last) = stretch;
        if wanted(first, last + 1) {
            runs.push((first, (last - first + 1) as u32));
        }
    };
    let walked = walk_blocks_without_backup(store, chain, from, |height| {
        first_gap.get_or_insert(height);
        // Blocks in between (without payloads, or backed up here) cost at most a backup the
        // keeping skips: a stretch spans them.
        if let Some((first, last)) = &mut open
            && height - *first < most
        {
            *last = height;
            return true;
        }
        if let Some(stretch) = open.take() {
            close(stretch, &mut runs);
            if runs.len() >= max_runs {
                return false;
            }
        }
        open = Some((height, height));
        true
    })?;
    if let Some(stretch) = open
        && runs.len() < max_runs
    {
        close(stretch, &mut runs);
    }
    Ok(BackupGaps {
        whole_below: first_gap.unwrap_or(walked),
        resume_at: runs.first().map_or(walked, |(first, _)| *first),
        runs,
    })
}

/// Calls `visit` with the height of each block of `chain` from `from` with payloads and no key
/// backup here, ascending, until it answers false. Answers the height after the last block
/// walked.
pub(crate) fn walk_blocks_without_backup(
    store: &StoreReader,
    chain: &ChainId,
    mut from: u64,
    mut visit: impl FnMut(u64) -> bool,
) -> Result<u64, StoreError> {
    loop {
        let blocks = store.blocks_range(chain, from, PAGE)?;
        let Some(last) = blocks.last().map(|b| b.header.height) else {
            return Ok(from);
        };
        // One read of the backups this page spans, not one per block.
        let held = store.key_backup_heights(chain, from..=last)?;
        for block in &blocks {
            let height = block.header.height;
            let has_payloads = block.entries.iter().any(|e| e.payload.is_some());
            if has_payloads && !held.contains(&height) && !visit(height) {
                return Ok(height);
            }
        }
        match last.checked_add(1) {
            Some(next) => from = next,
            None => return Ok(last),
        }
    }
}
