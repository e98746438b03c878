//! Going up one chain: each height the chain index holds is checked, heights it lacks are
//! accounted for as ranges, and what does not check out is grouped into damaged runs.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use medchain_protocol::{Block, ChainHead, ChainId};
use medchain_store::StoreError;

use super::checks::check_height;
use super::{
    Below, MAX_RUNS_PER_CHAIN, PerBlock, Report, Scan, Violation, ViolationKind, violation,
};

/// Checks one chain from genesis to its head, each block with `per_block`; every damaged run,
/// in ascending order. A run ends where a block checks out on its own (its link to the damaged
/// block below cannot be judged until that block is fetched back). Heights missing inside the
/// `awaiting` ranges (open quarantine events) are counted, not reported again. The walk goes
/// over the chain index's entries, and heights it does not hold are accounted for as ranges: a
/// head record naming a height far above the index must not make the scan walk every height.
///
/// Damage the walk meets is a violation of its height, never an error: a malformed index
/// value, an engine error reading a block, and an engine error that cuts the index walk short
/// (every height above the last one read is then unreadable). A chain with no sound head
/// record (`head` is `None`) is walked to its index top, which is reported as a head mismatch.
pub(super) fn scan_chain(
    scan: Scan<'_>,
    chain: ChainId,
    head: Option<ChainHead>,
    awaiting: &[RangeInclusive<u64>],
    report: &mut Report,
    per_block: &mut PerBlock<'_>,
) -> Result<Vec<Violation>, StoreError> {
    let (index, cut) = scan.store.chain_index_entries(&chain);
    let Some(top) = index.last().map(|(h, _)| *h) else {
        if let Some(error) = cut.filter(|e| !e.is_corruption()) {
            return Err(error);
        }
        let Some(head) = head else {
            return Ok(Vec::new());
        };
        // A head and no index: every height up to it is missing (or awaiting repair).
        let mut runs = Runs::new(chain);
        runs.missing(0, head.height, awaiting, report);
        return Ok(runs.finish());
    };
    let head_height = head.map_or(top, |h| h.height);
    let mut runs = Runs::new(chain);
    let mut certs = HashMap::new();
    let mut at_head = None;
    let mut expected = Some(0_u64);
    let mut previous: Option<Block> = None;
    for (height, hash) in index {
        if height > head_height {
            break;
        }
        if let Some(first_missing) = expected
            && height > first_missing
        {
            runs.missing(first_missing, height - 1, awaiting, report);
            previous = None;
        }
        expected = height.checked_add(1);
        let Some(hash) = hash else {
            let found = violation(
                chain,
                height,
                ViolationKind::IndexInconsistent,
                "the chain index value at this height is malformed",
            );
            runs.damaged(found, height);
            previous = None;
            continue;
        };
        if height == head_height {
            at_head = Some(hash);
        }
        let below = Below {
            chain,
            height,
            hash,
            previous: previous.as_ref(),
        };
        match check_height(scan, below, &mut certs, report, per_block)? {
            Ok(block) => {
                runs.close();
                previous = Some(block);
            }
            Err(found) => {
                runs.damaged(found, height);
                previous = None;
            }
        }
    }
    if let Some(error) = cut {
        if !error.is_corruption() {
            return Err(error);
        }
        // sled could not read the index on: everything above what was read is unreadable.
        if let Some(from) = expected.filter(|from| *from <= head_height) {
            let found = violation(
                chain,
                from,
                ViolationKind::Unreadable,
                format!("the chain index cannot be read from here: {error}"),
            );
            runs.damaged(found, head_height);
            return Ok(runs.finish());
        }
    }
    if let Some(first_missing) = expected
        && first_missing <= head_height
    {
        runs.missing(first_missing, head_height, awaiting, report);
    }
    let head_hash = head.map(|h| h.hash);
    if (head_hash.is_none() || at_head != head_hash) && runs.open.is_none() {
        let detail = match head {
            Some(h) => format!("head names {} but the index holds {:?}", h.hash, at_head),
            None => "no sound head record for a chain the index holds".to_owned(),
        };
        runs.open = Some(violation(
            chain,
            head_height,
            ViolationKind::HeadMismatch,
            detail,
        ));
    }
    Ok(runs.finish())
}

/// The damaged runs of one chain, as the scan goes up it.
struct Runs {
    chain: ChainId,
    done: Vec<Violation>,
    open: Option<Violation>,
    /// Runs merged into the last one past [`MAX_RUNS_PER_CHAIN`].
    merged: u64,
}

impl Runs {
    fn new(chain: ChainId) -> Self {
        Self {
            chain,
            done: Vec::new(),
            open: None,
            merged: 0,
        }
    }

    /// A sound height (or one awaiting repair): the open run, if any, ends below it.
    fn close(&mut self) {
        let Some(run) = self.open.take() else {
            return;
        };
        let full = self.done.len() >= MAX_RUNS_PER_CHAIN;
        match self.done.last_mut() {
            Some(last) if full => {
                last.to_height = run.to_height;
                self.merged += 1;
            }
            _ => self.done.push(run),
        }
    }

    /// The runs found, the last one saying how many it absorbed.
    fn finish(mut self) -> Vec<Violation> {
        self.close();
        if let Some(last) = self.done.last_mut()
            && self.merged > 0
        {
            last.detail = format!(
                "{} (and {} more damaged runs up to height {}, merged into this one)",
                last.detail, self.merged, last.to_height
            );
        }
        self.done
    }

    /// Damage from `found.height` through `to`, right above what came before.
    fn damaged(&mut self, found: Violation, to: u64) {
        match &mut self.open {
            Some(run) => run.to_height = to,
            None => {
                let mut run = found;
                run.to_height = to;
                self.open = Some(run);
            }
        }
    }

    /// Heights `from..=to` the chain index holds nothing at: awaiting repair where an open
    /// quarantine event covers them, missing blocks elsewhere.
    fn missing(
        &mut self,
        from: u64,
        to: u64,
        awaiting: &[RangeInclusive<u64>],
        report: &mut Report,
    ) {
        let mut next = Some(from);
        while let Some(height) = next.filter(|h| *h <= to) {
            let end = if let Some(range) = awaiting.iter().find(|r| r.contains(&height)) {
                let end = (*range.end()).min(to);
                self.close();
                report.awaiting_repair = report
                    .awaiting_repair
                    .saturating_add((end - height).saturating_add(1));
                end
            } else {
                let end = awaiting
                    .iter()
                    .map(|r| *r.start())
                    .filter(|start| *start > height)
                    .min()
                    .map_or(to, |start| (start - 1).min(to));
                let found = violation(
                    self.chain,
                    height,
                    ViolationKind::MissingBlock,
                    "no chain index entry",
                );
                self.damaged(found, end);
                end
            };
            next = end.checked_add(1);
        }
    }
}
