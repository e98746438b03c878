//! The node's key ring: its key-wrapping key, which wraps every data key this node keeps and
//! opens them again to read a payload.
//!
//! One ring per node, shared (cheap clones) by the author, which seals each new payload under a
//! fresh data key and keeps that key wrapped in the store, and by the readers, which unwrap a
//! record's key to open its payload. The wrapping key itself lives outside the data directory
//! (the node's `node_key` file); the ring only holds it in memory. Where it comes from is the
//! caller's: a file today, an HSM or KMS later, behind [`KeyRing::new`].
//!
//! Opening is strict: the payload's bytes must hash to what the entry commits to (the store
//! checks that), and the data
//! key must open them at the entry's place (chain, record, position, content type). A node that
//! holds no key for a payload answers [`OpenError::NoKey`]: it holds the ciphertext, verifies it,
//! and cannot read it.

use std::sync::{Arc, RwLock};

use medchain_protocol::sealed::{
    self, DataKey, PayloadPlace, SealError, WRAPPED_KEY_BYTES, WrappingKey,
};
use medchain_protocol::{Entry, EntryRef};
use medchain_store::{StoreError, StoreReader};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

/// The node's key-wrapping key and a source of randomness.
#[derive(Clone)]
pub struct KeyRing {
    wrapping: Arc<RwLock<WrappingKey>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

/// Why a payload could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The entry carries no payload.
    #[error("this version carries no payload")]
    NoPayload,
    /// This node holds no data key for it: it was not written here and no grant released it.
    #[error("this node holds no key for this payload")]
    NoKey,
    /// The stored payload is missing (not yet fetched, or quarantined).
    #[error("the payload is not held by this node yet")]
    NotHeld,
    /// The wrapped key is of the wrong shape, of another generation, or does not unwrap, or
    /// the key does not open the payload at its place.
    #[error("the payload's key does not open it: {0}")]
    Key(SealError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl KeyRing {
    /// A ring holding `wrapping`.
    pub fn new(wrapping: WrappingKey) -> Self {
        Self {
            wrapping: Arc::new(RwLock::new(wrapping)),
            rng: SystemRandom::new(),
        }
    }

    /// The generation of the wrapping key in use.
    pub fn generation(&self) -> u32 {
        self.read().generation()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, WrappingKey> {
        // A panic cannot leave the key half-written (it is replaced whole): take a poisoned
        // lock over.
        self.wrapping.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Seals `plaintext` at `place` under a fresh data key; the sealed bytes and the data key
    /// wrapped for the store.
    pub fn seal(
        &self,
        place: &PayloadPlace<'_>,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), SealError> {
        let key = DataKey::generate(&self.rng)?;
        let sealed = sealed::seal_payload(&key, place, plaintext)?;
        let wrapped = self.read().wrap(&self.rng, &place.at, &key)?;
        Ok((sealed, wrapped.to_vec()))
    }

    /// The data key of the entry at `at`, if this node holds it.
    pub fn data_key(&self, store: &StoreReader, at: &EntryRef) -> Result<DataKey, OpenError> {
        let wrapped = store.data_key(at)?.ok_or(OpenError::NoKey)?;
        if wrapped.len() != WRAPPED_KEY_BYTES {
            return Err(OpenError::Key(SealError::WrappedLength(wrapped.len())));
        }
        self.read().unwrap(at, &wrapped).map_err(OpenError::Key)
    }

    /// Opens the payload of `entry` (at `at`), read from `store`.
    pub fn open(
        &self,
        store: &StoreReader,
        at: &EntryRef,
        entry: &Entry,
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let reference = entry.payload.as_ref().ok_or(OpenError::NoPayload)?;
        let key = self.data_key(store, at)?;
        // The store checks the bytes against their hash (damage is a `Corruption` error).
        let bytes = store.payload(&reference.hash)?.ok_or(OpenError::NotHeld)?;
        let place = PayloadPlace {
            at: *at,
            record: entry.record,
            content_type: &reference.content_type,
        };
        sealed::open_payload(&key, &place, &bytes).map_err(OpenError::Key)
    }
}
