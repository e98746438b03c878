//! Sealed payloads: every payload on a chain is AEAD ciphertext under a data key of its own.
//!
//! The authoring node draws a fresh random 256-bit data key for each payload and seals the
//! payload with AES-256-GCM, the associated data binding the ciphertext to its place: the chain,
//! the record, the entry's position (height and index) and the content type. Blocks commit to
//! the ciphertext's hash, so every node (auditors included) validates, stores, syncs, verifies
//! and repairs ciphertext while holding no key. A key is drawn inside [`seal_new_payload`] and
//! used for exactly one payload, so the nonce is fixed (all zeros): uniqueness of the (key,
//! nonce) pair comes from the key.
//!
//! AES-GCM alone does not commit to its key: an author could craft bytes that open, under two
//! different keys, to two different plaintexts, and release one key to one reader and the other
//! to another. So the sealed bytes end with a key commitment, HMAC-SHA256 under the data key of
//! the associated data, checked before anything is decrypted: the bytes the chain commits to
//! open under one key only.
//!
//! Data keys at rest are wrapped (AES-256-GCM again, random nonce) under the node's key-wrapping
//! key, the associated data naming the entry the key belongs to, so a wrapped key cannot be moved
//! to another record. No public-key operation is done per record. docs/protocol.md has the
//! formats byte for byte.
//!
//! Randomness is a parameter (`ring::rand::SecureRandom`): this crate stays deterministic under
//! test.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::SecureRandom;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::ids::{EntryRef, RecordId};

/// Bytes of the AEAD tag a sealed payload carries after its ciphertext.
pub const TAG_BYTES: usize = 16;
/// Bytes of the key commitment a sealed payload ends with.
pub const COMMITMENT_BYTES: usize = 32;
/// Bytes a sealed payload adds to its plaintext: tag and key commitment.
pub const SEALING_OVERHEAD: usize = TAG_BYTES + COMMITMENT_BYTES;
/// Bytes of a data key and of a key-wrapping key.
pub const KEY_BYTES: usize = 32;
/// Bytes of a wrapped data key: generation (4), nonce (12), sealed key (32) and tag (16).
pub const WRAPPED_KEY_BYTES: usize = 4 + NONCE_LEN + KEY_BYTES + TAG_BYTES;

/// The context string that starts a payload's associated data.
const PAYLOAD_AAD_CONTEXT: &[u8] = b"medchain v2 payload";
/// The context string of a payload's key commitment.
const COMMITMENT_CONTEXT: &[u8] = b"medchain v2 key-commitment";
/// The context string that starts a wrapped data key's associated data.
const WRAP_AAD_CONTEXT: &[u8] = b"medchain v2 data-key";

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The random number generator failed.
    #[error("the random number generator failed")]
    Random,
    /// The AEAD refused to seal (input over its length limit).
    #[error("the payload cannot be sealed")]
    Seal,
    /// The ciphertext, its tag or its associated data do not match the key: the bytes were
    /// altered, belong to another position, or the key is not theirs.
    #[error("the ciphertext does not open with this key at this position")]
    Open,
    /// A wrapped key of the wrong length.
    #[error("a wrapped data key is {WRAPPED_KEY_BYTES} bytes, not {0}")]
    WrappedLength(usize),
    /// A wrapped key of another generation of the key-wrapping key.
    #[error("the data key is wrapped under key generation {found}, not {expected}")]
    Generation {
        /// The wrapped key's generation.
        found: u32,
        /// The wrapping key's.
        expected: u32,
    },
}

/// A 256-bit secret key: a payload's data key or a node's key-wrapping key. Wiped on drop; its
/// `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, SealError> {
        let mut bytes = [0u8; KEY_BYTES];
        rng.fill(&mut bytes).map_err(|_| SealError::Random)?;
        Ok(Self(bytes))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    /// The key's bytes (to wrap it, or to write a key file).
    pub fn expose(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn aead(&self) -> LessSafeKey {
        // AES-256-GCM takes any 32-byte key: `new` cannot fail on a 32-byte slice.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).unwrap_or_else(|_| unreachable_key_length()),
        )
    }
}

#[allow(clippy::panic)]
fn unreachable_key_length() -> UnboundKey {
    panic!("AES-256-GCM refused a 32-byte key")
}

/// A payload's data key.
pub type DataKey = SecretKey;

/// Where a payload sits: what its associated data binds it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadPlace<'a> {
    /// The entry's position (chain, height, index).
    pub at: EntryRef,
    /// The record the entry belongs to.
    pub record: RecordId,
    /// The payload's content type (of the plaintext).
    pub content_type: &'a str,
}

impl PayloadPlace<'_> {
    /// The associated data: context, chain (32), record (16), height (u64 BE), index (u32 BE),
    /// content type length (u8) and bytes.
    pub fn associated_data(&self) -> Vec<u8> {
        let content_type = self.content_type.as_bytes();
        let mut out = Vec::with_capacity(PAYLOAD_AAD_CONTEXT.len() + 61 + content_type.len());
        out.extend_from_slice(PAYLOAD_AAD_CONTEXT);
        out.extend_from_slice(self.at.chain.as_bytes());
        out.extend_from_slice(self.record.as_bytes());
        out.extend_from_slice(&self.at.height.to_be_bytes());
        out.extend_from_slice(&self.at.index.to_be_bytes());
        // Content types are at most 127 bytes (`limits::MAX_CONTENT_TYPE_LEN`); a longer one
        // is refused by the entry rules before it is sealed or opened.
        out.push(u8::try_from(content_type.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(content_type);
        out
    }
}

/// Seals `plaintext` at `place` under a data key drawn for it alone: the key, and the sealed
/// bytes (ciphertext, 16-byte tag, 32-byte key commitment).
pub fn seal_new_payload(
    rng: &dyn SecureRandom,
    place: &PayloadPlace<'_>,
    plaintext: &[u8],
) -> Result<(DataKey, Vec<u8>), SealError> {
    let key = DataKey::generate(rng)?;
    let mut out = Vec::with_capacity(plaintext.len() + SEALING_OVERHEAD);
    out.extend_from_slice(plaintext);
    let aad = place.associated_data();
    // Sealing fails only for inputs over AES-GCM's length limit (64 GiB), far above any payload.
    key.aead()
        .seal_in_place_append_tag(zero_nonce(), Aad::from(&aad), &mut out)
        .map_err(|_| SealError::Seal)?;
    out.extend_from_slice(commitment(&key, &aad).as_ref());
    Ok((key, out))
}

/// Opens a payload sealed at `place` under `key`. The key commitment is checked first (in
/// constant time); the plaintext is wiped when dropped.
pub fn open_payload(
    key: &DataKey,
    place: &PayloadPlace<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let split = sealed
        .len()
        .checked_sub(COMMITMENT_BYTES)
        .ok_or(SealError::Open)?;
    let (body, committed) = sealed.split_at(split);
    let aad = place.associated_data();
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose());
    ring::hmac::verify(&hmac_key, &commitment_input(&aad), committed)
        .map_err(|_| SealError::Open)?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let len = key
        .aead()
        .open_in_place(zero_nonce(), Aad::from(aad), &mut buffer[..])
        .map_err(|_| SealError::Open)?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

/// HMAC-SHA256 under the data key of the commitment context and the associated data.
fn commitment(key: &DataKey, aad: &[u8]) -> ring::hmac::Tag {
    let hmac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.expose());
    ring::hmac::sign(&hmac_key, &commitment_input(aad))
}

fn commitment_input(aad: &[u8]) -> Vec<u8> {
    [COMMITMENT_CONTEXT, aad].concat()
}

fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0; NONCE_LEN])
}

/// A node's key-wrapping key, with its generation (each rotation makes the next generation, so
/// a key wrapped under a destroyed generation is recognised as such).
#[derive(Debug, Clone)]
pub struct WrappingKey {
    key: SecretKey,
    generation: u32,
}

impl WrappingKey {
    /// The key `key` of `generation`.
    pub fn new(key: SecretKey, generation: u32) -> Self {
        Self { key, generation }
    }

    /// Its generation.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The key (to write the key file).
    pub fn secret(&self) -> &SecretKey {
        &self.key
    }

    /// Wraps the data key of the entry at `at`: generation (u32 BE), nonce (12), sealed key and
    /// tag (48).
    pub fn wrap(
        &self,
        rng: &dyn SecureRandom,
        at: &EntryRef,
        data_key: &DataKey,
    ) -> Result<[u8; WRAPPED_KEY_BYTES], SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut sealed = Zeroizing::new(data_key.expose().to_vec());
        self.key
            .aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(at)),
                &mut *sealed,
            )
            .map_err(|_| SealError::Seal)?;
        let mut out = [0u8; WRAPPED_KEY_BYTES];
        out[..4].copy_from_slice(&self.generation.to_be_bytes());
        out[4..4 + NONCE_LEN].copy_from_slice(&nonce);
        out[4 + NONCE_LEN..].copy_from_slice(&sealed);
        Ok(out)
    }

    /// Unwraps the data key of the entry at `at`.
    pub fn unwrap(&self, at: &EntryRef, wrapped: &[u8]) -> Result<DataKey, SealError> {
        let generation = wrapped_generation(wrapped)?;
        if generation != self.generation {
            return Err(SealError::Generation {
                found: generation,
                expected: self.generation,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&wrapped[4..4 + NONCE_LEN]);
        let mut sealed = Zeroizing::new(wrapped[4 + NONCE_LEN..].to_vec());
        let opened = self
            .key
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(wrap_aad(at)),
                &mut sealed[..],
            )
            .map_err(|_| SealError::Open)?;
        let bytes: [u8; KEY_BYTES] = opened.try_into().map_err(|_| SealError::Open)?;
        Ok(SecretKey(bytes))
    }
}

/// The generation a wrapped key was wrapped under.
pub fn wrapped_generation(wrapped: &[u8]) -> Result<u32, SealError> {
    if wrapped.len() != WRAPPED_KEY_BYTES {
        return Err(SealError::WrappedLength(wrapped.len()));
    }
    let mut generation = [0u8; 4];
    generation.copy_from_slice(&wrapped[..4]);
    Ok(u32::from_be_bytes(generation))
}

fn wrap_aad(at: &EntryRef) -> Vec<u8> {
    let mut out = Vec::with_capacity(WRAP_AAD_CONTEXT.len() + 44);
    out.extend_from_slice(WRAP_AAD_CONTEXT);
    out.extend_from_slice(at.chain.as_bytes());
    out.extend_from_slice(&at.height.to_be_bytes());
    out.extend_from_slice(&at.index.to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
