//! Equivocation evidence: two different blocks signed by one provider for one height.
//!
//! A chain has one writer, so two valid blocks at one height can only mean the writer's key
//! signed both: an insider re-signing a modified record (the paper's Figure 1), or a broken node.
//! The first block the network held stays authoritative; the evidence (both signed headers and
//! the certificate) is kept, gossiped, and shown to operators.

use medchain_protocol::EquivocationEvidence;

use crate::error::Rejection;
use crate::trust::Trust;

/// Why evidence is not acceptable, as a structure error of the evidence itself.
fn invalid(reason: &'static str) -> Rejection {
    Rejection::Malformed(medchain_protocol::DecodeError::Malformed(reason))
}

/// Checks that `evidence` proves an equivocation by a consortium provider.
pub fn check(trust: &Trust, evidence: &EquivocationEvidence) -> Result<(), Rejection> {
    let (first, second) = (&evidence.first.header, &evidence.second.header);
    if first.chain != second.chain || first.height != second.height {
        return Err(invalid("evidence headers are not for one chain and height"));
    }
    if first.hash() == second.hash() {
        return Err(invalid("evidence headers are the same block"));
    }
    let provider = trust
        .provider(&evidence.certificate, first.time_ms.min(second.time_ms))
        .map_err(Rejection::Certificate)?;
    if provider.chain != first.chain {
        return Err(Rejection::ChainKeyMismatch(first.chain));
    }
    let key = provider.member.public_key;
    if !evidence.first.verify_signature(&key) || !evidence.second.verify_signature(&key) {
        return Err(Rejection::BadSignature);
    }
    Ok(())
}
