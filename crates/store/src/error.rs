//! The store's errors: the database cannot be opened, the engine failed, or stored data is corrupt.
//!
//! Corruption is its own variant, naming the object, because the chain crate's verifier turns it
//! into a repair (quarantine and refetch) rather than a crash. No sled type appears here: engine
//! errors are carried as text, so another engine can be put behind the same interface.

use medchain_protocol::{BlockHash, ChainId, PayloadHash};

/// Errors of the store. No sled type appears in any public signature.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database at `path` cannot be opened (sled error, sled panicked on a damaged file, or an
    /// unknown schema version).
    #[error("store at {path} cannot be opened: {reason}")]
    Unopenable {
        /// The directory that was opened.
        path: String,
        /// Why it cannot be opened.
        reason: String,
    },
    /// The storage engine failed during an operation (I/O error, etc.).
    #[error("storage engine error: {0}")]
    Engine(String),
    /// Stored data does not match what it claims to be.
    #[error("store corruption: {0}")]
    Corrupt(Corruption),
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
    /// A key or value of the wrong shape (length, tag) in one of the store's trees.
    #[error("malformed value in tree {tree} under key {key_hex}")]
    BadIndexValue {
        /// The tree's name (see the layout in the crate documentation).
        tree: &'static str,
        /// The key, in hex.
        key_hex: String,
    },
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

/// Turns an engine error into text: sled's error type must not cross the crate boundary, so this
/// is a function rather than a public `From` impl.
pub(crate) fn engine(error: sled::Error) -> StoreError {
    StoreError::Engine(error.to_string())
}

/// `.engine()?` on any sled result.
pub(crate) trait EngineResult<T> {
    /// Maps the sled error to [`StoreError::Engine`].
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
