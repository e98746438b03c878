//! Releasing a data key to a member: HPKE (RFC 9180) to the member's X25519 encryption key.
//!
//! Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode, single shot. The
//! `info` names the purpose; the associated data binds the released key to the entry whose
//! payload it opens and to the member it was released to, so a released key cannot be replayed
//! for another entry or read as released to someone else:
//!
//! ```text
//! info = "medchain v2 key-release"
//! aad  = chain (32) ‖ height u64 BE ‖ index u32 BE ‖ recipient X25519 public key (32)
//! sealed = enc (32: the encapsulated ephemeral key) ‖ ciphertext of the 32-byte data key ‖ tag (16)
//! ```
//!
//! ring has neither HPKE nor static X25519, hence the RustCrypto `hpke` crate (0.13). It takes
//! a `rand_core` generator: ChaCha20 seeded from the caller's `ring::rand::SecureRandom`, so
//! randomness stays a parameter here as everywhere in this crate.

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use ring::rand::SecureRandom;
use zeroize::Zeroizing;

use crate::identity::{EncryptionKey, X25519_KEY_BYTES};
use crate::ids::EntryRef;
use crate::sealed::{DataKey, KEY_BYTES, SecretKey, TAG_BYTES};

/// The HPKE `info` of a key release.
const INFO: &[u8] = b"medchain v2 key-release";

/// Bytes of a released data key: encapsulated key, sealed data key, tag.
pub const RELEASED_KEY_BYTES: usize = X25519_KEY_BYTES + KEY_BYTES + TAG_BYTES;

/// Why a release could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// The recipient's key is not a usable X25519 public key.
    #[error("the recipient's encryption key is not a usable X25519 key")]
    BadRecipient,
    /// The bytes are not a release of this entry's key to this key (altered, another entry's,
    /// or released to another member).
    #[error("the released key does not open with this member's key for this entry")]
    Open,
}

fn aad(at: &EntryRef, recipient: &[u8; X25519_KEY_BYTES]) -> Vec<u8> {
    let mut out = Vec::with_capacity(76);
    out.extend_from_slice(at.chain.as_bytes());
    out.extend_from_slice(&at.height.to_be_bytes());
    out.extend_from_slice(&at.index.to_be_bytes());
    out.extend_from_slice(recipient);
    out
}

/// Releases the data key of the entry at `at` to the member whose encryption key is
/// `recipient`.
pub fn release(
    rng: &dyn SecureRandom,
    recipient: &[u8; X25519_KEY_BYTES],
    at: &EntryRef,
    data_key: &DataKey,
) -> Result<[u8; RELEASED_KEY_BYTES], ReleaseError> {
    seal_key_to(rng, recipient, INFO, &aad(at, recipient), data_key)
}

/// Opens a data key released to `key` for the entry at `at`.
pub fn open_release(
    key: &EncryptionKey,
    at: &EntryRef,
    released: &[u8],
) -> Result<DataKey, ReleaseError> {
    open_key_sealed_to(key, INFO, &aad(at, &key.public_key()), released)
}

/// One 32-byte key sealed with HPKE (base mode, single shot, the suite above) to `recipient`
/// under `info` and `aad`: enc (32) ‖ sealed key (32) ‖ tag (16).
pub(crate) fn seal_key_to(
    rng: &dyn SecureRandom,
    recipient: &[u8; X25519_KEY_BYTES],
    info: &[u8],
    aad: &[u8],
    key: &SecretKey,
) -> Result<[u8; RELEASED_KEY_BYTES], ReleaseError> {
    let public = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(recipient)
        .map_err(|_| ReleaseError::BadRecipient)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill(&mut seed[..]).map_err(|_| ReleaseError::Random)?;
    let mut csprng = ChaCha20Rng::from_seed(*seed);
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm256, HkdfSha256, X25519HkdfSha256, _>(
        &OpModeS::Base,
        &public,
        info,
        key.expose(),
        aad,
        &mut csprng,
    )
    .map_err(|_| ReleaseError::BadRecipient)?;
    let mut out = [0u8; RELEASED_KEY_BYTES];
    let enc = enc.to_bytes();
    if enc.len() != X25519_KEY_BYTES || ciphertext.len() != KEY_BYTES + TAG_BYTES {
        return Err(ReleaseError::BadRecipient);
    }
    out[..X25519_KEY_BYTES].copy_from_slice(&enc);
    out[X25519_KEY_BYTES..].copy_from_slice(&ciphertext);
    Ok(out)
}

/// Opens what [`seal_key_to`] sealed to `key` under `info` and `aad`.
pub(crate) fn open_key_sealed_to(
    key: &EncryptionKey,
    info: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<SecretKey, ReleaseError> {
    if sealed.len() != RELEASED_KEY_BYTES {
        return Err(ReleaseError::Open);
    }
    let (enc, ciphertext) = sealed.split_at(X25519_KEY_BYTES);
    let enc =
        <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(enc).map_err(|_| ReleaseError::Open)?;
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            key.hpke(),
            &enc,
            info,
            ciphertext,
            aad,
        )
        .map_err(|_| ReleaseError::Open)?,
    );
    let bytes: [u8; KEY_BYTES] = plaintext[..].try_into().map_err(|_| ReleaseError::Open)?;
    Ok(SecretKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;

    use super::*;
    use crate::ids::ChainId;

    fn at(index: u32) -> EntryRef {
        EntryRef {
            chain: ChainId([3; 32]),
            height: 9,
            index,
        }
    }

    #[test]
    fn a_released_key_opens_only_for_its_member_and_entry() {
        let rng = SystemRandom::new();
        let member = EncryptionKey::derive(&[1; 32]);
        let other = EncryptionKey::derive(&[2; 32]);
        let data = DataKey::generate(&rng).unwrap();
        let released = release(&rng, &member.public_key(), &at(0), &data).unwrap();
        assert_eq!(open_release(&member, &at(0), &released).unwrap(), data);
        assert_eq!(
            open_release(&member, &at(1), &released),
            Err(ReleaseError::Open)
        );
        assert_eq!(
            open_release(&other, &at(0), &released),
            Err(ReleaseError::Open)
        );
        let mut altered = released;
        altered[40] ^= 1;
        assert_eq!(
            open_release(&member, &at(0), &altered),
            Err(ReleaseError::Open)
        );
        assert_eq!(
            open_release(&member, &at(0), &released[1..]),
            Err(ReleaseError::Open)
        );
        // Fresh randomness each time.
        assert_ne!(
            release(&rng, &member.public_key(), &at(0), &data).unwrap(),
            released
        );
    }

    #[test]
    fn the_private_key_round_trips_through_pkcs8() {
        let key = EncryptionKey::derive(&[5; 32]);
        let der = key.to_pkcs8_der();
        assert_eq!(der.len(), 48);
        assert!(
            key.to_pkcs8_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let back = EncryptionKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert!(EncryptionKey::from_pkcs8_der(&der[1..]).is_err());
        assert!(!format!("{key:?}").contains(&hex::encode(&der[16..])));
    }
}
