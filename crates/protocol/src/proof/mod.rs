//! Offline proofs: one entry, and everything needed to check with no node and no network that a
//! consortium member signed it into its chain and that other members' later blocks commit to it.
//!
//! A [`ProofBundle`] is JSON in exactly one byte form ([`ProofBundle::to_canonical_json`]): a
//! verifier re-encodes what it parsed and refuses a file that differs, so no byte of a proof can
//! change, not even white space, without the proof failing. Every value in it is covered by a
//! signature or a hash:
//!
//! - the entry's canonical bytes hash to a leaf of the block's entries Merkle tree, and the
//!   Merkle path leads to the root in the block header;
//! - the header is signed by the chain's key; the certificate hashes to the header's `cert`,
//!   its key hashes to the header's chain ID, and it verifies against the consortium root whose
//!   SHA-256 the bundle names (and the verifier is given);
//! - each witness is another chain's signed header (with its own certificate) naming a head of
//!   the entry's chain, and the `links` are that chain's headers from the entry's block up to the
//!   witnessed head, each naming the hash of the one before it.
//!
//! Byte for byte in docs/protocol.md, section 11.

mod hex_json;
mod signers;
mod verify;

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockHeader, Signature};
use crate::merkle;

pub use hex_json::{Hex, Hex32, Hex64};
pub use verify::{Invalid, ProofError, Proven, ProvenWitness, Revocation, verify};

/// The `format` of the bundles this module makes and reads.
pub const PROOF_FORMAT: &str = "medchain-proof-v1";
/// Largest proof file a verifier reads.
pub const MAX_PROOF_BYTES: usize = 4 << 20;
/// Most witnesses in one proof (one per other chain).
pub const MAX_PROOF_WITNESSES: usize = 16;
/// Most headers linking one witness back to the entry's block.
pub const MAX_WITNESS_LINKS: usize = 64;

/// A self-contained proof of one entry (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// [`PROOF_FORMAT`].
    pub format: String,
    /// SHA-256 of the consortium root certificate's DER, the trust anchor the proof is for.
    pub consortium_root_sha256: Hex32,
    /// The entry's canonical bytes (docs/protocol.md, section 4).
    pub entry: Hex,
    /// The entry's path to the block header's entries root.
    pub merkle_path: MerklePath,
    /// The block holding the entry.
    pub block: SignedBlockHeader,
    /// Later blocks of other chains committing to the entry's block, sorted by chain.
    pub witnesses: Vec<Witness>,
}

/// The Merkle path of section 5: the sibling hashes from the leaf upward.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerklePath {
    /// The entry's index in its block.
    pub index: u32,
    /// The number of entries in the block (the header's `entry_count`).
    pub leaf_count: u32,
    /// Sibling hashes, lowest first.
    pub siblings: Vec<Hex32>,
}

/// A block header, its signature, and the signer's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBlockHeader {
    /// The header's canonical bytes (section 6).
    pub header: Hex,
    /// The Ed25519 signature over `"medchain v1 block-signature\0" ‖ block hash`.
    pub signature: Hex64,
    /// The signer's X.509 certificate (DER).
    pub certificate: Hex,
}

/// Another chain's block that commits to the entry's block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Witness {
    /// The witnessing block's signed header; its `witnesses` name a head of the entry's chain
    /// at or above the entry's block.
    pub block: SignedBlockHeader,
    /// The entry's chain's headers after the entry's block, up to and including the witnessed
    /// head, in height order (empty when the witness names the entry's block itself).
    pub links: Vec<Hex>,
}

impl SignedBlockHeader {
    /// A header with its signature and the signer's certificate.
    pub fn new(header: &BlockHeader, signature: &Signature, certificate: &[u8]) -> Self {
        Self {
            header: Hex(header.encode()),
            signature: Hex64(signature.0),
            certificate: Hex(certificate.to_vec()),
        }
    }
}

impl Witness {
    /// `block` (another chain's, signed under `certificate`) naming a head of the entry's chain,
    /// and `links`, that chain's headers after the entry's block up to the named head.
    pub fn new(block: &Block, certificate: &[u8], links: &[BlockHeader]) -> Self {
        Self {
            block: SignedBlockHeader::new(&block.header, &block.signature, certificate),
            links: links.iter().map(|h| Hex(h.encode())).collect(),
        }
    }
}

/// Why a proof file cannot be checked at all (exit code 2): not a proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// Over [`MAX_PROOF_BYTES`].
    #[error("the file is {0} bytes, more than a proof may be ({MAX_PROOF_BYTES})")]
    TooLarge(usize),
    /// Not JSON of the bundle's shape.
    #[error("not a medchain proof: {0}")]
    NotAProof(String),
    /// A format this implementation does not know.
    #[error("unknown proof format {0:?} (this verifier reads {PROOF_FORMAT})")]
    UnknownFormat(String),
}

impl ProofBundle {
    /// The bundle's one byte form: pretty-printed JSON (two-space indent, fields in declaration
    /// order, lowercase hex) and a final newline.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Strings, numbers and lists only: serialising into a Vec cannot fail.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// A bundle for the entry at `index` of `block`, signed under `certificate`, for the
    /// consortium root with this SHA-256 fingerprint; `witnesses` are sorted here. `None` if the
    /// block has no such entry.
    pub fn new(
        root_fingerprint: [u8; 32],
        block: &Block,
        certificate: &[u8],
        index: u32,
        mut witnesses: Vec<(crate::ChainId, Witness)>,
    ) -> Option<Self> {
        let entry = block.entries.get(index as usize)?;
        let path = merkle::prove(&block.entry_hashes(), index as usize)?;
        witnesses.sort_by_key(|(chain, _)| *chain);
        Some(Self {
            format: PROOF_FORMAT.to_owned(),
            consortium_root_sha256: Hex32(root_fingerprint),
            entry: Hex(entry.encode()),
            merkle_path: MerklePath {
                index: path.index,
                leaf_count: path.leaf_count,
                siblings: path.siblings.into_iter().map(Hex32).collect(),
            },
            block: SignedBlockHeader::new(&block.header, &block.signature, certificate),
            witnesses: witnesses.into_iter().map(|(_, w)| w).collect(),
        })
    }

    /// Parses a proof file. Whether its bytes are canonical is [`verify`]'s question (a
    /// non-canonical file is a changed one: invalid, not unusable).
    pub fn parse(bytes: &[u8]) -> Result<Self, Unusable> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(Unusable::TooLarge(bytes.len()));
        }
        // The format first, so a future version's file says so rather than failing on a field.
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        // The file's own text may appear in the messages (serde quotes unknown field names):
        // escaped, so a hostile file cannot put control sequences on the reader's terminal.
        let shown =
            |e: serde_json::Error| Unusable::NotAProof(e.to_string().escape_debug().to_string());
        let format: Format = serde_json::from_slice(bytes).map_err(shown)?;
        if format.format != PROOF_FORMAT {
            return Err(Unusable::UnknownFormat(format.format));
        }
        serde_json::from_slice(bytes).map_err(shown)
    }
}
