//! The end of the validation typestate: a block that passed every check, and what the ledger
//! reads off it when it commits.

use medchain_protocol::{Block, BlockHash, ChainId, EntryRef, PayloadHash};

use crate::trust::Provider;

/// A block that passed every check. Only `validate` can make one (its fields are private to
/// it: `Linked::into_verified` is the one constructor); the ledger commits only these.
#[derive(Debug, Clone)]
pub struct VerifiedBlock {
    pub(in crate::validate) block: Block,
    pub(in crate::validate) hash: BlockHash,
    pub(in crate::validate) encoded: Vec<u8>,
    pub(in crate::validate) payloads: Vec<Vec<u8>>,
    pub(in crate::validate) payload_hashes: Vec<PayloadHash>,
    pub(in crate::validate) provider: Provider,
    pub(in crate::validate) certificate: Vec<u8>,
}

impl VerifiedBlock {
    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The block, taking it out of its proof (for a caller done with validation).
    pub fn into_block(self) -> Block {
        self.block
    }

    /// Its hash.
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// Its canonical bytes.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Inline payloads that came with it (verified to belong to its entries).
    pub fn payloads(&self) -> &[Vec<u8>] {
        &self.payloads
    }

    /// The signer's certificate (DER), carried or held.
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The verified signer.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The chain.
    pub fn chain(&self) -> ChainId {
        self.block.header.chain
    }

    /// The height.
    pub fn height(&self) -> u64 {
        self.block.header.height
    }

    /// Positions of its entries.
    pub fn entry_refs(&self) -> Vec<EntryRef> {
        (0u32..)
            .zip(&self.block.entries)
            .map(|(i, _)| self.block.entry_ref(i))
            .collect()
    }

    /// Hashes of its inline payloads.
    pub fn payload_hashes(&self) -> &[PayloadHash] {
        &self.payload_hashes
    }
}
