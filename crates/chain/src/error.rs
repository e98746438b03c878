//! Why a block or evidence is refused, and how the network should treat the sender.
//!
//! Every rejection maps, in one place ([`Rejection::verdict`]), to what gossip validation reports:
//! `Reject` when the sender is at fault (forged, unauthorized, malformed: never forwarded, and the
//! peer is penalised), `Ignore` when we cannot judge yet (a gap, a block from the future), and
//! `Duplicate` when we already hold it.

use medchain_protocol::identity::CertError;
use medchain_protocol::{
    BlockError, BlockHash, CertHash, ChainId, DecodeError, message::InlinePayloadError,
};
use medchain_store::StoreError;

/// How the network should treat a message that was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The sender is at fault: do not forward, penalise.
    Reject,
    /// Cannot be judged now: do not forward, do not penalise.
    Ignore,
    /// Already held: do not forward again, do not penalise.
    Duplicate,
}

/// Why a block was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// The bytes are not a canonical block.
    #[error("malformed block: {0}")]
    Malformed(#[from] DecodeError),
    /// The block breaks a structural rule.
    #[error("invalid structure: {0}")]
    Structure(#[from] BlockError),
    /// Inline payloads do not match the block.
    #[error("invalid inline payloads: {0}")]
    InlinePayloads(#[from] InlinePayloadError),
    /// The signer's certificate is not a valid provider certificate of the consortium.
    #[error("certificate refused: {0}")]
    Certificate(CertError),
    /// The block names a certificate we do not hold and does not carry it.
    #[error("block names certificate {0} which it does not carry and we do not hold")]
    UnknownCertificate(CertHash),
    /// The certificate's key is not the key of the block's chain.
    #[error("certificate key does not own chain {0}")]
    ChainKeyMismatch(ChainId),
    /// The signature does not verify under the chain's key.
    #[error("bad block signature")]
    BadSignature,
    /// The block does not carry a certificate but names a different one than its predecessor.
    #[error("certificate changed without the block carrying the new one")]
    CertificateNotCarried,
    /// The block's time is before its predecessor's.
    #[error("block time goes backwards")]
    TimeGoesBackwards,
    /// The block's time is too far in our future.
    #[error("block time is {ahead_ms} ms in the future")]
    FromTheFuture {
        /// How far ahead of our clock.
        ahead_ms: u64,
    },
    /// The block's prev does not match the block we hold below it.
    #[error("block does not link to the block we hold at height {height}")]
    BrokenLink {
        /// Height of the block we hold below.
        height: u64,
    },
    /// There is a gap between our head and this block; it waits for the missing blocks.
    #[error("gap: chain {chain} needs heights {from}..{to} first")]
    Gap {
        /// The chain.
        chain: ChainId,
        /// First missing height.
        from: u64,
        /// First height not missing (the block's own).
        to: u64,
    },
    /// We hold this exact block already.
    #[error("duplicate block {0}")]
    Duplicate(BlockHash),
    /// A different block is held at this height: the provider equivocated. The evidence is kept.
    #[error("equivocation at height {height} of chain {chain}")]
    Equivocation {
        /// The chain.
        chain: ChainId,
        /// The height.
        height: u64,
    },
    /// The out-of-order buffer is full.
    #[error("out-of-order buffer is full")]
    BufferFull,
    /// A block for this position already waits in the out-of-order buffer: the first stays.
    #[error("a block for height {height} of chain {chain} already waits for earlier heights")]
    AlreadyWaiting {
        /// The chain.
        chain: ChainId,
        /// The height.
        height: u64,
    },
    /// A range answer that is not the consecutive heights of the chain asked for, from the
    /// height asked for.
    #[error("range answer is not consecutive heights of chain {chain} from {from}")]
    RangeShape {
        /// The chain asked for.
        chain: ChainId,
        /// The first height asked for.
        from: u64,
    },
    /// The store failed; nothing was accepted.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl Rejection {
    /// How gossip validation should report this.
    pub fn verdict(&self) -> Verdict {
        match self {
            Rejection::Malformed(_)
            | Rejection::Structure(_)
            | Rejection::InlinePayloads(_)
            | Rejection::Certificate(_)
            | Rejection::ChainKeyMismatch(_)
            | Rejection::BadSignature
            | Rejection::CertificateNotCarried
            | Rejection::TimeGoesBackwards
            | Rejection::RangeShape { .. } => Verdict::Reject,
            // An equivocating block (or one linking to the other side of an equivocation) is
            // validly signed: the relaying peer may honestly have seen that side first, so it is
            // not penalised. The block is not forwarded; its evidence travels on its own topic.
            Rejection::Equivocation { .. }
            | Rejection::BrokenLink { .. }
            | Rejection::UnknownCertificate(_)
            | Rejection::FromTheFuture { .. }
            | Rejection::Gap { .. }
            | Rejection::BufferFull
            | Rejection::AlreadyWaiting { .. }
            | Rejection::Store(_) => Verdict::Ignore,
            Rejection::Duplicate(_) => Verdict::Duplicate,
        }
    }

    /// A short stable label for metrics and logs (`rejected_total{reason=...}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Structure(_) => "structure",
            Rejection::InlinePayloads(_) => "inline_payloads",
            Rejection::Certificate(CertError::UnknownIssuer) => "unknown_issuer",
            Rejection::Certificate(CertError::Revoked) => "revoked",
            Rejection::Certificate(CertError::WrongRole { .. }) => "wrong_role",
            Rejection::Certificate(CertError::Expired { .. } | CertError::NotYetValid { .. }) => {
                "certificate_time"
            }
            Rejection::Certificate(_) => "certificate",
            Rejection::UnknownCertificate(_) => "unknown_certificate",
            Rejection::ChainKeyMismatch(_) => "chain_key_mismatch",
            Rejection::BadSignature => "bad_signature",
            Rejection::CertificateNotCarried => "certificate_not_carried",
            Rejection::TimeGoesBackwards => "time_backwards",
            Rejection::FromTheFuture { .. } => "future",
            Rejection::BrokenLink { .. } => "broken_link",
            Rejection::Gap { .. } => "gap",
            Rejection::Duplicate(_) => "duplicate",
            Rejection::Equivocation { .. } => "equivocation",
            Rejection::BufferFull => "buffer_full",
            Rejection::AlreadyWaiting { .. } => "already_waiting",
            Rejection::RangeShape { .. } => "range_shape",
            Rejection::Store(_) => "store",
        }
    }
}
