//! Equivocation evidence: two different blocks signed by one provider for one height.
//!
//! A chain has one writer, so two valid blocks at one height can only mean the writer's key
//! signed both: an insider re-signing a modified record (the paper's Figure 1), or a broken node.
//! The first block the network held stays authoritative; the evidence (both signed headers and
//! the certificate) is kept, gossiped, and shown to operators.
//!
//! Here: the check of evidence, and the ledger's two ways to keep it: a block that conflicts with
//! one we hold becomes evidence, and evidence from a peer is checked and kept. Either pauses
//! signing when the chain is our own.

use medchain_protocol::{BlockHash, EquivocationEvidence};
use medchain_store::StoreError;

use crate::error::Rejection;
use crate::ledger::{Ingested, Ledger};
use crate::signing::PauseKind;
use crate::trust::Trust;
use crate::validate::Signed;

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

impl Ledger {
    /// Keeps the evidence that `signed` conflicts with our block `held`; ours stays. If the
    /// chain is our own, our key signed twice: signing pauses (`forked`).
    pub(crate) fn equivocation(
        &mut self,
        signed: &Signed,
        held: &BlockHash,
        now_ms: u64,
    ) -> Result<Ingested, Rejection> {
        let (chain, height) = (signed.block().header.chain, signed.block().header.height);
        self.pause_if_own(
            &chain,
            PauseKind::Forked,
            || format!("a second block of this node's chain signed for height {height} arrived: evidence kept"),
            now_ms,
        );
        let ours = self
            .store
            .block(held)?
            .ok_or(Rejection::Store(StoreError::Corrupt(
                medchain_store::Corruption::MissingBlock {
                    chain: signed.block().header.chain,
                    height: signed.block().header.height,
                    hash: *held,
                },
            )))?;
        let evidence = EquivocationEvidence {
            certificate: signed.certificate().to_vec(),
            first: ours.signed_header(),
            second: signed.block().signed_header(),
        };
        let new = self.store.put_evidence(&evidence)?;
        Ok(Ingested::Equivocation {
            evidence: Box::new(evidence),
            new,
        })
    }

    /// Checks equivocation evidence that arrived from the network and keeps it. Returns whether
    /// it was new. The evidence must show two different headers for one chain and height, both
    /// signed by the key of a valid provider certificate for that chain.
    pub fn ingest_evidence(
        &mut self,
        evidence: &EquivocationEvidence,
        now_ms: u64,
    ) -> Result<bool, Rejection> {
        let header = &evidence.first.header;
        // Held already for this chain and height: nothing new to learn, and no signature to
        // check again (a peer serving the same evidence every round costs a lookup).
        if self.store().has_evidence_at(&header.chain, header.height)? {
            return Ok(false);
        }
        check(self.trust(), evidence)?;
        let (chain, height) = (header.chain, header.height);
        self.pause_if_own(
            &chain,
            PauseKind::Forked,
            || format!("evidence that this node's key signed two blocks at height {height}"),
            now_ms,
        );
        Ok(self.store.put_evidence(evidence)?)
    }
}
