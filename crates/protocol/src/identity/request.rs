//! Certificate requests (PKCS#10): a member makes its own Ed25519 key and X25519 encryption key
//! and sends the consortium CA a request, so no private key ever leaves the hospital; the CA
//! issues from it with the role and organisation its operator chooses (what the request says of
//! them is ignored). Renewal is a new request for the same keys: the certificate changes, the
//! chain (the hash of the key) does not.
//!
//! A request is taken only if it is signed by the key it names (proof of possession), that key
//! is Ed25519, and it carries exactly one encryption key in its requested subjectAltName (the
//! otherName of section 7 of docs/protocol.md).

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, KeyPair, PKCS_ED25519,
    SubjectPublicKeyInfo,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::encryption_key::{X25519_KEY_BYTES, encryption_key_oid_der, san_value};
use super::error::IssueError;
use super::issue::{LoadedCa, Randomness, SUBJECT_ALT_NAME_OID, member_params};
use super::key::MemberKey;
use super::role::Role;
use super::x509::ed25519_key;

/// A request for a certificate of `key` binding the encryption key `encryption`: DER and PEM.
/// `name` only labels the request for the CA's operator.
pub fn make_request(
    key: &MemberKey,
    encryption: &[u8; X25519_KEY_BYTES],
    name: &str,
) -> Result<(Vec<u8>, String), IssueError> {
    let der = key.to_pkcs8_der();
    let pair =
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(&der[..]), &PKCS_ED25519)?;
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, name);
    params.distinguished_name = subject;
    params.custom_extensions = vec![CustomExtension::from_oid_content(
        SUBJECT_ALT_NAME_OID,
        san_value(encryption),
    )];
    let request = params.serialize_request(&pair)?;
    let pem = request.pem()?;
    Ok((request.der().to_vec(), pem))
}

/// What a request asks to be bound, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    /// The member's Ed25519 public key (its chain and libp2p identity).
    pub public_key: [u8; 32],
    /// Its X25519 encryption key.
    pub encryption_key: [u8; X25519_KEY_BYTES],
    /// The label the member gave its request (its subject's CN), for the CA's operator to
    /// compare: not trusted for anything.
    pub label: Option<String>,
    /// The request's SubjectPublicKeyInfo (DER).
    spki: Vec<u8>,
}

/// Reads and checks a request (DER): see the module documentation.
pub fn read_request(der: &[u8]) -> Result<Requested, IssueError> {
    let (rest, request) = X509CertificationRequest::from_der(der)
        .map_err(|_| IssueError::Request("not a PKCS#10 certificate request"))?;
    if !rest.is_empty() {
        return Err(IssueError::Request("bytes after the request"));
    }
    request
        .verify_signature()
        .map_err(|_| IssueError::Request("not signed by the key it names"))?;
    let info = &request.certification_request_info;
    let public_key =
        ed25519_key(&info.subject_pki).ok_or(IssueError::Request("the key is not Ed25519"))?;
    if !is_strong_ed25519(&public_key) {
        return Err(IssueError::Request(
            "the Ed25519 key is not a canonical point of the curve's prime-order subgroup (a weak key)",
        ));
    }
    let oid = encryption_key_oid_der();
    let mut found = None;
    for extension in request.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = extension else {
            continue;
        };
        for name in &san.general_names {
            if let GeneralName::OtherName(type_id, value) = name
                && type_id.as_bytes() == oid.as_slice()
            {
                let key = value
                    .strip_prefix(&[0xa0, 0x22, 0x04, 0x20][..])
                    .and_then(|k| <[u8; X25519_KEY_BYTES]>::try_from(k).ok())
                    .ok_or(IssueError::Request("a malformed encryption key"))?;
                if found.replace(key).is_some() {
                    return Err(IssueError::Request("more than one encryption key"));
                }
            }
        }
    }
    let encryption_key = found.ok_or(IssueError::Request("no encryption key"))?;
    if !is_strong_x25519(&encryption_key) {
        return Err(IssueError::Request(
            "the encryption key is of small order or not on the curve: what is sealed to it would not be secret",
        ));
    }
    let label = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Ok(Requested {
        public_key,
        encryption_key,
        label,
        spki: info.subject_pki.raw.to_vec(),
    })
}

/// A certificate issued from a request.
#[derive(Clone, Debug)]
pub struct IssuedFromRequest {
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// The same as PEM.
    pub cert_pem: String,
    /// What it binds.
    pub requested: Requested,
    /// Its serial: the content bytes of the DER INTEGER.
    pub serial: Vec<u8>,
}

/// Issues a member certificate for the request `csr_der`, as `issue_member` does for a new key:
/// the role and organisation are the operator's, the keys the request's.
#[allow(clippy::too_many_arguments)] // each is a distinct choice of the CA's operator
pub fn issue_from_request(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    csr_der: &[u8],
    role: Role,
    org: &str,
    not_before_unix: i64,
    days: u32,
    randomness: &dyn Randomness,
) -> Result<IssuedFromRequest, IssueError> {
    let requested = read_request(csr_der)?;
    let ca = LoadedCa::load(ca_cert_der, ca_key_pkcs8_der)?;
    let (params, serial) = member_params(
        role,
        org,
        not_before_unix,
        days,
        &requested.encryption_key,
        randomness,
    )?;
    let public_key = SubjectPublicKeyInfo::from_der(&requested.spki)?;
    let cert = params.signed_by(&public_key, &ca.issuer(ca_cert_der)?)?;
    Ok(IssuedFromRequest {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        requested,
        serial,
    })
}

/// Whether `key` is the canonical encoding of a point of the curve's prime-order subgroup, as
/// every key a member makes is (a small-order key, such as the identity, has signatures anyone
/// can make; a mixed-order or non-canonical one serves no honest member).
fn is_strong_ed25519(key: &[u8; 32]) -> bool {
    curve25519_dalek::edwards::CompressedEdwardsY(*key)
        .decompress()
        .is_some_and(|point| {
            point.compress().0 == *key && !point.is_small_order() && point.is_torsion_free()
        })
}

/// Whether the X25519 key `key` is not of small order (a small-order key makes every shared
/// secret one of a few values).
fn is_strong_x25519(key: &[u8; X25519_KEY_BYTES]) -> bool {
    // Either sign of the Edwards point has the same order.
    curve25519_dalek::montgomery::MontgomeryPoint(*key)
        .to_edwards(0)
        .is_some_and(|edwards| !edwards.is_small_order())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::EncryptionKey;

    #[test]
    fn small_order_keys_are_weak() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!is_strong_ed25519(&identity), "the identity point");
        assert!(!is_strong_ed25519(&[0; 32]), "a point of order 4");
        let key = MemberKey::from_seed(&[7; 32]).unwrap();
        assert!(is_strong_ed25519(&key.public_key()));
        assert!(!is_strong_x25519(&[0; 32]));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(!is_strong_x25519(&one));
        assert!(is_strong_x25519(
            &EncryptionKey::derive(&[9; 32]).public_key()
        ));
    }

    #[test]
    fn requests_without_one_good_encryption_key_or_ed25519_key_are_refused() {
        let key = MemberKey::from_seed(&[7; 32]).unwrap();
        let encryption = EncryptionKey::derive(&[9; 32]).public_key();
        let (der, _) = make_request(&key, &encryption, "Hospital A").unwrap();
        let requested = read_request(&der).unwrap();
        assert_eq!(requested.public_key, key.public_key());
        assert_eq!(requested.label.as_deref(), Some("Hospital A"));
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(&key.to_pkcs8_der()[..]),
            &PKCS_ED25519,
        )
        .unwrap();
        // No encryption key.
        let bare = CertificateParams::default()
            .serialize_request(&pair)
            .unwrap();
        assert!(matches!(
            read_request(bare.der()),
            Err(IssueError::Request("no encryption key"))
        ));
        // Two of them, in one subjectAltName.
        let one = san_value(&encryption);
        let name = &one[2..];
        let mut both = vec![0x30, u8::try_from(2 * name.len()).unwrap()];
        both.extend_from_slice(name);
        both.extend_from_slice(name);
        let mut params = CertificateParams::default();
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            SUBJECT_ALT_NAME_OID,
            both,
        )];
        let twice = params.serialize_request(&pair).unwrap();
        assert!(matches!(
            read_request(twice.der()),
            Err(IssueError::Request("more than one encryption key"))
        ));
        // A weak one.
        let (weak, _) = make_request(&key, &[0; 32], "Hospital A").unwrap();
        assert!(matches!(
            read_request(&weak),
            Err(IssueError::Request(reason)) if reason.contains("encryption key is of small order")
        ));
        // Not an Ed25519 key: a P-256 request.
        let p256 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.custom_extensions = vec![CustomExtension::from_oid_content(
            SUBJECT_ALT_NAME_OID,
            san_value(&encryption),
        )];
        let other = params.serialize_request(&p256).unwrap();
        assert!(matches!(
            read_request(other.der()),
            Err(IssueError::Request("the key is not Ed25519"))
        ));
        // Not a request, or bytes after it.
        assert!(read_request(b"not a request").is_err());
        let mut longer = der.clone();
        longer.push(0);
        assert!(read_request(&longer).is_err());
    }
}
