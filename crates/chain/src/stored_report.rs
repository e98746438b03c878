//! Verifier reports as kept in the store: the ledger's full scan that keeps its report
//! (`Ledger::verify`), past reports read back, and the layouts they are kept in: the current
//! one; the one before reports listed
//! damaged payloads and stray entries apart (stores written up to 2026-11-27); and the one
//! before violations named the end of their damaged run and reports counted heights awaiting
//! repair (up to 2026-11-25). Past reports stay readable after an upgrade.

use medchain_protocol::{ChainId, PayloadHash, encoding};
use medchain_store::{StoreError, StoreReader, StrayEntry};
use serde::{Deserialize, Serialize};

use crate::ledger::Ledger;
use crate::verifier::{Report, Violation, ViolationKind, scan};

/// Largest stored report decoded.
const MAX_REPORT_BYTES: usize = 1 << 20;

impl Ledger {
    /// Runs a full scan, sets aside the stray entries it found, and keeps its report in the
    /// store. (Quarantining the damaged runs is the caller's next step: `Ledger::quarantine`.)
    pub fn verify(
        &mut self,
        now_ms: u64,
        finished_ms: impl FnOnce() -> u64,
    ) -> Result<Report, StoreError> {
        let mut report = scan(self.store(), self.trust(), now_ms)?;
        self.keep_report(&mut report, finished_ms())?;
        Ok(report)
    }

    /// Finishes a scan made by [`scan`] (here or by a reader without the ledger): sets aside
    /// the stray entries it found, and keeps its report in the store.
    pub fn keep_report(&mut self, report: &mut Report, finished_ms: u64) -> Result<(), StoreError> {
        if !report.stray.is_empty() {
            self.store.set_aside(&report.stray, report.started_ms)?;
        }
        report.finished_ms = finished_ms;
        self.store.put_report(&encode(report))?;
        Ok(())
    }

    /// Past verifier reports, newest first.
    pub fn reports(&self, limit: usize) -> Result<Vec<Report>, StoreError> {
        past_reports(self.store(), limit)
    }
}

/// Past verifier reports kept in `store`, newest first (readable without the ledger).
pub fn past_reports(store: &StoreReader, limit: usize) -> Result<Vec<Report>, StoreError> {
    Ok(store
        .reports(limit)?
        .into_iter()
        .filter_map(|(_, bytes)| decode(&bytes))
        .collect())
}

/// The bytes a report is kept as.
pub fn encode(report: &Report) -> Vec<u8> {
    encoding::encode(report)
}

/// A stored report in either layout; `None` for bytes that are neither. Strict decoding keeps
/// the layouts apart: each leaves the other truncated or with trailing bytes.
pub fn decode(bytes: &[u8]) -> Option<Report> {
    encoding::decode::<Report>(bytes, MAX_REPORT_BYTES)
        .ok()
        .or_else(|| {
            encoding::decode::<ReportBeforeStray>(bytes, MAX_REPORT_BYTES)
                .ok()
                .map(Into::into)
        })
        .or_else(|| {
            encoding::decode::<ReportBeforeRuns>(bytes, MAX_REPORT_BYTES)
                .ok()
                .map(Into::into)
        })
}

/// The layout before damaged payloads and stray entries were listed apart.
#[derive(Serialize, Deserialize)]
struct ReportBeforeStray {
    started_ms: u64,
    finished_ms: u64,
    chains: u64,
    blocks: u64,
    entries: u64,
    payloads: u64,
    missing_payloads: Vec<PayloadHash>,
    revoked_chains: Vec<ChainId>,
    violations: Vec<Violation>,
    awaiting_repair: u64,
}

impl From<ReportBeforeStray> for Report {
    fn from(old: ReportBeforeStray) -> Self {
        Report {
            started_ms: old.started_ms,
            finished_ms: old.finished_ms,
            chains: old.chains,
            blocks: old.blocks,
            entries: old.entries,
            payloads: old.payloads,
            missing_payloads: old.missing_payloads,
            revoked_chains: old.revoked_chains,
            violations: old.violations,
            awaiting_repair: old.awaiting_repair,
            damaged_payloads: Vec::new(),
            stray: Vec::<StrayEntry>::new(),
            erased_payloads: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ReportBeforeRuns {
    started_ms: u64,
    finished_ms: u64,
    chains: u64,
    blocks: u64,
    entries: u64,
    payloads: u64,
    missing_payloads: Vec<PayloadHash>,
    revoked_chains: Vec<ChainId>,
    violations: Vec<ViolationBeforeRuns>,
}

#[derive(Serialize, Deserialize)]
struct ViolationBeforeRuns {
    chain: ChainId,
    height: u64,
    kind: ViolationKind,
    detail: String,
    payload: Option<PayloadHash>,
}

impl From<ReportBeforeRuns> for Report {
    fn from(old: ReportBeforeRuns) -> Self {
        Report {
            started_ms: old.started_ms,
            finished_ms: old.finished_ms,
            chains: old.chains,
            blocks: old.blocks,
            entries: old.entries,
            payloads: old.payloads,
            missing_payloads: old.missing_payloads,
            revoked_chains: old.revoked_chains,
            violations: old
                .violations
                .into_iter()
                // Such a report named only the first violating height of each chain.
                .map(|v| Violation {
                    chain: v.chain,
                    height: v.height,
                    kind: v.kind,
                    detail: v.detail,
                    payload: v.payload,
                    to_height: v.height,
                })
                .collect(),
            awaiting_repair: 0,
            damaged_payloads: Vec::new(),
            stray: Vec::new(),
            erased_payloads: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    fn old_report() -> ReportBeforeRuns {
        ReportBeforeRuns {
            started_ms: 1,
            finished_ms: 2,
            chains: 3,
            blocks: 4,
            entries: 5,
            payloads: 6,
            missing_payloads: vec![],
            revoked_chains: vec![],
            violations: vec![ViolationBeforeRuns {
                chain: ChainId([9; 32]),
                height: 7,
                kind: ViolationKind::HashMismatch,
                detail: "flipped".into(),
                payload: None,
            }],
        }
    }

    #[test]
    fn a_report_stored_before_stray_entries_reads_back() {
        let old = ReportBeforeStray {
            started_ms: 1,
            finished_ms: 2,
            chains: 3,
            blocks: 4,
            entries: 5,
            payloads: 6,
            missing_payloads: vec![],
            revoked_chains: vec![],
            violations: vec![],
            awaiting_repair: 7,
        };
        let report = decode(&encoding::encode(&old)).unwrap();
        assert_eq!((report.blocks, report.awaiting_repair), (4, 7));
        assert!(report.stray.is_empty() && report.damaged_payloads.is_empty());
    }

    #[test]
    fn a_report_stored_before_runs_reads_back() {
        let report = decode(&encoding::encode(&old_report())).unwrap();
        assert_eq!((report.chains, report.blocks), (3, 4));
        let v = &report.violations[0];
        assert_eq!(
            (v.height, v.to_height, v.kind),
            (7, 7, ViolationKind::HashMismatch)
        );
        // And a current one round-trips.
        assert_eq!(decode(&encode(&report)).unwrap(), report);
        assert!(decode(b"not a report").is_none());
    }
}
