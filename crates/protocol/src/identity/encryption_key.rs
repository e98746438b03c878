//! A member's X25519 encryption key: data keys are released to it with HPKE (`key_release`).
//!
//! Every member, auditors included, has one, made with its certificate by `issue_member`. The
//! certificate binds the public half to the member's identity in its subjectAltName extension
//! (non-critical), as the one otherName there:
//!
//! ```text
//! subjectAltName ::= SEQUENCE {
//!   [0] otherName {
//!     type-id  OID 2.25.115109034002040678192608669639758688727.3   (medchain X25519 key)
//!     value    [0] EXPLICIT OCTET STRING (32 bytes: the X25519 public key, RFC 7748)
//!   }
//! }
//! ```
//!
//! An otherName is the X.509 place for identifiers of the subject's own kind, and its type-id can
//! be our UUID arc, whose integer does not fit the `u64` components rcgen takes for an
//! extension's own OID. The private half is kept as PKCS#8 v1 (RFC 8410, `id-X25519`
//! 1.3.101.110), PEM label `PRIVATE KEY`, as OpenSSL writes it.

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, Serializable};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use zeroize::Zeroizing;

use super::role::PROVIDER_ROLE_OID_DER;

/// Bytes of an X25519 key, public or private.
pub const X25519_KEY_BYTES: usize = 32;

/// PKCS#8 v1 prefix of an X25519 private key (RFC 8410): version 0, algorithm id-X25519, then
/// the key as an OCTET STRING inside the privateKey OCTET STRING.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
];

/// Content bytes of OID 2.25.115109034002040678192608669639758688727.3: our UUID arc (the role
/// OIDs' prefix) and `.3`.
pub fn encryption_key_oid_der() -> Vec<u8> {
    let mut oid = PROVIDER_ROLE_OID_DER.to_vec();
    if let Some(last) = oid.last_mut() {
        *last = 0x03;
    }
    oid
}

/// Dotted form of the encryption key's otherName type-id.
pub const ENCRYPTION_KEY_OID: &str = "2.25.115109034002040678192608669639758688727.3";

/// A member's X25519 private key. Wiped on drop; its `Debug` prints nothing of it.
pub struct EncryptionKey {
    private: <X25519HkdfSha256 as Kem>::PrivateKey,
    public: [u8; X25519_KEY_BYTES],
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

/// The bytes are not an X25519 private key in PKCS#8 v1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an X25519 private key (PKCS#8 v1, RFC 8410)")]
pub struct NotAnEncryptionKey;

impl EncryptionKey {
    /// The key derived from 32 bytes of keying material (RFC 9180 DeriveKeyPair): draw them from
    /// a secure generator.
    pub fn derive(ikm: &[u8; 32]) -> Self {
        let (private, public) = X25519HkdfSha256::derive_keypair(ikm);
        Self::from_parts(private, &public)
    }

    fn from_parts(
        private: <X25519HkdfSha256 as Kem>::PrivateKey,
        public: &<X25519HkdfSha256 as Kem>::PublicKey,
    ) -> Self {
        let mut bytes = [0u8; X25519_KEY_BYTES];
        bytes.copy_from_slice(&public.to_bytes());
        Self {
            private,
            public: bytes,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> [u8; X25519_KEY_BYTES] {
        self.public
    }

    /// The HPKE private key.
    pub(crate) fn hpke(&self) -> &<X25519HkdfSha256 as Kem>::PrivateKey {
        &self.private
    }

    /// PKCS#8 v1 DER.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(PKCS8_PREFIX.to_vec());
        out.extend_from_slice(&self.private.to_bytes());
        out
    }

    /// PKCS#8 v1 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        super::pem::pkcs8_to_pem(&self.to_pkcs8_der())
    }

    /// A key from PKCS#8 v1 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, NotAnEncryptionKey> {
        let key = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .filter(|k| k.len() == X25519_KEY_BYTES)
            .ok_or(NotAnEncryptionKey)?;
        let private = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(key)
            .map_err(|_| NotAnEncryptionKey)?;
        let public = X25519HkdfSha256::sk_to_pk(&private);
        Ok(Self::from_parts(private, &public))
    }
}

/// The subjectAltName extension value that carries `public` (see the module header).
pub fn san_value(public: &[u8; X25519_KEY_BYTES]) -> Vec<u8> {
    let oid = encryption_key_oid_der();
    let mut value = vec![0xa0, 0x22, 0x04, 0x20];
    value.extend_from_slice(public);
    let mut other_name = vec![0x06, der_len(oid.len())];
    other_name.extend_from_slice(&oid);
    other_name.extend_from_slice(&value);
    let mut general_name = vec![0xa0, der_len(other_name.len())];
    general_name.extend_from_slice(&other_name);
    let mut out = vec![0x30, der_len(general_name.len())];
    out.extend_from_slice(&general_name);
    out
}

/// A short-form DER length (every length here is under 128).
fn der_len(len: usize) -> u8 {
    u8::try_from(len).unwrap_or(0x7f).min(0x7f)
}

/// The X25519 public key a certificate binds, if it carries exactly one well-formed one.
pub fn encryption_key_in(cert: &X509Certificate<'_>) -> Option<[u8; X25519_KEY_BYTES]> {
    let oid = encryption_key_oid_der();
    let mut found = None;
    for extension in cert.extensions() {
        let ParsedExtension::SubjectAlternativeName(san) = extension.parsed_extension() else {
            continue;
        };
        for name in &san.general_names {
            if let GeneralName::OtherName(type_id, value) = name
                && type_id.as_bytes() == oid.as_slice()
            {
                let key = value.strip_prefix(&[0xa0, 0x22, 0x04, 0x20][..])?;
                let key: [u8; X25519_KEY_BYTES] = key.try_into().ok()?;
                if found.replace(key).is_some() {
                    return None;
                }
            }
        }
    }
    found
}

/// The X25519 public key the certificate `cert_der` binds, if any.
pub fn encryption_key_of(cert_der: &[u8]) -> Option<[u8; X25519_KEY_BYTES]> {
    let cert = super::x509::parse_cert(cert_der).ok()?;
    encryption_key_in(&cert)
}
