//! Error types of the identity module, worded for the hospital operator who has to act on them.

use super::role::Role;

/// A private key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a PKCS#8 private key (or are a damaged one).
    #[error("the private key is not a readable PKCS#8 key: {0}")]
    Pkcs8(ed25519::pkcs8::Error),
    /// The PKCS#8 document holds a key of another algorithm (RSA, ECDSA, ...).
    #[error("the private key is not an Ed25519 key")]
    NotEd25519,
    /// A PKCS#8 v2 document whose embedded public key does not belong to its secret key.
    #[error("the private key file is corrupt: its public key does not match its secret key")]
    PublicKeyMismatch,
    /// The PEM text holds no `PRIVATE KEY` section or is damaged.
    #[error("the private key PEM text is not readable: {0}")]
    Pem(#[source] rustls_pki_types::pem::Error),
}

/// What makes a certificate or revocation list unreadable, from the parser's or the path
/// verifier's own error (never a string made up on the way).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unreadable {
    /// Not DER X.509 (x509-parser's finding).
    #[error("{0}")]
    Der(x509_parser::error::X509Error),
    /// The bytes end before the object does.
    #[error("the bytes end before it does")]
    Truncated,
    /// Bytes follow the object.
    #[error("trailing bytes after it")]
    TrailingBytes,
    /// A member certificate without an organisation (O) in its subject.
    #[error("no organisation (O) in the subject")]
    NoOrganisation,
    /// A subject name with an empty or multi-valued component (rcgen cannot copy it).
    #[error("the subject name has an empty or multi-valued component")]
    SubjectShape,
    /// The path verifier's finding about the encoding (bad DER or time, an invalid extension or
    /// serial, an unsupported version, a CRL feature medchain does not use).
    #[error("{0}")]
    Encoding(webpki::Error),
}

impl Unreadable {
    /// The parser's error, whether it ran out of bytes or found them wrong.
    pub(crate) fn of_parser(error: x509_parser::nom::Err<x509_parser::error::X509Error>) -> Self {
        use x509_parser::der_parser::error::BerError;
        use x509_parser::error::X509Error;
        use x509_parser::nom::{Err, error::ErrorKind};
        match error {
            Err::Incomplete(_) => Unreadable::Truncated,
            Err::Error(e) | Err::Failure(e) => match e {
                X509Error::Der(BerError::Incomplete(_)) | X509Error::NomError(ErrorKind::Eof) => {
                    Unreadable::Truncated
                }
                other => Unreadable::Der(other),
            },
        }
    }
}

/// Why a certificate revocation list (CRL) was refused.
#[derive(Debug, thiserror::Error)]
pub enum CrlDefect {
    /// Not DER, or a CRL feature that is not supported (delta or indirect CRLs, ...).
    #[error("it is not a readable revocation list ({0})")]
    Malformed(Unreadable),
    /// The CRL names another authority as its issuer.
    #[error("it was issued by a different authority")]
    WrongIssuer,
    /// The CRL is not signed with Ed25519.
    #[error("it is not signed with Ed25519")]
    NotEd25519,
    /// The CRL names our authority but its signature does not verify with its key.
    #[error("its signature is not from the consortium authority's key")]
    BadSignature,
}

/// A certificate (or the trust configuration) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The bytes are not a well-formed X.509 certificate.
    #[error("malformed: the certificate is damaged or is not an X.509 certificate ({0})")]
    Malformed(Unreadable),
    /// The PEM text holds no section of the expected kind or is damaged.
    #[error("the {what} PEM text is not readable: {source}")]
    Pem {
        /// What was expected ("certificate", "revocation list").
        what: &'static str,
        /// The PEM parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate was not issued by the consortium authority.
    #[error("unknown issuer: the certificate was not issued by this consortium's authority")]
    UnknownIssuer,
    /// The certificate's validity period ended before the checked time.
    #[error("expired: the certificate was valid until unix time {not_after}, checked at {at}")]
    Expired {
        /// End of validity, unix seconds.
        not_after: i64,
        /// The time of the check, unix seconds.
        at: i64,
    },
    /// The certificate's validity period starts after the checked time.
    #[error("not yet valid: the certificate is valid from unix time {not_before}, checked at {at}")]
    NotYetValid {
        /// Start of validity, unix seconds.
        not_before: i64,
        /// The time of the check, unix seconds.
        at: i64,
    },
    /// The consortium root itself is outside its validity period at the checked time.
    #[error(
        "root not valid: the consortium authority certificate is not valid at unix time {at} (valid {not_before}..{not_after})"
    )]
    RootNotValid {
        /// Start of the root's validity, unix seconds.
        not_before: i64,
        /// End of the root's validity, unix seconds.
        not_after: i64,
        /// The time of the check, unix seconds.
        at: i64,
    },
    /// The certificate is valid but grants another role than the one required.
    #[error("wrong role: the member may not act as {required} (its role is {})", display_role(.actual))]
    WrongRole {
        /// The role the caller asked for.
        required: Role,
        /// The medchain role the certificate carries, if any.
        actual: Option<Role>,
    },
    /// The certificate carries neither the provider nor the auditor role.
    #[error("no role: the certificate carries no medchain role (neither provider nor auditor)")]
    NoRole,
    /// The certificate's serial number is listed in a revocation list of the authority.
    #[error("revoked: the certificate has been revoked by the consortium authority")]
    Revoked,
    /// The certificate claims to come from our authority but its signature is wrong.
    #[error("bad signature: the certificate's signature is invalid (tampered with or forged)")]
    BadSignature,
    /// A key or signature that is not Ed25519.
    #[error("not Ed25519: the certificate uses a key or signature algorithm other than Ed25519")]
    NotEd25519,
    /// A CA certificate was given where a member certificate is expected.
    #[error("not a member: this is an authority (CA) certificate, not a member certificate")]
    NotAMember,
    /// The certificate given as the consortium root is not a CA certificate.
    #[error("the certificate given as the consortium authority is not a CA certificate")]
    NotACa,
    /// A CRL given to the trust configuration is unusable.
    #[error("revocation list #{index} is refused: {reason}")]
    BadCrl {
        /// Position of the CRL in the list passed by the caller.
        index: usize,
        /// What is wrong with it.
        reason: CrlDefect,
    },
    /// Any other rejection by the path verifier (unusual extensions and the like).
    #[error("the certificate was rejected by the verifier: {0}")]
    Rejected(webpki::Error),
}

fn display_role(role: &Option<Role>) -> &'static str {
    role.map_or("none", Role::as_str)
}

/// Issuing or revoking failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// An empty organisation or authority name.
    #[error("the name must not be empty")]
    EmptyName,
    /// The validity period is zero days long or lies outside years 1970..=9999.
    #[error("validity period of {days} days from unix time {not_before_unix} is not acceptable")]
    InvalidValidity {
        /// Requested start, unix seconds.
        not_before_unix: i64,
        /// Requested length in days.
        days: u32,
    },
    /// The CA certificate given is unusable.
    #[error("the authority certificate is unusable: {0}")]
    CaCertificate(#[source] CertError),
    /// The CA private key given is unusable.
    #[error("the authority private key is unusable: {0}")]
    CaKey(#[source] KeyError),
    /// The CA private key does not belong to the CA certificate.
    #[error("the authority private key does not belong to the authority certificate")]
    KeyMismatch,
    /// The certificate to revoke is unreadable.
    #[error("the certificate to revoke is unusable: {0}")]
    Certificate(#[source] CertError),
    /// The certificate to revoke was not issued by this authority.
    #[error("the certificate to revoke was not issued by this authority")]
    ForeignCertificate,
    /// The existing CRL given to `revoke` is unusable or not from this authority.
    #[error("the existing revocation list is refused: {0}")]
    ExistingCrl(#[source] CrlDefect),
    /// A negative serial number, which this module never issues and cannot re-encode faithfully.
    #[error("a negative certificate serial number cannot be put on the revocation list")]
    NegativeSerial,
    /// A key made from a fresh seed could not be loaded or exported (not expected to happen).
    #[error("a freshly generated key could not be exported: {0}")]
    GeneratedKey(#[source] KeyError),
    /// The random source the caller passed failed (for `medchain ca`, the operating system's).
    #[error("the random number generator failed")]
    Rng,
    /// A certificate request that cannot be issued from (not a request, not signed by its own
    /// key, not Ed25519, or without exactly one encryption key).
    #[error("the certificate request is refused: {0}")]
    Request(&'static str),
    /// The certificate generator refused the parameters.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}
