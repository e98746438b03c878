//! The checks of one stored block: read raw and decoded once, re-validated through the same
//! typestate as a block arriving (position, structure, certificate, signature, link), then its
//! payloads and index entries.

use std::collections::HashMap;

use medchain_protocol::identity::CertError;
use medchain_protocol::{Block, CertHash};
use medchain_store::{Corruption, StoreError, StoreReader};

use super::{
    Below, MAX_LISTED_MISSING_PAYLOADS, PerBlock, Report, Scan, Violation, ViolationKind, violation,
};
use crate::error::Rejection;
use crate::validate::{Admission, Decoded, Linked};

/// The certificates this walk has seen carried (and checked), by hash: later blocks of the chain
/// are judged against them rather than the certificate tree, so damage there is one finding
/// (at the carrying block, by its index check), not one per block.
pub(super) type SeenCertificates = HashMap<CertHash, Vec<u8>>;

/// The block the chain index names at `at`: read raw and decoded once, re-validated as if it
/// had just arrived, then judged by `per_block`. An engine error reading it is a violation of
/// its height.
pub(super) fn check_height(
    scan: Scan<'_>,
    at: Below<'_>,
    certs: &mut SeenCertificates,
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
    let raw = match scan.store.raw_block_bytes(&hash) {
        Err(StoreError::Corrupt(corruption)) => return Ok(damaged(corruption)),
        other => other?,
    };
    let Some(bytes) = raw else {
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
    let block = match check_signed_block(scan, decoded, at, certs, report)? {
        Ok(block) => block,
        Err(v) => return Ok(Err(v)),
    };
    if let Some(der) = &block.certificate {
        certs.insert(block.header.cert, der.clone());
    }
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
        Corruption::PayloadHashMismatch { .. } | Corruption::PayloadUnreadable { .. } => {
            ViolationKind::PayloadCorrupt
        }
        Corruption::BadIndexValue { .. } => ViolationKind::IndexInconsistent,
        Corruption::Engine { .. } => ViolationKind::Unreadable,
        Corruption::Forged { .. } => ViolationKind::BadSignature,
    }
}

/// Re-validates one stored block as if it had just arrived: position, structure, entries root,
/// certificate, signature and link to the block below (when that one checked out). The block
/// back, or the violation.
fn check_signed_block(
    scan: Scan<'_>,
    decoded: Decoded,
    at: Below<'_>,
    certs: &SeenCertificates,
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
        .and_then(|s| {
            let known = certs.get(&s.block().header.cert).map(Vec::as_slice);
            s.check_certificate_known(scan.trust, scan.store, known, Admission::Audit)
        })
        .and_then(|c| c.check_signature())
        .and_then(|s| s.check_link_to(at.previous, scan.now_ms.max(time_ms)))
        .map(Linked::into_verified);
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
        // The certificate tree is damaged: a finding of this block, not the end of the scan.
        Rejection::Store(error) if error.is_corruption() => ViolationKind::BadCertificate,
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

/// The payloads and index entries of a block that re-validated. Erased payloads are absent by
/// design: not checked, not missing.
pub(super) fn check_payloads_and_indexes(
    store: &StoreReader,
    block: &Block,
    at: Below<'_>,
    erasures: &crate::grants::Erasures,
    report: &mut Report,
) -> Result<Option<Violation>, StoreError> {
    let hash = at.hash;
    let (chain, height) = (block.header.chain, block.header.height);
    for (index, entry) in (0u32..).zip(&block.entries) {
        let Some(payload) = &entry.payload else {
            continue;
        };
        if erasures.erased(&block.entry_ref(index), entry) {
            continue;
        }
        // A damaged payload is refetched by hash; its block is sound and stays.
        match store.payload(&payload.hash) {
            Ok(Some(bytes)) if bytes.len() as u64 == payload.len => report.payloads += 1,
            Ok(Some(_)) | Err(StoreError::Corrupt(_)) => {
                if !report.damaged_payloads.contains(&payload.hash)
                    && report.damaged_payloads.len() < MAX_LISTED_MISSING_PAYLOADS
                {
                    report.damaged_payloads.push(payload.hash);
                }
            }
            Ok(None) => {
                if report.missing_payloads.len() < MAX_LISTED_MISSING_PAYLOADS {
                    report.missing_payloads.push(payload.hash);
                }
            }
            Err(other) => return Err(other),
        }
    }
    let missing = match store.missing_index_entries(block, &hash) {
        Ok(missing) => missing,
        Err(StoreError::Corrupt(corruption)) => {
            return Ok(Some(violation(
                chain,
                height,
                ViolationKind::Unreadable,
                format!("its index entries cannot be read: {corruption}"),
            )));
        }
        Err(other) => return Err(other),
    };
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
