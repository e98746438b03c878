//! Wire messages: what travels by gossip and by sync request.
//!
//! Every message on the wire is one version byte ([`PROTOCOL_VERSION`]) followed by the canonical
//! postcard encoding of the message. Each kind has its own size limit, checked before decoding.
//! Gossip carries new blocks (with small payloads inline) on the blocks topic and equivocation
//! evidence on the evidence topic; sync is a
//! request-response protocol by chain ID: hello (membership), heads, a block range, a payload.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::block::{Block, SignedHeader};
use crate::encoding::{self, DecodeError};
use crate::entry::is_printable_text;
use crate::ids::{ChainHead, ChainId, EntryRef, PayloadHash};
use crate::limits::{
    MAX_CERT_BYTES, MAX_EVIDENCE_BYTES, MAX_GOSSIP_BYTES, MAX_INLINE_PAYLOAD_BYTES,
    MAX_INLINE_PAYLOADS_TOTAL, MAX_NETWORK_NAME_LEN, MAX_SYNC_REQUEST_BYTES,
    MAX_SYNC_RESPONSE_BYTES, MAX_TEXT_LEN, PROTOCOL_VERSION,
};

/// The message on the blocks topic: a new block, with those of its payloads small enough to
/// travel inline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMessage {
    /// The block.
    pub block: Block,
    /// Payload blobs of the block's entries, each at most
    /// [`MAX_INLINE_PAYLOAD_BYTES`](crate::limits::MAX_INLINE_PAYLOAD_BYTES); every one must be
    /// referenced by an entry of the block. The rest are fetched by hash.
    pub payloads: Vec<serde_bytes::ByteBuf>,
}

/// The message on the evidence topic: two different blocks signed by the same provider for the same chain and height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationEvidence {
    /// The signer's certificate (DER), so the evidence can be checked on its own.
    #[serde(with = "serde_bytes")]
    pub certificate: Vec<u8>,
    /// The block the network held first.
    pub first: SignedHeader,
    /// The conflicting block.
    pub second: SignedHeader,
}

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Membership handshake: who I am. Answered by the peer's own hello.
    Hello(Hello),
    /// "What are your heads?"
    Heads,
    /// "Give me blocks of this chain from this height": at most `limit` blocks, in order.
    Blocks {
        /// The chain.
        chain: ChainId,
        /// The first height wanted.
        from: u64,
        /// The most blocks wanted, at most [`MAX_BLOCKS_PER_RANGE`](crate::limits::MAX_BLOCKS_PER_RANGE).
        limit: u32,
    },
    /// "Give me this payload."
    Payload(PayloadHash),
    /// "Give me the equivocation evidence you hold", skipping the first `skip` items of the
    /// responder's list: at most [`MAX_EVIDENCE_PER_RESPONSE`](crate::limits::MAX_EVIDENCE_PER_RESPONSE)
    /// per answer. Anti-entropy for evidence, whose gossip is best-effort.
    Evidence {
        /// Items already received.
        skip: u32,
    },
    /// Like `Blocks`, but each block comes with its payloads that may travel inline (as on the
    /// blocks topic), so a node catching up fetches a range in one round trip instead of one
    /// per payload. Answered by [`SyncResponse::Range`].
    Range {
        /// The chain.
        chain: ChainId,
        /// The first height wanted.
        from: u64,
        /// The most blocks wanted, at most [`MAX_BLOCKS_PER_RANGE`](crate::limits::MAX_BLOCKS_PER_RANGE).
        limit: u32,
    },
    /// "Release to me the data keys of these entries of your chain": at most
    /// [`MAX_KEYS_PER_REQUEST`](crate::limits::MAX_KEYS_PER_REQUEST). The responder releases a key
    /// only for an entry of its own chain whose record a grant on that chain opens to the
    /// requester's organisation (as its admitted certificate names it), wrapped with HPKE to the
    /// encryption key that certificate binds. Answered by [`SyncResponse::DataKeys`].
    DataKeys(Vec<EntryRef>),
    /// "Give me the key backups you hold of this chain from this height": at most `limit`
    /// blocks' backups ([`MAX_BLOCKS_PER_RANGE`](crate::limits::MAX_BLOCKS_PER_RANGE)), in order
    /// of height, those the responder lacks skipped. Answered by [`SyncResponse::KeyBackups`].
    KeyBackups {
        /// The chain.
        chain: ChainId,
        /// The first height wanted.
        from: u64,
        /// The most backups wanted.
        limit: u32,
    },
}

/// The answer about one entry's data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAnswer {
    /// The entry asked about.
    pub at: EntryRef,
    /// What the responder did.
    pub outcome: KeyOutcome,
}

/// What became of a request for one entry's data key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOutcome {
    /// The data key, released with HPKE to the requester's encryption key
    /// ([`key_release`](crate::key_release), 80 bytes).
    Released(serde_bytes::ByteBuf),
    /// No grant on the responder's chain opens this entry's record to the requester.
    NotGranted,
    /// The record's payloads are erased: no key exists any more.
    Erased,
    /// The responder does not hold this key (not its chain's entry, no payload, or lost).
    NotHeld,
}

/// A member introducing itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The network name; peers of another network are refused.
    pub network: String,
    /// The member certificate (DER) whose key is the sender's libp2p identity.
    #[serde(with = "serde_bytes")]
    pub certificate: Vec<u8>,
    /// Software name and version, for operators.
    pub agent: String,
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The answer to a hello.
    Hello(Hello),
    /// The responder's head of every chain it holds.
    Heads(Vec<ChainHead>),
    /// Consecutive blocks from the requested height; fewer than asked when the chain ends or the
    /// response would exceed its size limit; empty when the responder has none from there.
    Blocks(Vec<Block>),
    /// The payload bytes.
    Payload(serde_bytes::ByteBuf),
    /// The responder does not hold the payload.
    NotFound,
    /// The request was refused.
    Error(SyncError),
    /// Equivocation evidence, in the responder's order; fewer than the maximum when its list ends.
    Evidence(Vec<EquivocationEvidence>),
    /// Consecutive blocks from the requested height, each with the payloads the responder holds
    /// that may travel inline (the blocks topic's rules); fewer than asked when the chain ends or
    /// the response would exceed its size limit; empty when the responder has none from there.
    Range(Vec<BlockMessage>),
    /// The answer to a key request: one per entry asked about, in the request's order.
    DataKeys(Vec<KeyAnswer>),
    /// Key backups of the chain asked for, ascending by height; fewer than asked when the
    /// response would exceed its size limit.
    KeyBackups(Vec<crate::key_backup::KeyBackup>),
}

/// A refused sync request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    /// Why, as a code.
    pub code: SyncErrorCode,
    /// Why, for operators.
    pub message: String,
}

/// Why a sync request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncErrorCode {
    /// The request is malformed or asks for more than the limits allow.
    BadRequest,
    /// The requester has not proven membership (no valid hello yet).
    NotAdmitted,
    /// The responder is overloaded; try another peer or later.
    Busy,
    /// The responder failed internally.
    Internal,
}

/// A wire message: encodes as a version byte and the canonical body, with a size limit.
pub trait WireMessage: Serialize + DeserializeOwned {
    /// The most bytes one encoded message may take, version byte included.
    const MAX_BYTES: usize;

    /// The version byte followed by the canonical encoding.
    fn to_wire(&self) -> Vec<u8> {
        let mut out = vec![PROTOCOL_VERSION];
        encoding::encode_into(self, &mut out);
        out
    }

    /// Decodes a message, checking size, version, and canonical form.
    fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge {
                len: bytes.len(),
                max: Self::MAX_BYTES,
            });
        }
        match bytes.split_first() {
            None => Err(DecodeError::Empty),
            Some((&PROTOCOL_VERSION, body)) => encoding::decode(body, Self::MAX_BYTES),
            Some((&other, _)) => Err(DecodeError::UnsupportedVersion(other)),
        }
    }
}

impl WireMessage for BlockMessage {
    const MAX_BYTES: usize = MAX_GOSSIP_BYTES;
}

impl WireMessage for EquivocationEvidence {
    const MAX_BYTES: usize = MAX_EVIDENCE_BYTES;
}

impl WireMessage for SyncRequest {
    const MAX_BYTES: usize = MAX_SYNC_REQUEST_BYTES;
}

impl WireMessage for SyncResponse {
    const MAX_BYTES: usize = MAX_SYNC_RESPONSE_BYTES;
}

/// Why the inline payloads of a block message are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InlinePayloadError {
    /// One inline payload is larger than an inline payload may be.
    #[error("inline payload of {0} bytes exceeds the limit of {MAX_INLINE_PAYLOAD_BYTES}")]
    TooLarge(usize),
    /// All inline payloads together are larger than allowed.
    #[error("inline payloads total {0} bytes, over the limit of {MAX_INLINE_PAYLOADS_TOTAL}")]
    TotalTooLarge(usize),
    /// An inline payload that no entry of the block references (or with the wrong length).
    #[error("inline payload {0} is not referenced by any entry of the block")]
    Unreferenced(PayloadHash),
    /// The same payload twice.
    #[error("inline payload {0} appears twice")]
    Duplicate(PayloadHash),
}

impl BlockMessage {
    /// Checks that every inline payload is within the limits, unique, and referenced by an entry
    /// of the block with its exact hash and length. Returns the payloads' hashes, in order.
    pub fn check_payloads(&self) -> Result<Vec<PayloadHash>, InlinePayloadError> {
        check_inline_payloads(&self.block, &self.payloads)
    }
}

/// [`BlockMessage::check_payloads`] for a block and its inline payloads held apart.
pub fn check_inline_payloads(
    block: &Block,
    payloads: &[serde_bytes::ByteBuf],
) -> Result<Vec<PayloadHash>, InlinePayloadError> {
    if payloads.is_empty() {
        // A stored block re-checked by the verifier, or one whose payloads travel apart.
        return Ok(Vec::new());
    }
    let total: usize = payloads.iter().map(|p| p.len()).sum();
    if total > MAX_INLINE_PAYLOADS_TOTAL {
        return Err(InlinePayloadError::TotalTooLarge(total));
    }
    // Linear in entries and payloads: a full block holds about a thousand of each.
    let referenced: std::collections::HashMap<PayloadHash, u64> = block
        .entries
        .iter()
        .filter_map(|entry| entry.payload.as_ref().map(|p| (p.hash, p.len)))
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(payloads.len());
    let mut hashes = Vec::with_capacity(payloads.len());
    for payload in payloads {
        if payload.len() > MAX_INLINE_PAYLOAD_BYTES {
            return Err(InlinePayloadError::TooLarge(payload.len()));
        }
        let hash = PayloadHash::of(payload);
        if !seen.insert(hash) {
            return Err(InlinePayloadError::Duplicate(hash));
        }
        if referenced.get(&hash) != Some(&(payload.len() as u64)) {
            return Err(InlinePayloadError::Unreferenced(hash));
        }
        hashes.push(hash);
    }
    Ok(hashes)
}

/// Why a hello is not acceptable (before its certificate is checked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The peer belongs to another network.
    #[error("peer is on network {theirs:?}, we are on {ours:?}")]
    WrongNetwork {
        /// The peer's network name.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// The certificate is empty or larger than the protocol allows.
    #[error("hello certificate is empty or over {MAX_CERT_BYTES} bytes")]
    BadCertificateSize,
    /// The agent string is not short printable text.
    #[error("hello agent must be 1 to {MAX_TEXT_LEN} bytes of printable text")]
    BadAgent,
}

impl Hello {
    /// Checks the network name and the sizes; the certificate itself is checked by the caller
    /// against the consortium.
    pub fn check(&self, our_network: &str) -> Result<(), HelloError> {
        if self.network != our_network {
            return Err(HelloError::WrongNetwork {
                theirs: self.network.chars().take(MAX_NETWORK_NAME_LEN).collect(),
                ours: our_network.to_owned(),
            });
        }
        if self.certificate.is_empty() || self.certificate.len() > MAX_CERT_BYTES {
            return Err(HelloError::BadCertificateSize);
        }
        if !is_printable_text(&self.agent, MAX_TEXT_LEN) {
            return Err(HelloError::BadAgent);
        }
        Ok(())
    }
}
