//! Key backup: a provider's data keys, block by block, for its offline recovery key, so a
//! hospital that loses its whole data directory gets its records back readable.
//!
//! One HPKE operation per block, not per record: a fresh envelope key is sealed with HPKE (the
//! key-release suite, `info` "medchain v2 key-backup") to the hospital's recovery key (an X25519
//! key made by `medchain recovery init` and kept offline), and each payload entry's data key is
//! wrapped under that envelope key exactly as a node wraps keys under its node key
//! ([`WrappingKey::wrap`], generation 0: the entry's position in the associated data). Peers
//! keep the backups of other providers' chains off chain and can read none of them; an erased
//! entry's wrapped key is dropped from every copy, the envelope staying for the others.
//!
//! ```text
//! envelope aad = chain (32) ‖ height u64 BE ‖ recovery public key (32)
//! envelope     = enc (32) ‖ sealed envelope key (32) ‖ tag (16)
//! key          = index u32, wrapped (64: generation 0 ‖ nonce ‖ sealed data key ‖ tag)
//! digest       = SHA-256 of the wrapped key (kept when an erased entry's key is removed)
//! signature    = Ed25519 by the chain's key over "medchain v2 key-backup signature" ‖ chain ‖
//!                height u64 BE ‖ envelope ‖ for each key: index u32 BE ‖ digest
//! ```
//!
//! The signature is what lets a node keep a backup whatever peer sent it: only the chain's
//! provider can sign one, it covers every key (by its digest), and a key removed because its
//! entry was erased leaves its digest behind, so the signature still verifies.

use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

use crate::identity::{EncryptionKey, MemberKey, X25519_KEY_BYTES, verify_ed25519};
use crate::ids::{ChainId, EntryRef};
use crate::key_release::{RELEASED_KEY_BYTES, ReleaseError, open_key_sealed_to, seal_key_to};
use crate::sealed::{DataKey, SealError, SecretKey, WRAPPED_KEY_BYTES, WrappingKey};

/// The HPKE `info` of a block's envelope key.
const INFO: &[u8] = b"medchain v2 key-backup";

/// The backup of one block's data keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBackup {
    /// The block's chain.
    pub chain: ChainId,
    /// The block's height.
    pub height: u64,
    /// The envelope key, sealed with HPKE to the recovery key (80 bytes).
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    /// The data keys of the block's payload entries, each wrapped under the envelope key; an
    /// erased entry's wrapped key is removed, its digest kept.
    pub keys: Vec<BackedUpKey>,
    /// The chain's provider's signature over the chain, the height, the envelope and every
    /// key's index and digest (64 bytes).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// The context of a backup's signature.
const SIGNATURE_CONTEXT: &[u8] = b"medchain v2 key-backup signature";

fn signed_message(chain: &ChainId, height: u64, envelope: &[u8], keys: &[BackedUpKey]) -> Vec<u8> {
    let mut out = [
        SIGNATURE_CONTEXT,
        chain.as_bytes(),
        &height.to_be_bytes()[..],
        envelope,
    ]
    .concat();
    for key in keys {
        out.extend_from_slice(&key.index.to_be_bytes());
        out.extend_from_slice(&key.digest);
    }
    out
}

/// The digest a backup's signature covers for one wrapped key.
fn digest_of(wrapped: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, wrapped)
        .as_ref()
        .to_vec()
}

/// One data key in a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpKey {
    /// The entry's index in its block.
    pub index: u32,
    /// SHA-256 of the wrapped key (32 bytes): what the signature covers.
    #[serde(with = "serde_bytes")]
    pub digest: Vec<u8>,
    /// Its data key wrapped under the envelope key (64 bytes); `None` once the entry is erased.
    pub wrapped: Option<serde_bytes::ByteBuf>,
}

/// Why a backup could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// The envelope could not be sealed, or does not open with this recovery key.
    #[error("the backup's envelope: {0}")]
    Envelope(#[from] ReleaseError),
    /// A data key could not be wrapped, or does not unwrap under the envelope key.
    #[error("the backed-up key of entry {index}: {error}")]
    Key {
        /// The entry's index.
        index: u32,
        /// Why.
        error: SealError,
    },
}

fn envelope_aad(chain: &ChainId, height: u64, recovery: &[u8; X25519_KEY_BYTES]) -> Vec<u8> {
    [chain.as_bytes(), &height.to_be_bytes()[..], recovery].concat()
}

fn at(chain: ChainId, height: u64, index: u32) -> EntryRef {
    EntryRef {
        chain,
        height,
        index,
    }
}

/// Backs up the data keys `keys` (entry index and key) of the block at `height` of `chain` for
/// the recovery key `recovery`, signed by `signer` (the chain's key).
pub fn back_up(
    rng: &dyn SecureRandom,
    recovery: &[u8; X25519_KEY_BYTES],
    signer: &MemberKey,
    (chain, height): (ChainId, u64),
    keys: &[(u32, &DataKey)],
) -> Result<KeyBackup, BackupError> {
    let envelope_key =
        SecretKey::generate(rng).map_err(|error| BackupError::Key { index: 0, error })?;
    let envelope = seal_key_to(
        rng,
        recovery,
        INFO,
        &envelope_aad(&chain, height, recovery),
        &envelope_key,
    )?;
    let wrapping = WrappingKey::new(envelope_key, 0);
    let keys = keys
        .iter()
        .map(|(index, key)| {
            wrapping
                .wrap(rng, &at(chain, height, *index), key)
                .map(|wrapped| BackedUpKey {
                    index: *index,
                    digest: digest_of(&wrapped),
                    wrapped: Some(wrapped.to_vec().into()),
                })
                .map_err(|error| BackupError::Key {
                    index: *index,
                    error,
                })
        })
        .collect::<Result<Vec<BackedUpKey>, _>>()?;
    let signature = signer
        .sign(&signed_message(&chain, height, &envelope, &keys))
        .to_vec();
    Ok(KeyBackup {
        chain,
        height,
        envelope: envelope.to_vec(),
        keys,
        signature,
    })
}

impl KeyBackup {
    /// Opens the backup with the recovery key: each entry still backed up, with its data key or
    /// why it does not unwrap (one bad key does not cost the others).
    #[allow(clippy::type_complexity)]
    pub fn open(
        &self,
        recovery: &EncryptionKey,
    ) -> Result<Vec<(EntryRef, Result<DataKey, BackupError>)>, BackupError> {
        if self.envelope.len() != RELEASED_KEY_BYTES {
            return Err(ReleaseError::Open.into());
        }
        let aad = envelope_aad(&self.chain, self.height, &recovery.public_key());
        let envelope_key = open_key_sealed_to(recovery, INFO, &aad, &self.envelope)?;
        let wrapping = WrappingKey::new(envelope_key, 0);
        Ok(self
            .keys
            .iter()
            .filter_map(|k| Some((k.index, k.wrapped.as_ref()?)))
            .map(|(index, wrapped)| {
                let entry = at(self.chain, self.height, index);
                let key = wrapping
                    .unwrap(&entry, wrapped)
                    .map_err(|error| BackupError::Key { index, error });
                (entry, key)
            })
            .collect())
    }

    /// The backup without the wrapped keys of `indexes` (erased entries); their digests stay,
    /// so the signature still verifies.
    pub fn without(&self, indexes: &[u32]) -> Self {
        let mut trimmed = self.clone();
        for key in &mut trimmed.keys {
            if indexes.contains(&key.index) {
                key.wrapped = None;
            }
        }
        trimmed
    }

    /// How many wrapped keys it still holds.
    pub fn held_keys(&self) -> usize {
        self.keys.iter().filter(|k| k.wrapped.is_some()).count()
    }

    /// Whether the chain's key `owner` signed it, every key it holds matching its signed
    /// digest.
    pub fn is_signed_by(&self, owner: &[u8; 32]) -> bool {
        let Ok(signature) = <[u8; 64]>::try_from(self.signature.as_slice()) else {
            return false;
        };
        let keys_match = self
            .keys
            .iter()
            .all(|k| k.wrapped.as_ref().is_none_or(|w| digest_of(w) == k.digest));
        keys_match
            && verify_ed25519(
                owner,
                &signed_message(&self.chain, self.height, &self.envelope, &self.keys),
                &signature,
            )
    }

    /// Whether its fields have the sizes the format gives them (checked before keeping one a
    /// peer sent).
    pub fn is_well_formed(&self) -> bool {
        self.signature.len() == 64
            && self.envelope.len() == RELEASED_KEY_BYTES
            && self.keys.len() <= crate::limits::MAX_ENTRIES_PER_BLOCK
            && self.keys.iter().all(|k| {
                k.digest.len() == 32
                    && k.wrapped
                        .as_ref()
                        .is_none_or(|w| w.len() == WRAPPED_KEY_BYTES)
            })
    }

    /// The canonical bytes (postcard), as stored.
    pub fn encode(&self) -> Vec<u8> {
        crate::encoding::encode(self)
    }

    /// Decodes stored or received bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::DecodeError> {
        crate::encoding::decode(bytes, MAX_BACKUP_BYTES)
    }
}

/// Bytes of one encoded backup at most: a block's worth of keys.
pub const MAX_BACKUP_BYTES: usize = 256 + crate::limits::MAX_ENTRIES_PER_BLOCK * 112;

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;

    #[test]
    fn a_backup_opens_with_its_recovery_key_only_and_erased_keys_leave_it() {
        let rng = SystemRandom::new();
        let recovery = EncryptionKey::derive(&[5; 32]);
        let other = EncryptionKey::derive(&[6; 32]);
        let chain = ChainId([1; 32]);
        let (k0, k2) = (
            DataKey::generate(&rng).unwrap(),
            DataKey::generate(&rng).unwrap(),
        );
        let signer = MemberKey::from_seed(&[7; 32]).unwrap();
        let backup = back_up(
            &rng,
            &recovery.public_key(),
            &signer,
            (chain, 7),
            &[(0, &k0), (2, &k2)],
        )
        .unwrap();
        assert!(backup.is_well_formed());
        assert!(backup.is_signed_by(&signer.public_key()));
        let stranger = MemberKey::from_seed(&[8; 32]).unwrap();
        assert!(!backup.is_signed_by(&stranger.public_key()));
        let mut moved_sig = backup.clone();
        moved_sig.height = 9;
        assert!(!moved_sig.is_signed_by(&signer.public_key()));
        let decoded = KeyBackup::decode(&backup.encode()).unwrap();
        let opened = decoded.open(&recovery).unwrap();
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[1].0, at(chain, 7, 2));
        assert_eq!(opened[1].1.as_ref().unwrap().expose(), k2.expose());
        assert!(backup.open(&other).is_err(), "another key opens nothing");
        let mut moved = backup.clone();
        moved.height = 8;
        assert!(moved.open(&recovery).is_err(), "bound to its block");
        let mut swapped = backup.clone();
        swapped.keys[0].index = 1;
        assert!(
            swapped.open(&recovery).unwrap()[0].1.is_err(),
            "bound to its entry"
        );
        assert!(!swapped.is_signed_by(&signer.public_key()));
        // A peer replacing one wrapped key with junk breaks the signature.
        let mut junk = backup.clone();
        junk.keys[0].wrapped = Some(vec![0; WRAPPED_KEY_BYTES].into());
        assert!(!junk.is_signed_by(&signer.public_key()));
        let erased = backup.without(&[0]);
        assert!(
            erased.is_signed_by(&signer.public_key()),
            "trimming keeps the signature"
        );
        assert_eq!(erased.held_keys(), 1);
        let left = erased.open(&recovery).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].1.as_ref().unwrap().expose(), k2.expose());
    }
}
