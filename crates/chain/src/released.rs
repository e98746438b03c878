//! Data keys across members: the owner releases a data key to a grantee (HPKE to the
//! encryption key the grantee's certificate binds), and the grantee keeps it wrapped under its
//! own node key, like the keys of its own records, so one read path opens both.
//!
//! Whether a key may be released is the owner's decision ([`crate::grants`]), made before
//! [`KeyRing::release`] is called; whether a released key is still to be kept is the grantee's,
//! by the same rules, on its copy of the owner's chain.

use medchain_protocol::EntryRef;
use medchain_protocol::identity::X25519_KEY_BYTES;
use medchain_protocol::key_release::{self, RELEASED_KEY_BYTES, ReleaseError};
use medchain_protocol::sealed::SealError;

use crate::keyring::{KeyRing, OpenError};
use crate::ledger::Ledger;

/// Why a released key could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// This ring holds no encryption key (a node started without its member's key).
    #[error("this node holds no encryption key to open released keys with")]
    NoEncryptionKey,
    /// The released bytes do not open with our key for that entry (altered, another entry's, or
    /// released to someone else).
    #[error("the key released for entry {at} does not open: {error}")]
    Open {
        /// The entry.
        at: EntryRef,
        /// Why.
        error: ReleaseError,
    },
    /// Wrapping it under the node key failed (the random number generator).
    #[error("the key released for entry {at} cannot be wrapped: {error}")]
    Wrap {
        /// The entry.
        at: EntryRef,
        /// Why.
        error: SealError,
    },
    /// The store failed to keep it.
    #[error("store: {0}")]
    Stored(String),
}

impl KeyRing {
    /// The data key of the entry at `at`, released with HPKE to `recipient` (an encryption key
    /// a member certificate binds). The caller has decided that the grant allows it.
    pub fn release(
        &self,
        store: &medchain_store::StoreReader,
        at: &EntryRef,
        recipient: &[u8; X25519_KEY_BYTES],
    ) -> Result<[u8; RELEASED_KEY_BYTES], OpenError> {
        let key = self.data_key(store, at)?;
        key_release::release(self.rng(), recipient, at, &key).map_err(OpenError::Release)
    }
}

impl Ledger {
    /// Keeps keys released to this member: each is opened with the member's encryption key
    /// (which checks it was released for that entry, to us), wrapped under the node key and
    /// stored, flushed. Returns the entries whose keys are kept and those that failed, with
    /// why; one that fails does not stop the others.
    pub fn keep_released_keys(
        &mut self,
        keys: &KeyRing,
        released: &[(EntryRef, Vec<u8>)],
    ) -> (Vec<EntryRef>, Vec<(EntryRef, KeepError)>) {
        let Some(member) = keys.encryption_key() else {
            let failed = released
                .iter()
                .map(|(at, _)| (*at, KeepError::NoEncryptionKey))
                .collect();
            return (Vec::new(), failed);
        };
        let mut wrapped = Vec::with_capacity(released.len());
        let mut failed = Vec::new();
        for (at, bytes) in released {
            let kept = key_release::open_release(member, at, bytes)
                .map_err(|error| KeepError::Open { at: *at, error })
                .and_then(|key| {
                    keys.wrap(at, &key)
                        .map_err(|error| KeepError::Wrap { at: *at, error })
                });
            match kept {
                Ok(sealed) => wrapped.push((*at, sealed)),
                Err(e) => failed.push((*at, e)),
            }
        }
        let stored = self
            .store
            .put_data_keys(&wrapped)
            .and_then(|()| self.store.flush());
        let entries = wrapped.into_iter().map(|(at, _)| at);
        match stored {
            Ok(()) => (entries.collect(), failed),
            Err(e) => {
                let message = e.to_string();
                failed.extend(entries.map(|at| (at, KeepError::Stored(message.clone()))));
                (Vec::new(), failed)
            }
        }
    }
}
