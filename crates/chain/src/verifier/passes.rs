//! The ordered scan: every block checked as in the full scan, but payloads and index entries by
//! one ordered pass per tree (see `medchain_store::IndexDigest`): one pass over the payload
//! index for the referenced payloads (their segments then read in order), one over each index
//! tree against a keyed digest of the keys the blocks imply, on a thread of its own. Point reads
//! were most of a scan's time once the store outgrew sled's cache.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use medchain_protocol::{Block, CertHash, ChainHead, ChainId, PayloadHash};
use medchain_store::{IndexDigest, StoreError};

use crate::grants::Erasures;

use super::walk::scan_chain;
use super::{
    Below, MAX_LISTED_MISSING_PAYLOADS, Report, Scan, Violation, ViolationKind, violation,
};

/// `Some` when every block checked out and the index trees hold exactly the keys the blocks
/// imply (damaged payloads are listed, not a reason to look closer: they are named by hash);
/// `None` as soon as a block or the digest does not check out, or a pass hit damage it cannot
/// name (the point-by-point scan names it).
pub(super) fn ordered_scan(
    scan: Scan<'_>,
    chains: &[(ChainId, Option<ChainHead>)],
    repairing: &HashMap<ChainId, Vec<RangeInclusive<u64>>>,
) -> Result<Option<Report>, StoreError> {
    let keys = IndexDigest::new();
    std::thread::scope(|threads| {
        // The pass over the index trees needs only the digest's keys, so it runs on a thread of
        // its own beside the walk of the blocks and the payload pass: each is about half of a
        // scan at a million records, and both are reads.
        let held = threads.spawn(|| scan.store.index_digest(&keys));
        let walked = blocks_and_payloads(scan, chains, repairing, &keys);
        let held = held
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let Some((report, implied)) = walked? else {
            return Ok(None);
        };
        match held {
            Ok(held) if held.matches(&implied) => Ok(Some(report)),
            Ok(_) => Ok(None),
            Err(e) if e.is_corruption() => Ok(None),
            Err(e) => Err(e),
        }
    })
}

/// The walk of every chain's blocks and the payload pass of [`ordered_scan`]: the report and
/// the digest of the index keys the blocks imply, or `None` as [`ordered_scan`] says.
fn blocks_and_payloads(
    scan: Scan<'_>,
    chains: &[(ChainId, Option<ChainHead>)],
    repairing: &HashMap<ChainId, Vec<RangeInclusive<u64>>>,
    keys: &IndexDigest,
) -> Result<Option<(Report, IndexDigest)>, StoreError> {
    let store = scan.store;
    let mut implied = keys.same_keys();
    let mut refs: Vec<(PayloadHash, u64)> = Vec::new();
    let mut erased: Vec<PayloadHash> = Vec::new();
    let mut report = Report {
        started_ms: scan.now_ms,
        ..Report::default()
    };
    for (chain, head) in chains {
        report.chains += 1;
        // Erased payloads are absent by design: not referenced for the payload pass.
        let erasures = Erasures::of_chain(store, chain)?;
        let mut per_block = |block: &Block,
                             _: Below<'_>,
                             _: &mut Report|
         -> Result<Option<Violation>, StoreError> {
            if let Some(der) = &block.certificate
                && !matches!(store.certificate(&CertHash::of(der)), Ok(Some(held)) if held == *der)
            {
                let detail = "carried certificate not held";
                let (chain, height) = (block.header.chain, block.header.height);
                return Ok(Some(violation(
                    chain,
                    height,
                    ViolationKind::IndexInconsistent,
                    detail,
                )));
            }
            implied.add_block(block);
            for (index, entry) in (0u32..).zip(&block.entries) {
                let Some(payload) = &entry.payload else {
                    continue;
                };
                if erasures.erased(&block.entry_ref(index), entry) {
                    erased.push(payload.hash);
                } else {
                    refs.push((payload.hash, payload.len));
                }
            }
            Ok(None)
        };
        let awaiting = repairing.get(chain).map_or(&[][..], Vec::as_slice);
        if !scan_chain(scan, *chain, *head, awaiting, &mut report, &mut per_block)?.is_empty() {
            return Ok(None);
        }
    }
    // Erased payloads no live entry references, and still held: to delete.
    refs.sort_unstable();
    erased.sort_unstable();
    erased.dedup();
    for hash in erased {
        let live = refs.partition_point(|(h, _)| *h < hash);
        let held = match store.has_payload(&hash) {
            Ok(held) => held,
            Err(e) if e.is_corruption() => return Ok(None),
            Err(e) => return Err(e),
        };
        if refs.get(live).is_none_or(|(h, _)| *h != hash) && held {
            report.erased_payloads.push(hash);
        }
    }
    let pass = match store.check_payloads_in_order(refs) {
        Ok(pass) => pass,
        Err(e) if e.is_corruption() => return Ok(None),
        Err(e) => return Err(e),
    };
    report.payloads = pass.held;
    report.damaged_payloads = pass.damaged;
    report
        .damaged_payloads
        .truncate(MAX_LISTED_MISSING_PAYLOADS);
    report.missing_payloads = pass
        .missing
        .into_iter()
        .take(MAX_LISTED_MISSING_PAYLOADS)
        .collect();
    Ok(Some((report, implied)))
}
