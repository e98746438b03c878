//! The store's errors, typed by what the node must do about them.
//!
//! - [`StoreError::Corrupt`]: stored data is damaged (a checked read failed, a key or value is
//!   malformed, or sled itself read corrupted data). The verifier turns it into a violation of
//!   the chain and height it belongs to and repairs it (quarantine and refetch), or, when the
//!   damage cannot be attributed or moved aside in place, has the store rebuilt from peers.
//! - [`StoreError::Unopenable`]: the database is too damaged to open at all ([`Damage`] says
//!   how): move it aside and rebuild. [`StoreError::NewerSchema`] is not damage: a newer build
//!   wrote the store.
//! - [`StoreError::Locked`] and [`StoreError::Io`]: not damage. Another instance holds the store,
//!   or the operating system refused (permissions, a full disk, an I/O error). These are clear
//!   errors for an operator; a store is never moved aside or rebuilt because of them.
//! - [`StoreError::ObjectStore`]: the S3 payload backend could not be reached or failed: not
//!   damage either; the operation fails and is retried by whoever asked.
//! - [`StoreError::Engine`]: sled was used in a way it does not support (a bug of ours).
//!
//! No sled type appears here, so another engine can be put behind the same interface.

use std::io::ErrorKind;

use medchain_protocol::{BlockHash, ChainId, PayloadHash};

/// Why a database is too damaged to open: the node moves it aside and rebuilds it from peers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// sled refused its own files: a corruption report, a truncated file, data that does not
    /// decode, settings it cannot take (sled's message).
    #[error("{0}")]
    Engine(String),
    /// sled panicked on its files (the panic's message); the panic was contained.
    #[error("sled panicked: {0}")]
    Panicked(String),
    /// sled could not read the existing database's metadata and would start an empty one in
    /// the same files (sled 0.34 does so silently).
    #[error(
        "sled could not recover the existing database (damaged files) and would start an empty one"
    )]
    NotRecovered,
    /// The schema version record is not 4 bytes (hex of what is there).
    #[error("malformed schema version {0}")]
    MalformedSchemaVersion(String),
    /// A schema version no medchain ever wrote.
    #[error("unknown schema version {found} (this build reads version {supported})")]
    UnknownSchemaVersion {
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// An existing database without a schema version (every store medchain creates gets one
    /// at once): damaged, or not a medchain store.
    #[error(
        "the schema version is missing from an existing database (damaged files, or not a medchain store)"
    )]
    MissingSchemaVersion,
    /// Damage met while checking or migrating the schema (the store's own report of it).
    #[error("{0}")]
    Read(String),
}

/// Errors of the store. No sled type appears in any public signature.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database at `path` cannot be opened because it is damaged (sled error or panic on its
    /// files, an unknown schema version, a database sled could not recover).
    #[error("store at {path} cannot be opened: {reason}")]
    Unopenable {
        /// The directory that was opened.
        path: String,
        /// What is damaged.
        reason: Damage,
    },
    /// The store was written by a newer medchain (a higher schema version): not damage, and
    /// kept as it is; run that build or a newer one.
    #[error(
        "this store was written by a newer medchain (schema version {found}; this build reads version {supported}): run that build or newer"
    )]
    NewerSchema {
        /// The store's schema version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The store was written by a medchain of protocol version 1, whose payloads are plaintext:
    /// not damage, and kept as it is, but this build does not open it.
    #[error(
        "this store (schema version {found}) holds protocol version 1 blocks, whose payloads are stored in plaintext; this build seals every payload (protocol version 2) and cannot migrate signed plaintext blocks: keep this store with the old build for reference, and start this node on a new data directory of a network of version 2 nodes (docs/operations.md, \"Upgrading to sealed payloads\")"
    )]
    PlaintextStore {
        /// The store's schema version (1 or 2).
        found: u32,
    },
    /// Another process (or another handle in this one) holds the store's lock: a second
    /// instance of the node on the same data directory.
    #[error(
        "store at {path} is locked by another process (is another medchain node running on this data directory?)"
    )]
    Locked {
        /// The directory that was opened.
        path: String,
    },
    /// The operating system refused a read or write: permissions, a full disk, a read-only
    /// filesystem, an I/O error. Not damage to the data.
    #[error("store I/O error ({kind}): {detail}")]
    Io {
        /// The kind of I/O error.
        kind: ErrorKind,
        /// What the engine said.
        detail: String,
    },
    /// The payload object store (the S3 backend) could not be reached, refused the
    /// credentials or failed. Not damage: nothing is repaired or rebuilt because of it, and the
    /// write or read that met it fails (no block commits on a payload the bucket lacks).
    #[error("payload object store ({place}): {detail}")]
    ObjectStore {
        /// The endpoint and bucket.
        place: String,
        /// What the client said.
        detail: String,
    },
    /// The storage engine was used in a way it does not support.
    #[error("storage engine error: {0}")]
    Engine(String),
    /// Stored data does not match what it claims to be.
    #[error("store corruption: {0}")]
    Corrupt(Corruption),
}

impl StoreError {
    /// Whether this is damage to stored data (as opposed to a refusal by the operating system or
    /// a lock held elsewhere).
    pub fn is_corruption(&self) -> bool {
        matches!(self, StoreError::Corrupt(_) | StoreError::Unopenable { .. })
    }
}

/// What is corrupt. Each variant names the object, so the verifier can report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The bytes under a block key are not a canonical block.
    #[error("block stored under {key} does not decode")]
    UndecodableBlock {
        /// The key (the hash the block was stored under).
        key: BlockHash,
    },
    /// The block decodes, but its header hashes to something other than its key.
    #[error("block stored under {key} hashes to {actual}")]
    BlockHashMismatch {
        /// The key.
        key: BlockHash,
        /// The hash of the stored header.
        actual: BlockHash,
    },
    /// The header is intact but the entries are not the ones it commits to.
    #[error("block {key}: entries do not match the header's entries root")]
    EntriesRootMismatch {
        /// The key.
        key: BlockHash,
    },
    /// The chain index names a sound block that sits elsewhere.
    #[error(
        "index says {chain} height {height} is block {hash}, but that block is {actual_chain} height {actual_height}"
    )]
    IndexMismatch {
        /// The chain looked up.
        chain: ChainId,
        /// The height looked up.
        height: u64,
        /// The hash the index holds.
        hash: BlockHash,
        /// The chain the stored block names.
        actual_chain: ChainId,
        /// The height the stored block names.
        actual_height: u64,
    },
    /// The chain index names a block that is not stored.
    #[error("index says {chain} height {height} is block {hash}, which is not stored")]
    MissingBlock {
        /// The chain looked up.
        chain: ChainId,
        /// The height looked up.
        height: u64,
        /// The hash the index holds.
        hash: BlockHash,
    },
    /// Payload bytes that do not hash to their content address.
    #[error("payload stored under {key} hashes to {actual}")]
    PayloadHashMismatch {
        /// The content address.
        key: PayloadHash,
        /// The hash of the stored bytes.
        actual: PayloadHash,
    },
    /// A payload that cannot be read where `payload_index` says it is: its location is
    /// malformed, its segment is missing or ends too soon, or the frame there is not its.
    #[error("payload stored under {key} cannot be read: {detail}")]
    PayloadUnreadable {
        /// The content address.
        key: PayloadHash,
        /// What is wrong.
        detail: String,
    },
    /// A key or value of the wrong shape (length, tag) in one of the store's trees.
    #[error("malformed value in tree {tree} under key {key_hex}")]
    BadIndexValue {
        /// The tree's name (see the layout in the crate documentation).
        tree: &'static str,
        /// The key, in hex.
        key_hex: String,
    },
    /// A block whose header hash and entries root check out but whose signature does not verify
    /// under the key that owns its chain: rewritten, and re-hashed, by someone without the key.
    /// (The store cannot check signatures; the chain crate's reads report this.)
    #[error("block at {chain} height {height} is not signed by its chain's key")]
    Forged {
        /// The chain.
        chain: ChainId,
        /// The height.
        height: u64,
    },
    /// The storage engine could not read its own files: a page failed its checksum, a file is
    /// truncated, or the engine found its structures inconsistent.
    #[error("the storage engine read damaged data: {detail}")]
    Engine {
        /// What the engine said.
        detail: String,
    },
}

impl Corruption {
    /// The payload this damage is to, if it is a payload's: fetching that payload again from a
    /// peer repairs it.
    pub fn damaged_payload(&self) -> Option<PayloadHash> {
        match self {
            Corruption::PayloadHashMismatch { key, .. }
            | Corruption::PayloadUnreadable { key, .. } => Some(*key),
            _ => None,
        }
    }
}

impl From<Corruption> for StoreError {
    fn from(corruption: Corruption) -> Self {
        StoreError::Corrupt(corruption)
    }
}

/// A malformed key or value in `tree`.
pub(crate) fn bad(tree: &'static str, key: &[u8]) -> StoreError {
    StoreError::Corrupt(Corruption::BadIndexValue {
        tree,
        key_hex: hex::encode(key),
    })
}

/// How sled 0.34 words a lock failure (an `io::ErrorKind::Other`, so the text is all there is).
pub(crate) const LOCK_ERROR: &str = "could not acquire lock";

/// Types a sled error by what it means for the node (see the module documentation): sled's
/// own corruption reports, a truncated file (`UnexpectedEof` on a read), undecodable engine
/// data and internal inconsistencies are corruption; a held lock is `Locked`; other I/O
/// errors are `Io`. sled's error type must not cross the crate boundary, so this is a function
/// rather than a public `From` impl.
pub(crate) fn engine(error: sled::Error) -> StoreError {
    match error {
        sled::Error::Corruption { .. } | sled::Error::ReportableBug(_) => {
            StoreError::Corrupt(Corruption::Engine {
                detail: error.to_string(),
            })
        }
        sled::Error::Io(io) => match io.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::InvalidData => {
                StoreError::Corrupt(Corruption::Engine {
                    detail: io.to_string(),
                })
            }
            ErrorKind::Other if io.to_string().contains(LOCK_ERROR) => StoreError::Locked {
                path: String::new(),
            },
            kind => StoreError::Io {
                kind,
                detail: io.to_string(),
            },
        },
        sled::Error::CollectionNotFound(_) | sled::Error::Unsupported(_) => {
            StoreError::Engine(error.to_string())
        }
    }
}

/// `.engine()?` on any sled result.
pub(crate) trait EngineResult<T> {
    /// Types the sled error (see [`engine`]).
    fn engine(self) -> Result<T, StoreError>;
}

impl<T> EngineResult<T> for Result<T, sled::Error> {
    fn engine(self) -> Result<T, StoreError> {
        self.map_err(engine)
    }
}

/// The outcome of a sled transaction whose closure aborts with a [`StoreError`].
pub(crate) fn from_transaction<T>(
    result: sled::transaction::TransactionResult<T, StoreError>,
) -> Result<T, StoreError> {
    use sled::transaction::TransactionError;
    result.map_err(|error| match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => engine(error),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: ErrorKind, text: &str) -> sled::Error {
        sled::Error::Io(std::io::Error::new(kind, text.to_string()))
    }

    #[test]
    fn sled_errors_are_typed_by_what_they_mean() {
        let corrupt = engine(sled::Error::Corruption { at: None, bt: () });
        assert!(matches!(
            corrupt,
            StoreError::Corrupt(Corruption::Engine { .. })
        ));
        assert!(corrupt.is_corruption());
        let truncated = engine(io(ErrorKind::UnexpectedEof, "failed to fill buffer"));
        assert!(truncated.is_corruption());
        let locked = engine(io(ErrorKind::Other, "could not acquire lock on \"db\""));
        assert!(matches!(locked, StoreError::Locked { .. }));
        let denied = engine(io(ErrorKind::PermissionDenied, "denied"));
        assert!(matches!(
            denied,
            StoreError::Io {
                kind: ErrorKind::PermissionDenied,
                ..
            }
        ));
        assert!(!denied.is_corruption());
        let full = engine(io(ErrorKind::StorageFull, "no space left on device"));
        assert!(!full.is_corruption());
    }
}
