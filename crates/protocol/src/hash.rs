//! Domain-separated blake3 hashing.
//!
//! Every kind of object is hashed in blake3's `derive_key` mode with its own context string, so a
//! hash of one kind can never be passed off as a hash of another (a payload hash can never equal a
//! block hash of the same bytes). The context strings are part of the protocol: changing one is a
//! format change (see docs/protocol.md, "Hash domains").

/// The hash domains of protocol version 1. Each is a blake3 `derive_key` context string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Chain ID from the provider's Ed25519 public key.
    ChainId,
    /// Block hash from the canonical encoding of a block header.
    BlockHeader,
    /// Leaf of the entries Merkle tree: the canonical encoding of one entry.
    Entry,
    /// Inner node of the entries Merkle tree: left child hash followed by right child hash.
    MerkleNode,
    /// Root of a block with no entries (hash of the empty string).
    MerkleEmpty,
    /// Content address of a payload blob.
    Payload,
    /// Hash of a member certificate's DER bytes.
    Certificate,
    /// Record ID from the position of the entry that created the record.
    RecordId,
    /// Sub-key for patient pseudonyms, derived from a provider's own pseudonym key.
    PatientRef,
    /// Gossipsub message ID from the message bytes.
    GossipMessageId,
}

impl Domain {
    /// The blake3 `derive_key` context string of this domain.
    pub const fn context(self) -> &'static str {
        match self {
            Domain::ChainId => "medchain v1 chain-id",
            Domain::BlockHeader => "medchain v1 block-header",
            Domain::Entry => "medchain v1 entry",
            Domain::MerkleNode => "medchain v1 merkle-node",
            Domain::MerkleEmpty => "medchain v1 merkle-empty",
            Domain::Payload => "medchain v1 payload",
            Domain::Certificate => "medchain v1 certificate",
            Domain::RecordId => "medchain v1 record-id",
            Domain::PatientRef => "medchain v1 patient-ref",
            Domain::GossipMessageId => "medchain v1 gossip-message-id",
        }
    }

    /// A hasher for this domain, for input given in several parts.
    pub fn hasher(self) -> blake3::Hasher {
        blake3::Hasher::new_derive_key(self.context())
    }

    /// The 32-byte hash of `data` in this domain.
    pub fn hash(self, data: &[u8]) -> [u8; 32] {
        *self.hasher().update(data).finalize().as_bytes()
    }

    /// The 32-byte hash of several byte strings concatenated, in this domain.
    pub fn hash_parts(self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_input() {
        let data = b"same bytes";
        let all = [
            Domain::ChainId,
            Domain::BlockHeader,
            Domain::Entry,
            Domain::MerkleNode,
            Domain::MerkleEmpty,
            Domain::Payload,
            Domain::Certificate,
            Domain::RecordId,
            Domain::PatientRef,
            Domain::GossipMessageId,
        ];
        let mut seen: Vec<[u8; 32]> = all.iter().map(|d| d.hash(data)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), all.len());
    }

    #[test]
    fn parts_equal_concatenation() {
        assert_eq!(
            Domain::Payload.hash_parts(&[b"ab", b"cd"]),
            Domain::Payload.hash(b"abcd")
        );
    }
}
