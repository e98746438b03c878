//! Consortium identity for medchain: an Ed25519 root CA issues member certificates that
//! bind one Ed25519 public key to an organisation and a role (provider or auditor, carried
//! as a private Extended Key Usage OID), revokes them with CRLs, and peers verify them.
//!
//! This is a pure library: callers pass bytes, the current time and, for issuing, randomness
//! ([`Randomness`]); nothing here touches files, the network, the clock or the OS random
//! generator by itself.
//!
//! * [`create_root_ca`], [`issue_member`], [`revoke`]: the authority's side (rcgen).
//! * [`Consortium`]: the trust configuration; [`Consortium::verify`] checks a member
//!   certificate (rustls-webpki, Ed25519 only) and returns the [`Member`] it describes.
//! * [`MemberKey`], [`verify_ed25519`]: member keys from PKCS#8 and raw signatures.
//! * [`EncryptionKey`], [`encryption_key_of`]: a member's X25519 key, bound by its certificate
//!   (subjectAltName otherName), to which data keys are released.
//! * [`pem_to_der_cert`], [`pem_to_der_crl`], [`cert_to_pem`], [`crl_to_pem`]: PEM helpers.

mod crl;
mod encryption_key;
mod error;
mod issue;
mod key;
mod pem;
mod request;
mod role;
mod verify;
mod x509;

#[cfg(test)]
mod tests;

pub use crl::{CRL_VALIDITY_DAYS, empty_crl, refresh_crl, revoke};
pub use encryption_key::{
    ENCRYPTION_KEY_OID, EncryptionKey, NotAnEncryptionKey, X25519_KEY_BYTES, encryption_key_of,
    encryption_key_oid_der,
};
pub use error::{CertError, CrlDefect, IssueError, KeyError, Unreadable};
pub use issue::{IssuedCa, IssuedMember, Randomness, create_root_ca, issue_member};
pub use key::{MemberKey, verify_ed25519};
pub use pem::{
    cert_to_pem, crl_to_pem, pem_to_der_cert, pem_to_der_crl, pem_to_der_csr, pem_to_der_key,
    pkcs8_to_pem,
};
/// The operating system's secure generator, the [`Randomness`] for real certificates.
pub use request::{IssuedFromRequest, Requested, issue_from_request, make_request, read_request};
pub use ring::rand::SystemRandom;
pub use role::{
    AUDITOR_ROLE_OID, AUDITOR_ROLE_OID_DER, PROVIDER_ROLE_OID, PROVIDER_ROLE_OID_DER, Role,
    UnknownRole,
};
pub use verify::{Consortium, Member};
pub use x509::{not_after_of, org_of, public_key_of, serial_of};
