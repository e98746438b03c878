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

use medchain_protocol::identity::{EncryptionKey, X25519_KEY_BYTES};
use medchain_protocol::sealed::{
    self, DataKey, PayloadPlace, SealError, WRAPPED_KEY_BYTES, WrappingKey,
};
use medchain_protocol::{Entry, EntryRef, PayloadHash};
use medchain_store::{StoreError, StoreReader};

use crate::ledger::Ledger;
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

/// The node's key-wrapping key (two during a rotation), the member's X25519 encryption key (to
/// which data keys are released), and a source of randomness.
#[derive(Clone)]
pub struct KeyRing {
    wrapping: Arc<RwLock<Wrapping>>,
    encryption: Option<Arc<EncryptionKey>>,
    /// The public half of the hospital's offline recovery key: every authored block's data
    /// keys are backed up to it.
    recovery: Option<[u8; X25519_KEY_BYTES]>,
    rng: SystemRandom,
}

/// The wrapping keys in force: the current one and, during a rotation, its successor (which
/// wraps every new key, so nothing wrapped during the rotation is left under the old key).
struct Wrapping {
    current: WrappingKey,
    next: Option<WrappingKey>,
}

impl Wrapping {
    fn for_wrapping(&self) -> &WrappingKey {
        self.next.as_ref().unwrap_or(&self.current)
    }

    fn for_generation(&self, generation: u32) -> Option<&WrappingKey> {
        std::iter::once(&self.current)
            .chain(self.next.as_ref())
            .find(|k| k.generation() == generation)
    }
}

/// Why the data keys could not be re-wrapped. Nothing is deleted that could still be opened.
#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    /// A key of the current (or the new) generation does not open: the node key is not the one
    /// the store's keys were wrapped under, or the key store is damaged. The rotation stops
    /// before anything is destroyed.
    #[error(
        "the data key of entry {at} does not open under the node key of its generation ({error}): wrong node key file, or a damaged key store; nothing was destroyed"
    )]
    Key {
        /// The entry whose key failed.
        at: EntryRef,
        /// Why.
        error: SealError,
    },
    /// The store records another node key than this ring's (its check value differs).
    #[error(
        "the store's data keys are wrapped under another node key than this one (its check value differs): wrong node key file; nothing was changed"
    )]
    WrongNodeKey,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What re-wrapping the data keys under a new node key did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Keys re-wrapped under the new node key.
    pub rewrapped: usize,
    /// Keys already under it (a rotation resumed after a crash).
    pub already: usize,
    /// Keys of a generation older than the current one (its node key is destroyed): deleted,
    /// as nothing can ever open them again.
    pub unreadable: usize,
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
    /// The key could not be released to a member (its encryption key is unusable, or the
    /// random number generator failed).
    #[error("the key cannot be released: {0}")]
    Release(medchain_protocol::key_release::ReleaseError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl KeyRing {
    /// A ring holding `wrapping`.
    pub fn new(wrapping: WrappingKey) -> Self {
        Self {
            wrapping: Arc::new(RwLock::new(Wrapping {
                current: wrapping,
                next: None,
            })),
            encryption: None,
            recovery: None,
            rng: SystemRandom::new(),
        }
    }

    /// This ring with the member's encryption key (the one its certificate binds).
    pub fn with_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.encryption = Some(Arc::new(key));
        self
    }

    /// This ring with the hospital's recovery key (its public half): authored blocks' data keys
    /// are backed up to it.
    pub fn with_recovery_key(mut self, public: [u8; X25519_KEY_BYTES]) -> Self {
        self.recovery = Some(public);
        self
    }

    /// The recovery key authored blocks are backed up to, if any.
    pub fn recovery_key(&self) -> Option<[u8; X25519_KEY_BYTES]> {
        self.recovery
    }

    /// The public half of the member's encryption key, if the ring holds it.
    pub fn encryption_public_key(&self) -> Option<[u8; X25519_KEY_BYTES]> {
        self.encryption.as_ref().map(|k| k.public_key())
    }

    /// The member's encryption key, to open keys released to it.
    pub(crate) fn encryption_key(&self) -> Option<&EncryptionKey> {
        self.encryption.as_deref()
    }

    /// The ring's source of randomness.
    pub(crate) fn rng(&self) -> &SystemRandom {
        &self.rng
    }

    /// `key` (the data key of the entry at `at`) wrapped for the store under the key in force.
    pub(crate) fn wrap(&self, at: &EntryRef, key: &DataKey) -> Result<Vec<u8>, SealError> {
        let wrapped = self.read().for_wrapping().wrap(&self.rng, at, key)?;
        Ok(wrapped.to_vec())
    }

    /// The generation of the current wrapping key.
    pub fn generation(&self) -> u32 {
        self.read().current.generation()
    }

    /// The generation of the key a rotation is moving to, if one is under way.
    pub fn rotating_to(&self) -> Option<u32> {
        self.read().next.as_ref().map(WrappingKey::generation)
    }

    /// Whether a rotation to exactly `key` (bytes and generation) is under way.
    pub fn is_rotating_to(&self, key: &WrappingKey) -> bool {
        self.read().next.as_ref().is_some_and(|next| {
            next.generation() == key.generation() && next.secret() == key.secret()
        })
    }

    /// Starts a rotation to `next`: new keys are wrapped under it from now on, and keys under
    /// either generation unwrap. [`Ledger::rewrap_data_keys`] moves the stored keys over;
    /// [`KeyRing::finish_rotation`] then drops the old key.
    pub fn begin_rotation(&self, next: WrappingKey) {
        self.write().next = Some(next);
    }

    /// Ends a rotation: the successor becomes the current key, and the old one is dropped
    /// (wiped from memory).
    pub fn finish_rotation(&self) {
        let mut wrapping = self.write();
        if let Some(next) = wrapping.next.take() {
            wrapping.current = next;
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Wrapping> {
        // A panic cannot leave the keys half-written (each is replaced whole): take a poisoned
        // lock over.
        self.wrapping.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Wrapping> {
        self.wrapping.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Seals `plaintext` at `place` under a fresh data key; the sealed bytes, the data key
    /// wrapped for the store, and the data key itself (for the block's key backup).
    pub fn seal(
        &self,
        place: &PayloadPlace<'_>,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>, DataKey), SealError> {
        let (key, sealed) = sealed::seal_new_payload(&self.rng, place, plaintext)?;
        let wrapped = self
            .read()
            .for_wrapping()
            .wrap(&self.rng, &place.at, &key)?;
        Ok((sealed, wrapped.to_vec(), key))
    }

    /// The data key of the entry at `at`, if this node holds it.
    pub fn data_key(&self, store: &StoreReader, at: &EntryRef) -> Result<DataKey, OpenError> {
        let wrapped = store.data_key(at)?.ok_or(OpenError::NoKey)?;
        if wrapped.len() != WRAPPED_KEY_BYTES {
            return Err(OpenError::Key(SealError::WrappedLength(wrapped.len())));
        }
        self.unwrap(at, &wrapped).map_err(OpenError::Key)
    }

    /// Checks that this ring's node key is the one the store's data keys are wrapped under: by
    /// the check value the store records ([`Ledger::record_node_key`]), or, in a store without
    /// one, on its first live data key (an empty store passes). A node started with the wrong
    /// node key file must stop, not serve errors or wrap new keys beside keys it cannot open.
    pub fn check_store(&self, store: &StoreReader) -> Result<(), RewrapError> {
        if let Some(recorded) = store.node_key_check()? {
            let wrapping = self.read();
            let known = std::iter::once(&wrapping.current)
                .chain(wrapping.next.as_ref())
                .any(|k| check_value(k) == recorded);
            return if known {
                Ok(())
            } else {
                Err(RewrapError::WrongNodeKey)
            };
        }
        let current = self.generation();
        let mut after = None;
        loop {
            let page = store.data_keys_after(after.as_ref(), REWRAP_PAGE)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            after = Some(*last);
            // Keys of destroyed generations cannot be opened by any key: skip them (the next
            // rotation deletes them) and judge the ring on the first live one.
            let live = page.into_iter().find(|(_, wrapped)| {
                sealed::wrapped_generation(wrapped).is_ok_and(|g| g >= current)
            });
            if let Some((at, wrapped)) = live {
                return self
                    .unwrap(&at, &wrapped)
                    .map(drop)
                    .map_err(|error| RewrapError::Key { at, error });
            }
        }
    }

    /// Unwraps `wrapped` (the data key of the entry at `at`) under the key of its generation.
    fn unwrap(&self, at: &EntryRef, wrapped: &[u8]) -> Result<DataKey, SealError> {
        let generation = sealed::wrapped_generation(wrapped)?;
        let wrapping = self.read();
        let key = wrapping
            .for_generation(generation)
            .ok_or(SealError::Generation {
                found: generation,
                expected: wrapping.current.generation(),
            })?;
        key.unwrap(at, wrapped)
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

/// The check value of a node key: its generation (u32 BE) and HMAC-SHA256 under it of a fixed
/// context. Kept in the store, it says which node key the store's data keys are wrapped under
/// without revealing the key.
pub fn check_value(key: &WrappingKey) -> Vec<u8> {
    let hmac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.secret().expose());
    let tag = ring::hmac::sign(&hmac, b"medchain v2 node-key check");
    [&key.generation().to_be_bytes()[..], tag.as_ref()].concat()
}

/// Most keys re-wrapped per store write.
const REWRAP_PAGE: usize = 4096;

impl Ledger {
    /// Deletes the data keys of `entries` from the store (flushed). Their wrapped bytes may
    /// survive in the engine's old log segments until the node key they were wrapped under is
    /// destroyed: follow with a rotation ([`KeyRing::begin_rotation`], this ledger's
    /// [`Ledger::rewrap_data_keys`], [`KeyRing::finish_rotation`]).
    pub fn delete_data_keys(&mut self, entries: &[EntryRef]) -> Result<(), StoreError> {
        self.store.delete_data_keys(entries)
    }

    /// Deletes erased payloads (their keys are destroyed) from the store, flushed.
    pub fn delete_payloads(&mut self, hashes: &[PayloadHash]) -> Result<(), StoreError> {
        self.store.delete_payloads(hashes)
    }

    /// Records the ring's key in force (the one new keys are wrapped under) as the store's node
    /// key, flushed: at start, and once a rotation has re-wrapped every key.
    pub fn record_node_key(&mut self, keys: &KeyRing) -> Result<(), StoreError> {
        let value = check_value(keys.read().for_wrapping());
        self.store.put_node_key_check(&value)
    }

    /// Re-wraps every stored data key under the key `keys` is rotating to, a page at a time,
    /// then flushes. Resumable: keys already under the new key are left as they are. Keys of a
    /// generation older than the current one (whose node key is destroyed) are deleted. A key of
    /// the current generation that does not open stops the rotation ([`RewrapError::Key`]):
    /// the wrong node key must never destroy the right one's keys. Does nothing unless a
    /// rotation is under way.
    pub fn rewrap_data_keys(&mut self, keys: &KeyRing) -> Result<Rewrapped, RewrapError> {
        let mut done = Rewrapped::default();
        let Some(target) = keys.rotating_to() else {
            return Ok(done);
        };
        let current = keys.generation();
        let mut after = None;
        loop {
            let page = self.store.data_keys_after(after.as_ref(), REWRAP_PAGE)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            let mut rewrapped = Vec::with_capacity(page.len());
            let mut unreadable = Vec::new();
            for (at, wrapped) in page {
                match sealed::wrapped_generation(&wrapped) {
                    Ok(g) if g == target => done.already += 1,
                    Ok(g) if g < current => unreadable.push(at),
                    _ => {
                        let key = keys
                            .unwrap(&at, &wrapped)
                            .map_err(|error| RewrapError::Key { at, error })?;
                        let new = keys
                            .read()
                            .for_wrapping()
                            .wrap(&keys.rng, &at, &key)
                            .map_err(|error| RewrapError::Key { at, error })?;
                        rewrapped.push((at, new.to_vec()));
                    }
                }
            }
            done.rewrapped += rewrapped.len();
            done.unreadable += unreadable.len();
            self.store.put_data_keys(&rewrapped)?;
            if !unreadable.is_empty() {
                self.store.delete_data_keys(&unreadable)?;
            }
        }
        // Every key is under the new node key: the store now names it (flushed).
        self.record_node_key(keys)?;
        Ok(done)
    }
}
