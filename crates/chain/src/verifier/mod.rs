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
//! The verifier distrusts the store it checks: an engine error reading a height, a malformed
//! key or value, an undecodable event is a finding (a violation of the chain and height it
//! belongs to, or a stray entry of the store, set aside), never "the scan could not run". Only
//! an engine error it cannot attribute to a chain (the trees it starts from are unreadable)
//! ends the scan with an error, which the node treats as a store to rebuild. Damaged payloads
//! are listed apart (`damaged_payloads`): they are refetched by hash, their blocks stay.
//!
//! Modules: `walk` goes up one chain and groups what does not check out into damaged runs;
//! `checks` re-validates one stored block and its payloads and index entries; `passes` runs
//! the ordered passes over payloads and index trees.

mod checks;
mod passes;
mod walk;

use std::collections::HashMap;
use std::ops::RangeInclusive;

use medchain_protocol::{Block, BlockHash, ChainHead, ChainId, PayloadHash};
use medchain_store::{StoreError, StoreReader, StrayEntry};
use serde::{Deserialize, Serialize};

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
    /// A payload we hold does not match its entry's hash or length (reports before
    /// 2026-11-27; since then listed in `Report::damaged_payloads`, the block staying).
    PayloadCorrupt,
    /// An index entry the block implies is missing.
    IndexInconsistent,
    /// The head record disagrees with the chain index.
    HeadMismatch,
    /// The storage engine could not read what is stored here (a page failed its checksum, a
    /// file is truncated): sled's own corruption, attributed to the height being read.
    Unreadable,
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
            ViolationKind::Unreadable => "unreadable",
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
    /// The corrupt payload, in reports kept before damaged payloads were listed apart
    /// (`Report::damaged_payloads`; a damaged payload no longer makes its block a violation).
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
    /// Payloads held whose bytes do not hash to their address, have another length, or cannot
    /// be read: refetched by hash from peers; their blocks are sound and stay.
    pub damaged_payloads: Vec<PayloadHash>,
    /// Entries of the store that are not what their tree holds (malformed, planted, left
    /// over), set aside by [`Ledger::verify`].
    pub stray: Vec<StrayEntry>,
    /// Payloads held that only erased entries reference (erasure: the node deletes them). A
    /// payload another entry still references is not listed: a provider cannot have another's
    /// ciphertext deleted by naming its hash in an entry it then erases. Found by the ordered
    /// scan only, and not kept with the stored report.
    #[serde(skip)]
    pub erased_payloads: Vec<PayloadHash>,
}

impl Report {
    /// Whether every chain verified clean and the store holds nothing stray (damaged payloads,
    /// which are refetched by hash, are counted apart).
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.stray.is_empty()
    }
}

/// Scans every chain in `store`: the small trees for stray entries, then every chain by
/// ordered passes ([`passes::ordered_scan`]); if a block or the index digest does not check
/// out, point by point ([`full_scan`]), which names each damaged run, and then the index trees
/// for keys no block implies. `Err` only for an engine error that cannot be attributed to a
/// chain (the node rebuilds such a store) or that is not damage (an I/O refusal).
pub fn scan(store: &StoreReader, trust: &Trust, now_ms: u64) -> Result<Report, StoreError> {
    let stray = store.stray_entries()?;
    let chains = chains_to_scan(store)?;
    let repairing = open_repairs(store)?;
    let scan = Scan {
        store,
        trust,
        now_ms,
    };
    let mut report = match passes::ordered_scan(scan, &chains, &repairing)? {
        Some(clean) => clean,
        None => {
            let mut report = full_scan(scan, &chains, &repairing)?;
            report.stray = store.stray_index_keys(&report_heads(&chains))?;
            report
        }
    };
    report.stray.extend(stray);
    report.stray.truncate(medchain_store::MAX_STRAY_PER_SCAN);
    Ok(report)
}

/// The chains to scan: every head record, and every chain the index holds without a sound
/// head record (its top is then its head, and the missing head a violation).
fn chains_to_scan(store: &StoreReader) -> Result<Vec<(ChainId, Option<ChainHead>)>, StoreError> {
    let heads: HashMap<ChainId, ChainHead> =
        store.heads()?.into_iter().map(|h| (h.chain, h)).collect();
    let mut chains: Vec<(ChainId, Option<ChainHead>)> =
        heads.values().map(|h| (h.chain, Some(*h))).collect();
    for chain in store.indexed_chains()? {
        if !heads.contains_key(&chain) {
            chains.push((chain, None));
        }
    }
    chains.sort_by_key(|(chain, _)| *chain);
    Ok(chains)
}

/// The heads a scan judged (a chain without a head record: up to its index top).
fn report_heads(chains: &[(ChainId, Option<ChainHead>)]) -> HashMap<ChainId, u64> {
    chains
        .iter()
        .map(|(chain, head)| (*chain, head.map_or(u64::MAX, |h| h.height)))
        .collect()
}

/// Scans every chain point by point: each block, then each of its payloads and index entries.
fn full_scan(
    scan: Scan<'_>,
    chains: &[(ChainId, Option<ChainHead>)],
    repairing: &HashMap<ChainId, Vec<RangeInclusive<u64>>>,
) -> Result<Report, StoreError> {
    let mut report = Report {
        started_ms: scan.now_ms,
        ..Report::default()
    };
    for (chain, head) in chains {
        report.chains += 1;
        let erasures = crate::grants::Erasures::of_chain(scan.store, chain)?;
        let mut per_block = |block: &Block, at: Below<'_>, report: &mut Report| {
            check_payloads_and_indexes(scan.store, block, at, &erasures, report)
        };
        let awaiting = repairing.get(chain).map_or(&[][..], Vec::as_slice);
        let runs = scan_chain(scan, *chain, *head, awaiting, &mut report, &mut per_block)?;
        report.violations.extend(runs);
    }
    Ok(report)
}

/// The ranges of every open quarantine event, by chain.
fn open_repairs(
    store: &StoreReader,
) -> Result<HashMap<ChainId, Vec<RangeInclusive<u64>>>, StoreError> {
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
pub(super) struct Scan<'a> {
    store: &'a StoreReader,
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
