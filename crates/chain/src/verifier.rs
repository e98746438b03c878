//! The chain verifier: a full scan of every stored chain, and the repair it plans.
//!
//! The paper's scenario 2: an attacker with access to a provider's repository modifies stored
//! chains. The verifier re-checks every block as if it had just arrived (hash, structure, entries
//! root, certificate, signature, link to the block below), every payload we hold against its
//! content address and length, and every index entry the block implies. It reports each damaged
//! run of a chain (consecutive heights that do not check out) with its first kind and height
//! and its last height. Repair moves the run into quarantine (kept for forensics, never
//! deleted) and returns it as the range to fetch from peers; the blocks above it stay. Blocks
//! fetched back go through the normal validation, and the last of them must be the block the
//! one we kept above the run links to.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use medchain_protocol::identity::CertError;
use medchain_protocol::{Block, BlockHash, CertHash, ChainHead, ChainId, PayloadHash};
use medchain_store::{Corruption, IndexDigest, QuarantineEvent, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::ledger::{Gap, Ledger};
use crate::trust::Trust;
use crate::validate::Admission;
use crate::validate::Decoded;

/// Most missing payloads listed in one report.
pub const MAX_LISTED_MISSING_PAYLOADS: usize = 1024;

/// Most damaged runs reported (and so quarantined, each its own event) per chain and scan;
/// further runs are merged into the last one. Damage scattered over thousands of blocks would
/// otherwise cost thousands of quarantines, each of which may sweep every index key.
pub const MAX_RUNS_PER_CHAIN: usize = 16;

/// What is wrong at a violating height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViolationKind {
    /// The chain index has no block at this height, or the block it names is not stored.
    MissingBlock,
    /// The stored bytes do not decode as a block.
    Undecodable,
    /// The stored block does not hash to the key it is stored under.
    HashMismatch,
    /// The stored entries do not match the header's entries root.
    EntriesRootMismatch,
    /// The index names a block of another chain or height here (blocks swapped or index
    /// rewritten).
    Misplaced,
    /// The block does not link to the block below it.
    BrokenLink,
    /// The block breaks a structural rule.
    BadStructure,
    /// The block's certificate is not a valid provider certificate for it.
    BadCertificate,
    /// The signature does not verify (e.g. re-signed with a foreign key).
    BadSignature,
    /// A payload we hold does not match its entry's hash or length.
    PayloadCorrupt,
    /// An index entry the block implies is missing.
    IndexInconsistent,
    /// The head record disagrees with the chain index.
    HeadMismatch,
}

impl ViolationKind {
    /// A short stable label for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::MissingBlock => "missing_block",
            ViolationKind::Undecodable => "undecodable",
            ViolationKind::HashMismatch => "hash_mismatch",
            ViolationKind::EntriesRootMismatch => "entries_root_mismatch",
            ViolationKind::Misplaced => "misplaced",
            ViolationKind::BrokenLink => "broken_link",
            ViolationKind::BadStructure => "bad_structure",
            ViolationKind::BadCertificate => "bad_certificate",
            ViolationKind::BadSignature => "bad_signature",
            ViolationKind::PayloadCorrupt => "payload_corrupt",
            ViolationKind::IndexInconsistent => "index_inconsistent",
            ViolationKind::HeadMismatch => "head_mismatch",
        }
    }
}

/// One damaged run of a chain: consecutive heights that do not check out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The chain.
    pub chain: ChainId,
    /// The height of the first violating block.
    pub height: u64,
    /// What is wrong at `height`.
    pub kind: ViolationKind,
    /// For operators: the exact finding at `height`.
    pub detail: String,
    /// The corrupt payload, for `PayloadCorrupt`.
    pub payload: Option<PayloadHash>,
    /// The last height of the run (inclusive): the block above it checks out on its own.
    pub to_height: u64,
}

/// The result of one full scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// When the scan started, ms since the epoch.
    pub started_ms: u64,
    /// When it finished.
    pub finished_ms: u64,
    /// Chains scanned.
    pub chains: u64,
    /// Blocks checked.
    pub blocks: u64,
    /// Entries checked.
    pub entries: u64,
    /// Payloads re-hashed.
    pub payloads: u64,
    /// Payloads referenced but not held here (to fetch; not a violation).
    pub missing_payloads: Vec<PayloadHash>,
    /// Chains whose provider certificate has since been revoked (their blocks stay valid as
    /// accepted; operators should know).
    pub revoked_chains: Vec<ChainId>,
    /// Every damaged run, by chain and ascending height.
    pub violations: Vec<Violation>,
    /// Heights moved into quarantine by an earlier scan and not fetched back yet: known and
    /// being repaired, so not reported again as violations.
    pub awaiting_repair: u64,
}

impl Report {
    /// Whether every chain verified clean.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Scans every chain in `store`: first by ordered passes ([`ordered_scan`]); if anything there
/// does not check out, point by point ([`full_scan`]), which names each damaged run.
pub fn scan(store: &Store, trust: &Trust, now_ms: u64) -> Result<Report, StoreError> {
    match ordered_scan(store, trust, now_ms)? {
        Some(clean) => Ok(clean),
        None => full_scan(store, trust, now_ms),
    }
}

/// Every block checked as in the full scan, but payloads and index entries by ordered passes
/// (see `medchain_store::IndexDigest`): one pass over the payload tree for the referenced
/// payloads, one over each index tree against a keyed digest of the keys the blocks imply.
/// `Some` only for a clean store; `None` as soon as anything does not check out.
fn ordered_scan(store: &Store, trust: &Trust, now_ms: u64) -> Result<Option<Report>, StoreError> {
    let repairing = open_repairs(store)?;
    let keys = IndexDigest::new();
    let mut implied = keys.same_keys();
    let mut refs: Vec<(PayloadHash, u64)> = Vec::new();
    let mut report = Report {
        started_ms: now_ms,
        ..Report::default()
    };
    for head in store.heads()? {
        report.chains += 1;
        let mut per_block = |block: &Block,
                             _: Below<'_>,
                             _: &mut Report|
         -> Result<Option<Violation>, StoreError> {
            if let Some(der) = &block.certificate
                && !matches!(store.certificate(&CertHash::of(der)), Ok(Some(_)))
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
            refs.extend(
                block
                    .entries
                    .iter()
                    .filter_map(|e| e.payload.as_ref().map(|p| (p.hash, p.len))),
            );
            Ok(None)
        };
        let awaiting = repairing.get(&head.chain).map_or(&[][..], Vec::as_slice);
        let scan = Scan {
            store,
            trust,
            now_ms,
        };
        if !scan_chain(scan, &head, awaiting, &mut report, &mut per_block)?.is_empty() {
            return Ok(None);
        }
    }
    let pass = store.check_payloads_in_order(refs)?;
    if !pass.damaged.is_empty() || !store.index_digest(&keys)?.matches(&implied) {
        return Ok(None);
    }
    report.payloads = pass.held;
    report.missing_payloads = pass
        .missing
        .into_iter()
        .take(MAX_LISTED_MISSING_PAYLOADS)
        .collect();
    Ok(Some(report))
}

/// Scans every chain point by point: each block, then each of its payloads and index entries.
fn full_scan(store: &Store, trust: &Trust, now_ms: u64) -> Result<Report, StoreError> {
    let repairing = open_repairs(store)?;
    let mut report = Report {
        started_ms: now_ms,
        ..Report::default()
    };
    for head in store.heads()? {
        report.chains += 1;
        let mut per_block = |block: &Block, at: Below<'_>, report: &mut Report| {
            check_payloads_and_indexes(store, block, at, report)
        };
        let awaiting = repairing.get(&head.chain).map_or(&[][..], Vec::as_slice);
        let scan = Scan {
            store,
            trust,
            now_ms,
        };
        let runs = scan_chain(scan, &head, awaiting, &mut report, &mut per_block)?;
        report.violations.extend(runs);
    }
    Ok(report)
}

/// The ranges of every open quarantine event, by chain.
fn open_repairs(store: &Store) -> Result<HashMap<ChainId, Vec<RangeInclusive<u64>>>, StoreError> {
    let mut open: HashMap<ChainId, Vec<RangeInclusive<u64>>> = HashMap::new();
    for event in store.quarantine_events()? {
        if event.restored_at_ms.is_none() {
            open.entry(event.chain)
                .or_default()
                .push(event.from_height..=event.to_height);
        }
    }
    Ok(open)
}

/// What every check of a scan needs.
#[derive(Clone, Copy)]
struct Scan<'a> {
    store: &'a Store,
    trust: &'a Trust,
    now_ms: u64,
}

/// The checks of one stored block beyond re-validating it (which [`check_height`] does), given
/// where it stands.
type PerBlock<'a> =
    dyn FnMut(&Block, Below<'_>, &mut Report) -> Result<Option<Violation>, StoreError> + 'a;

/// Where a stored block stands in the scan: its chain-index height and hash, and the block
/// right below it if that one checked out (`None` at genesis, or above a damaged run, where the
/// link cannot be checked here: the block fetched back for the run is checked against it).
#[derive(Clone, Copy)]
struct Below<'a> {
    chain: ChainId,
    height: u64,
    hash: BlockHash,
    previous: Option<&'a Block>,
}

fn violation(
    chain: ChainId,
    height: u64,
    kind: ViolationKind,
    detail: impl Into<String>,
) -> Violation {
    Violation {
        chain,
        height,
        kind,
        detail: detail.into(),
        payload: None,
        to_height: height,
    }
}

/// Checks one chain from genesis to its head, each block with `per_block`; every damaged run,
/// in ascending order. A run ends where a block checks out on its own (its link to the damaged
/// block below cannot be judged until that block is fetched back). Heights missing inside the
/// `awaiting` ranges (open quarantine events) are counted, not reported again. The walk goes
/// over the chain index's entries, and heights it does not hold are accounted for as ranges: a
/// head record naming a height far above the index must not make the scan walk every height.
fn scan_chain(
    scan: Scan<'_>,
    head: &ChainHead,
    awaiting: &[RangeInclusive<u64>],
    report: &mut Report,
    per_block: &mut PerBlock<'_>,
) -> Result<Vec<Violation>, StoreError> {
    let chain = head.chain;
    let mut runs = Runs {
        chain,
        done: Vec::new(),
        open: None,
        merged: 0,
    };
    let mut at_head = None;
    let mut expected = Some(0_u64);
    let mut previous: Option<Block> = None;
    for (height, hash) in scan.store.chain_index(&chain)? {
        if height > head.height {
            break;
        }
        if let Some(first_missing) = expected
            && height > first_missing
        {
            runs.missing(first_missing, height - 1, awaiting, report);
            previous = None;
        }
        if height == head.height {
            at_head = Some(hash);
        }
        let below = Below {
            chain,
            height,
            hash,
            previous: previous.as_ref(),
        };
        match check_height(scan, below, report, per_block)? {
            Ok(block) => {
                runs.close();
                previous = Some(block);
            }
            Err(found) => {
                runs.damaged(found, height);
                previous = None;
            }
        }
        expected = height.checked_add(1);
    }
    if let Some(first_missing) = expected
        && first_missing <= head.height
    {
        runs.missing(first_missing, head.height, awaiting, report);
    }
    if at_head != Some(head.hash) && runs.open.is_none() {
        runs.open = Some(violation(
            chain,
            head.height,
            ViolationKind::HeadMismatch,
            format!("head names {} but the index holds {:?}", head.hash, at_head),
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

/// The block the chain index names at `at`: read raw and decoded once, re-validated as if it
/// had just arrived, then judged by `per_block`.
fn check_height(
    scan: Scan<'_>,
    at: Below<'_>,
    report: &mut Report,
    per_block: &mut PerBlock<'_>,
) -> Result<Result<Block, Violation>, StoreError> {
    let Below {
        chain,
        height,
        hash,
        ..
    } = at;
    let damaged = |corruption: Corruption| {
        Err(violation(
            chain,
            height,
            corruption_kind(&corruption),
            corruption.to_string(),
        ))
    };
    let Some(bytes) = scan.store.raw_block_bytes(&hash)? else {
        return Ok(Err(violation(
            chain,
            height,
            ViolationKind::MissingBlock,
            format!("block {hash} is not stored"),
        )));
    };
    let Ok(decoded) = Decoded::from_vec(bytes) else {
        return Ok(damaged(Corruption::UndecodableBlock { key: hash }));
    };
    // The header hash first, as the store's checked read does: a header that does not hash to
    // its key is reported as that, whatever else is wrong with it.
    let actual = decoded.block().hash();
    if actual != hash {
        return Ok(damaged(Corruption::BlockHashMismatch { key: hash, actual }));
    }
    let block = match check_signed_block(scan, decoded, at, report)? {
        Ok(block) => block,
        Err(v) => return Ok(Err(v)),
    };
    if let Some(v) = per_block(&block, at, report)? {
        return Ok(Err(v));
    }
    report.blocks += 1;
    report.entries += block.entries.len() as u64;
    Ok(Ok(block))
}

fn corruption_kind(corruption: &Corruption) -> ViolationKind {
    match corruption {
        Corruption::UndecodableBlock { .. } => ViolationKind::Undecodable,
        Corruption::BlockHashMismatch { .. } => ViolationKind::HashMismatch,
        Corruption::EntriesRootMismatch { .. } => ViolationKind::EntriesRootMismatch,
        Corruption::IndexMismatch { .. } => ViolationKind::Misplaced,
        Corruption::MissingBlock { .. } => ViolationKind::MissingBlock,
        Corruption::PayloadHashMismatch { .. } => ViolationKind::PayloadCorrupt,
        Corruption::BadIndexValue { .. } => ViolationKind::IndexInconsistent,
    }
}

/// Re-validates one stored block as if it had just arrived: position, structure, entries root,
/// certificate, signature and link to the block below (when that one checked out). The block
/// back, or the violation.
fn check_signed_block(
    scan: Scan<'_>,
    decoded: Decoded,
    at: Below<'_>,
    report: &mut Report,
) -> Result<Result<Block, Violation>, StoreError> {
    let header = &decoded.block().header;
    let (chain, height, time_ms) = (header.chain, header.height, header.time_ms);
    if height != at.height || chain != at.chain {
        return Ok(Err(violation(
            at.chain,
            at.height,
            ViolationKind::Misplaced,
            format!("index names block {}, which is height {height}", at.hash),
        )));
    }
    let checked = decoded
        .check_structure()
        .and_then(|s| s.check_certificate(scan.trust, scan.store, None, Admission::Audit))
        .and_then(|c| c.check_signature())
        .and_then(|s| s.check_link_to(at.previous, scan.now_ms.max(time_ms)))
        .and_then(|l| l.check_payloads());
    let rejection = match checked {
        Ok(verified) => {
            // Accepted before this node knew of the revocation: valid as accepted, and
            // operators should know.
            if scan.trust.revoked_by(verified.certificate(), time_ms)
                && !report.revoked_chains.contains(&chain)
            {
                report.revoked_chains.push(chain);
            }
            return Ok(Ok(verified.into_block()));
        }
        Err(rejection) => rejection,
    };
    let detail = rejection.to_string();
    let kind = match rejection {
        Rejection::Certificate(CertError::Revoked) => {
            // Only without a root to check against unrevoked (it could not be built): accepted
            // when it arrived; operators should know. The checks consumed the block: this rare
            // case reads it again.
            if !report.revoked_chains.contains(&chain) {
                report.revoked_chains.push(chain);
            }
            return match scan.store.block(&at.hash) {
                Ok(Some(block)) => Ok(Ok(block)),
                Ok(None) => Ok(Err(violation(
                    chain,
                    height,
                    ViolationKind::MissingBlock,
                    format!("block {} is not stored", at.hash),
                ))),
                Err(StoreError::Corrupt(c)) => Ok(Err(violation(
                    chain,
                    height,
                    corruption_kind(&c),
                    c.to_string(),
                ))),
                Err(other) => Err(other),
            };
        }
        Rejection::Store(error) => return Err(error),
        Rejection::Structure(medchain_protocol::BlockError::EntriesRootMismatch) => {
            ViolationKind::EntriesRootMismatch
        }
        Rejection::Structure(_) | Rejection::Malformed(_) | Rejection::InlinePayloads(_) => {
            ViolationKind::BadStructure
        }
        Rejection::BadSignature => ViolationKind::BadSignature,
        Rejection::BrokenLink { .. }
        | Rejection::TimeGoesBackwards
        | Rejection::CertificateNotCarried => ViolationKind::BrokenLink,
        _ => ViolationKind::BadCertificate,
    };
    Ok(Err(violation(chain, height, kind, detail)))
}

/// The payloads and index entries of a block that re-validated.
fn check_payloads_and_indexes(
    store: &Store,
    block: &Block,
    at: Below<'_>,
    report: &mut Report,
) -> Result<Option<Violation>, StoreError> {
    let hash = at.hash;
    let (chain, height) = (block.header.chain, block.header.height);
    for entry in &block.entries {
        let Some(payload) = &entry.payload else {
            continue;
        };
        match store.payload(&payload.hash) {
            Ok(Some(bytes)) if bytes.len() as u64 == payload.len => report.payloads += 1,
            Ok(Some(bytes)) => {
                let mut v = violation(
                    chain,
                    height,
                    ViolationKind::PayloadCorrupt,
                    format!(
                        "payload {} holds {} bytes, entry says {}",
                        payload.hash,
                        bytes.len(),
                        payload.len
                    ),
                );
                v.payload = Some(payload.hash);
                return Ok(Some(v));
            }
            Ok(None) => {
                if report.missing_payloads.len() < MAX_LISTED_MISSING_PAYLOADS {
                    report.missing_payloads.push(payload.hash);
                }
            }
            Err(StoreError::Corrupt(corruption)) => {
                let mut v = violation(
                    chain,
                    height,
                    ViolationKind::PayloadCorrupt,
                    corruption.to_string(),
                );
                v.payload = Some(payload.hash);
                return Ok(Some(v));
            }
            Err(other) => return Err(other),
        }
    }
    let missing = store.missing_index_entries(block, &hash)?;
    if let Some(first) = missing.first() {
        return Ok(Some(violation(
            chain,
            height,
            ViolationKind::IndexInconsistent,
            format!("{} index entries missing, first {first:?}", missing.len()),
        )));
    }
    Ok(None)
}

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
    /// The corrupt payload to re-fetch, if the violation was a payload.
    pub payload: Option<PayloadHash>,
}

impl Ledger {
    /// Runs a full scan and keeps its report in the store.
    pub fn verify(
        &self,
        now_ms: u64,
        finished_ms: impl FnOnce() -> u64,
    ) -> Result<Report, StoreError> {
        let mut report = scan(self.store(), self.trust(), now_ms)?;
        report.finished_ms = finished_ms();
        self.store()
            .put_report(&crate::stored_report::encode(&report))?;
        Ok(report)
    }

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
        let heights = violation.height..=violation.to_height.max(violation.height);
        let event = self
            .store()
            .quarantine_range(&violation.chain, heights, now_ms, &reason)?;
        Ok(Repair {
            chain: violation.chain,
            from_height: event.from_height,
            to_height: event.to_height,
            payload: violation.payload,
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
        let hashes = self.store().put_payloads(&[bytes])?;
        self.store().flush()?;
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
                self.store().mark_restored(event.id, now_ms)?;
                done.push(event);
            }
        }
        Ok(done)
    }

    /// Past verifier reports, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        Ok(self
            .store()
            .reports(limit)?
            .into_iter()
            .filter_map(|(_, bytes)| crate::stored_report::decode(&bytes))
            .collect())
    }
}
