//! The chain verifier: a full scan of every stored chain (repair is `crate::repair`).
//!
//! The paper's scenario 2: an attacker with access to a provider's repository modifies stored
//! chains. The verifier re-checks every block as if it had just arrived (hash, structure, entries
//! root, certificate, signature, link to the block below), every payload we hold against its
//! content address and length, and every index entry the block implies. It reports each damaged
//! run of a chain (consecutive heights that do not check out) with its first kind and height
//! and its last height. Repair (`crate::repair`) moves the run into quarantine (kept for
//! forensics, never deleted) and returns it as the range to fetch from peers; the blocks above
//! it stay. Blocks fetched back go through the normal validation, and the last of them must be
//! the block the one we kept above the run links to.
//!
//! Modules: `walk` goes up one chain and groups what does not check out into damaged runs;
//! `checks` re-validates one stored block and its payloads and index entries.

mod checks;
mod walk;

use std::collections::HashMap;
use std::ops::RangeInclusive;

use medchain_protocol::{Block, BlockHash, CertHash, ChainId, PayloadHash};
use medchain_store::{IndexDigest, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::ledger::Ledger;
use crate::trust::Trust;
use checks::check_payloads_and_indexes;
use walk::scan_chain;

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

/// A violation of one height (a run of one).
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
