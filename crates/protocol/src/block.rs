//! Blocks: a signed header committing to a batch of entries on one provider's chain.
//!
//! The header names the chain, the height, the previous block's hash, the time, the hash of the
//! signer's certificate, the Merkle root and count of the entries, and the heads of other chains
//! the author had seen (witnesses, which anchor each chain's history in the others'). The provider
//! signs `SIGNATURE_PREFIX || block hash`, where the block hash is the domain-separated blake3 of
//! the canonically encoded header. A block carries its signer's certificate when the certificate
//! changes: always at genesis (height 0), and at the first block after a renewal.

use serde::{Deserialize, Serialize};

use crate::encoding::{self, DecodeError};
use crate::entry::{Entry, EntryError};
use crate::hash::Domain;
use crate::identity::{MemberKey, verify_ed25519};
use crate::ids::{BlockHash, CertHash, ChainHead, ChainId, EntriesRoot, EntryRef};
use crate::limits::{
    MAX_BLOCK_BYTES, MAX_CERT_BYTES, MAX_ENTRIES_PER_BLOCK, MAX_WITNESSES, PROTOCOL_VERSION,
};
use crate::merkle;

/// Prefix of the message a provider signs; the 32-byte block hash follows it.
pub const SIGNATURE_PREFIX: &[u8] = b"medchain v1 block-signature\0";

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(#[serde(with = "serde_bytes")] pub [u8; 64]);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// The signed part of a block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Protocol version; 1.
    pub version: u8,
    /// The provider's chain.
    pub chain: ChainId,
    /// 0 for genesis, then one more than the previous block.
    pub height: u64,
    /// Hash of the previous block; all zero at genesis.
    pub prev: BlockHash,
    /// When the block was made, in milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Hash of the DER of the certificate whose key signs this block.
    pub cert: CertHash,
    /// Merkle root over the entries' hashes.
    pub entries_root: EntriesRoot,
    /// Number of entries.
    pub entry_count: u32,
    /// Heads of other chains the author held, sorted by chain, at most one per chain.
    pub witnesses: Vec<ChainHead>,
}

impl BlockHeader {
    /// The canonical bytes of this header.
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The block hash: blake3 of the encoded header in domain `BlockHeader`.
    pub fn hash(&self) -> BlockHash {
        BlockHash(Domain::BlockHeader.hash(&self.encode()))
    }

    /// Signs the header with the provider's key.
    pub fn sign(&self, key: &MemberKey) -> Signature {
        Signature(key.sign(&signing_message(&self.hash())))
    }
}

/// The exact bytes signed for the block with this hash.
pub fn signing_message(hash: &BlockHash) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_PREFIX.len() + 32);
    message.extend_from_slice(SIGNATURE_PREFIX);
    message.extend_from_slice(hash.as_bytes());
    message
}

/// A header with its signature: what equivocation evidence is made of.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedHeader {
    /// The header.
    pub header: BlockHeader,
    /// The provider's signature over it.
    pub signature: Signature,
}

impl SignedHeader {
    /// Whether the signature is valid for this header under `public_key`.
    pub fn verify_signature(&self, public_key: &[u8; 32]) -> bool {
        verify_ed25519(
            public_key,
            &signing_message(&self.header.hash()),
            &self.signature.0,
        )
    }
}

/// A block as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Block {
    /// The signed header.
    pub header: BlockHeader,
    /// The provider's signature over the header.
    pub signature: Signature,
    /// The signer's certificate (DER), present when it differs from the previous block's.
    #[serde(with = "serde_bytes")]
    pub certificate: Option<Vec<u8>>,
    /// The entries, in order; their Merkle root is in the header.
    pub entries: Vec<Entry>,
}

/// Why a block is structurally invalid, before anything about other blocks or certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A header version this node does not speak.
    #[error("unsupported block version {0}")]
    UnsupportedVersion(u8),
    /// More entries than a block may hold.
    #[error("{0} entries exceed the limit of {MAX_ENTRIES_PER_BLOCK}")]
    TooManyEntries(usize),
    /// The header's entry count is not the number of entries.
    #[error("header declares {declared} entries, block holds {actual}")]
    EntryCountMismatch {
        /// In the header.
        declared: u32,
        /// In the block.
        actual: usize,
    },
    /// The header's entries root is not the root of the entries.
    #[error("entries root does not match the entries")]
    EntriesRootMismatch,
    /// A genesis block with a non-zero previous hash, or a later block with a zero one.
    #[error("previous hash must be zero exactly at genesis")]
    BadPrev,
    /// A genesis block without its certificate.
    #[error("genesis block carries no certificate")]
    MissingCertificate,
    /// The carried certificate is not the one the header names.
    #[error("carried certificate does not match the header's certificate hash")]
    CertificateMismatch,
    /// The carried certificate is larger than the protocol allows.
    #[error("certificate of {0} bytes exceeds the limit of {MAX_CERT_BYTES}")]
    CertificateTooLarge(usize),
    /// More witnesses than a header may hold.
    #[error("{0} witnesses exceed the limit of {MAX_WITNESSES}")]
    TooManyWitnesses(usize),
    /// Witnesses not strictly sorted by chain (so one chain appears twice, or order is free).
    #[error("witnesses must be sorted by chain with no chain twice")]
    WitnessOrder,
    /// A witness of the block's own chain.
    #[error("a block cannot witness its own chain")]
    WitnessOwnChain,
    /// One entry breaks the entry rules.
    #[error("entry {index}: {error}")]
    Entry {
        /// The entry's index in the block.
        index: u32,
        /// What is wrong with it.
        error: EntryError,
    },
}

impl Block {
    /// The canonical bytes of this block.
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Decodes one canonical block of at most [`MAX_BLOCK_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        encoding::decode(bytes, MAX_BLOCK_BYTES)
    }

    /// The block hash (of the header).
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// The entries' leaf hashes, in order.
    pub fn entry_hashes(&self) -> Vec<[u8; 32]> {
        self.entries.iter().map(Entry::hash).collect()
    }

    /// The position of entry `index` of this block.
    pub fn entry_ref(&self, index: u32) -> EntryRef {
        EntryRef {
            chain: self.header.chain,
            height: self.header.height,
            index,
        }
    }

    /// The header with its signature.
    pub fn signed_header(&self) -> SignedHeader {
        SignedHeader {
            header: self.header.clone(),
            signature: self.signature,
        }
    }

    /// Whether the signature is valid for the header under `public_key`.
    pub fn verify_signature(&self, public_key: &[u8; 32]) -> bool {
        verify_ed25519(
            public_key,
            &signing_message(&self.hash()),
            &self.signature.0,
        )
    }

    /// Checks everything that needs only this block: version, counts, the entries root, genesis
    /// rules, the carried certificate's hash, witness order, and every entry's own rules. It does
    /// not check the signature, the certificate's validity or the link to the previous block.
    pub fn check_structure(&self) -> Result<(), BlockError> {
        let header = &self.header;
        if header.version != PROTOCOL_VERSION {
            return Err(BlockError::UnsupportedVersion(header.version));
        }
        if self.entries.len() > MAX_ENTRIES_PER_BLOCK {
            return Err(BlockError::TooManyEntries(self.entries.len()));
        }
        if header.entry_count as usize != self.entries.len() {
            return Err(BlockError::EntryCountMismatch {
                declared: header.entry_count,
                actual: self.entries.len(),
            });
        }
        if (header.height == 0) != (header.prev == BlockHash::ZERO) {
            return Err(BlockError::BadPrev);
        }
        self.check_certificate()?;
        self.check_witnesses()?;
        for (index, entry) in (0u32..).zip(&self.entries) {
            entry
                .check_structure(self.entry_ref(index))
                .map_err(|error| BlockError::Entry { index, error })?;
        }
        if merkle::root(&self.entry_hashes()) != header.entries_root {
            return Err(BlockError::EntriesRootMismatch);
        }
        Ok(())
    }

    fn check_certificate(&self) -> Result<(), BlockError> {
        match &self.certificate {
            None if self.header.height == 0 => Err(BlockError::MissingCertificate),
            None => Ok(()),
            Some(der) if der.len() > MAX_CERT_BYTES => {
                Err(BlockError::CertificateTooLarge(der.len()))
            }
            Some(der) if CertHash::of(der) != self.header.cert => {
                Err(BlockError::CertificateMismatch)
            }
            Some(_) => Ok(()),
        }
    }

    fn check_witnesses(&self) -> Result<(), BlockError> {
        let witnesses = &self.header.witnesses;
        if witnesses.len() > MAX_WITNESSES {
            return Err(BlockError::TooManyWitnesses(witnesses.len()));
        }
        if witnesses.iter().any(|w| w.chain == self.header.chain) {
            return Err(BlockError::WitnessOwnChain);
        }
        if witnesses
            .windows(2)
            .any(|pair| pair[0].chain >= pair[1].chain)
        {
            return Err(BlockError::WitnessOrder);
        }
        Ok(())
    }
}

/// A block before it is sealed: everything the author chooses. [`BlockDraft::seal`] computes the
/// entry count and root, and signs.
#[derive(Clone, Debug)]
pub struct BlockDraft {
    /// The provider's chain.
    pub chain: ChainId,
    /// Height of the new block.
    pub height: u64,
    /// Hash of the previous block (zero at genesis).
    pub prev: BlockHash,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The signer's certificate DER; carried in the block when `carry_certificate` is set.
    pub certificate: Vec<u8>,
    /// Whether the block carries the certificate (genesis, or first block after a renewal).
    pub carry_certificate: bool,
    /// Witness heads of other chains, sorted by chain.
    pub witnesses: Vec<ChainHead>,
    /// The entries, in order.
    pub entries: Vec<Entry>,
}

impl BlockDraft {
    /// Builds the header, signs it with `key`, and returns the block.
    pub fn seal(self, key: &MemberKey) -> Block {
        let leaves: Vec<[u8; 32]> = self.entries.iter().map(Entry::hash).collect();
        let header = BlockHeader {
            version: PROTOCOL_VERSION,
            chain: self.chain,
            height: self.height,
            prev: self.prev,
            time_ms: self.time_ms,
            cert: CertHash::of(&self.certificate),
            entries_root: merkle::root(&leaves),
            entry_count: u32::try_from(self.entries.len()).unwrap_or(u32::MAX),
            witnesses: self.witnesses,
        };
        let signature = header.sign(key);
        Block {
            header,
            signature,
            certificate: self.carry_certificate.then_some(self.certificate),
            entries: self.entries,
        }
    }
}
