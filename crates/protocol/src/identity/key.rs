//! Ed25519 member keys: loading from PKCS#8 (v1 or v2, DER or PEM), signing, and verification.

use ed25519::KeypairBytes;
use ed25519::pkcs8::{DecodePrivateKey, spki};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use super::error::KeyError;
use super::pem::pkcs8_to_pem;

/// DER of `PrivateKeyInfo { version 0, id-Ed25519, OCTET STRING { OCTET STRING (32) } }`
/// up to the 32 seed bytes (RFC 8410 section 7).
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 private key of a consortium member (or of the consortium authority).
pub struct MemberKey {
    pair: Ed25519KeyPair,
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl MemberKey {
    /// Loads an Ed25519 key from PKCS#8 DER: v1 (seed only, RFC 5208) or v2 (seed and
    /// public key, RFC 5958, what ring and rcgen write). A v2 public key must match the seed.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let bytes = KeypairBytes::from_pkcs8_der(der).map_err(|e| match e {
            ed25519::pkcs8::Error::PublicKey(spki::Error::OidUnknown { .. }) => {
                KeyError::NotEd25519
            }
            other => KeyError::Pkcs8(other),
        })?;
        let seed = Zeroizing::new(bytes.secret_key);
        let pair = match &bytes.public_key {
            Some(public) => Ed25519KeyPair::from_seed_and_public_key(&seed[..], public.as_ref())
                .map_err(|_| KeyError::PublicKeyMismatch)?,
            // A 32-byte seed always yields a key pair; the error arm is unreachable in practice.
            None => Ed25519KeyPair::from_seed_unchecked(&seed[..])
                .map_err(|_| KeyError::Pkcs8(ed25519::pkcs8::KeyError::Invalid.into()))?,
        };
        Ok(Self { pair, seed })
    }

    /// The key with this 32-byte seed (RFC 8032 secret key). Issuing makes every new key this
    /// way from a seed drawn from its [`Randomness`](super::Randomness); tests use fixed seeds
    /// for fixtures and golden vectors.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, KeyError> {
        let seed = Zeroizing::new(*seed);
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed[..])
            .map_err(|_| KeyError::Pkcs8(ed25519::pkcs8::KeyError::Invalid.into()))?;
        Ok(Self { pair, seed })
    }

    /// Loads an Ed25519 key from the first `-----BEGIN PRIVATE KEY-----` section of PEM text.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(KeyError::Pem)?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// Signs `msg` (pure Ed25519, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }

    /// The key as PKCS#8 v1 DER (RFC 8410 section 7: seed only). This is the form that
    /// `openssl genpkey` writes and that OpenSSL 3.0 can read; OpenSSL 3.0 refuses the v2
    /// form (with the public key) that ring and rcgen produce.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut der = Zeroizing::new(Vec::with_capacity(PKCS8_V1_PREFIX.len() + 32));
        der.extend_from_slice(&PKCS8_V1_PREFIX);
        der.extend_from_slice(&self.seed[..]);
        der
    }

    /// The key as PEM (`PRIVATE KEY`, PKCS#8 v1), see [`MemberKey::to_pkcs8_der`].
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        pkcs8_to_pem(&self.to_pkcs8_der())
    }

    /// The 32-byte secret seed, e.g. for libp2p's `Keypair::ed25519_from_bytes`.
    /// It is wiped from memory when the returned value is dropped.
    pub fn secret_seed(&self) -> Zeroizing<[u8; 32]> {
        self.seed.clone()
    }
}

/// Verifies an Ed25519 signature over `msg` by `public_key`.
pub fn verify_ed25519(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, signature)
        .is_ok()
}
