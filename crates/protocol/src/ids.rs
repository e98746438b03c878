//! Fixed-size identifiers: chain IDs, block, payload and certificate hashes, record IDs.
//!
//! Each is a newtype over a byte array so that a payload hash cannot be used where a block hash is
//! meant. All print as lowercase hex and parse from it. On the wire each is its raw bytes, with no
//! length prefix (postcard encodes a fixed-size array element by element).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::Domain;

/// A hex string that does not parse into an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: expected {expected_len} hex characters")]
pub struct ParseIdError {
    /// Which identifier was being parsed.
    pub kind: &'static str,
    /// How many hex characters it takes.
    pub expected_len: usize,
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; $len]);

        // On the wire (postcard) the raw bytes; in human-readable formats (JSON for the API)
        // lowercase hex.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&self.to_hex())
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; $len]>::deserialize(deserializer).map(Self)
                }
            }
        }

        impl $name {
            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex of the bytes.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex characters, for log lines and tables.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; $len];
                hex::decode_to_slice(s, &mut bytes).map_err(|_| ParseIdError {
                    kind: $kind,
                    expected_len: 2 * $len,
                })?;
                Ok(Self(bytes))
            }
        }
    };
}

byte_id!(
    /// A chain: the one chain of one provider, named by the hash of its Ed25519 public key.
    ChainId, 32, "chain ID"
);
byte_id!(
    /// A block: the domain-separated blake3 hash of its canonically encoded header.
    BlockHash, 32, "block hash"
);
byte_id!(
    /// A payload blob's content address: the domain-separated blake3 hash of its bytes.
    PayloadHash, 32, "payload hash"
);
byte_id!(
    /// A member certificate: the domain-separated blake3 hash of its DER bytes.
    CertHash, 32, "certificate hash"
);
byte_id!(
    /// The Merkle root over a block's entries.
    EntriesRoot, 32, "entries root"
);
byte_id!(
    /// A patient as the chains know them: a keyed hash of the identifier (made by
    /// [`PatientRef::pseudonymise`](crate::patient)); never the identifier itself.
    PatientRef, 32, "patient ref"
);
byte_id!(
    /// A medical record: derived from the position of the entry that created it, so IDs are
    /// unique across the network and nobody can claim another provider's record ID.
    RecordId, 16, "record ID"
);

impl ChainId {
    /// The chain of the provider holding this Ed25519 public key.
    pub fn from_public_key(public_key: &[u8; 32]) -> Self {
        Self(Domain::ChainId.hash(public_key))
    }
}

impl BlockHash {
    /// The `prev` of a genesis block.
    pub const ZERO: BlockHash = BlockHash([0; 32]);
}

impl PayloadHash {
    /// The content address of `payload`.
    pub fn of(payload: &[u8]) -> Self {
        Self(Domain::Payload.hash(payload))
    }
}

impl CertHash {
    /// The hash of a certificate's DER bytes.
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Domain::Certificate.hash(cert_der))
    }
}

impl RecordId {
    /// The ID of the record created by the entry at (`chain`, `height`, `index`).
    pub fn derive(chain: &ChainId, height: u64, index: u32) -> Self {
        let hash = Domain::RecordId.hash_parts(&[
            chain.as_bytes(),
            &height.to_le_bytes(),
            &index.to_le_bytes(),
        ]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash[..16]);
        Self(id)
    }
}

/// The position of one entry: chain, block height, index within the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryRef {
    /// The chain holding the entry.
    pub chain: ChainId,
    /// The height of the block holding the entry.
    pub height: u64,
    /// The index of the entry within that block.
    pub index: u32,
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.chain, self.height, self.index)
    }
}

impl FromStr for EntryRef {
    type Err = ParseIdError;

    /// Parses `chain/height/index`, the form `Display` prints.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = ParseIdError {
            kind: "entry ref (chain/height/index)",
            expected_len: 64,
        };
        let mut parts = s.split('/');
        let (Some(chain), Some(height), Some(index), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err);
        };
        Ok(EntryRef {
            chain: chain.parse().map_err(|_| err.clone())?,
            height: height.parse().map_err(|_| err.clone())?,
            index: index.parse().map_err(|_| err)?,
        })
    }
}

/// The head of a chain as one node sees it: used for witnesses in headers and for sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChainHead {
    /// The chain.
    pub chain: ChainId,
    /// Height of its newest block.
    pub height: u64,
    /// Hash of its newest block.
    pub hash: BlockHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ChainId::from_public_key(&[7; 32]);
        assert_eq!(id.to_hex().parse::<ChainId>().unwrap(), id);
        assert_eq!(id.short().len(), 8);
        assert!("zz".parse::<ChainId>().is_err());
        assert!(id.to_hex()[..62].parse::<ChainId>().is_err());
    }

    #[test]
    fn entry_ref_round_trip() {
        let r = EntryRef {
            chain: ChainId([1; 32]),
            height: 42,
            index: 3,
        };
        assert_eq!(r.to_string().parse::<EntryRef>().unwrap(), r);
        assert!("a/1".parse::<EntryRef>().is_err());
        assert!(format!("{}/x/1", r.chain).parse::<EntryRef>().is_err());
    }

    #[test]
    fn record_id_depends_on_position() {
        let c = ChainId([1; 32]);
        assert_ne!(RecordId::derive(&c, 1, 0), RecordId::derive(&c, 1, 1));
        assert_ne!(RecordId::derive(&c, 1, 0), RecordId::derive(&c, 2, 0));
    }
}
