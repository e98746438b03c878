//! Internal X.509 helpers on top of x509-parser: parsing, Ed25519 key extraction and
//! Ed25519 signature checks of certificates and CRLs, plus time conversions.

use ring::signature::{ED25519, UnparsedPublicKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{OID_SIG_ED25519, OID_X509_ORGANIZATION_NAME};
use x509_parser::prelude::{FromDer, ParsedExtension};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name};

use super::error::{CertError, CrlDefect, Unreadable};

/// Latest representable instant (9999-12-31T23:59:59Z) in unix seconds.
pub(crate) const MAX_UNIX: i64 = 253_402_300_799;

/// The serial number (DER INTEGER content bytes) of a certificate, if it parses.
pub fn serial_of(cert_der: &[u8]) -> Option<Vec<u8>> {
    parse_cert(cert_der).ok().map(|c| c.raw_serial().to_vec())
}

/// The Ed25519 public key a certificate binds, if it parses and holds one. This says nothing about
/// whether the certificate is valid: use [`Consortium::verify`](super::Consortium::verify) for that.
pub fn public_key_of(cert_der: &[u8]) -> Option<[u8; 32]> {
    parse_cert(cert_der)
        .ok()
        .and_then(|c| ed25519_key(c.public_key()))
}

/// The organisation (subject O=) a certificate names, if it parses. Not a validity check.
pub fn org_of(cert_der: &[u8]) -> Option<String> {
    parse_cert(cert_der).ok().and_then(|c| subject_org(&c))
}

/// When a certificate expires (its notAfter, unix seconds), if it parses.
pub fn not_after_of(cert_der: &[u8]) -> Option<i64> {
    parse_cert(cert_der)
        .ok()
        .map(|cert| cert.validity().not_after.timestamp())
}

/// Parses one DER certificate; trailing bytes are refused.
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(CertError::Malformed(Unreadable::TrailingBytes)),
        Err(e) => Err(CertError::Malformed(Unreadable::of_parser(e))),
    }
}

/// Parses one DER CRL; trailing bytes are refused.
pub(crate) fn parse_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>, CrlDefect> {
    match CertificateRevocationList::from_der(der) {
        Ok(([], crl)) => Ok(crl),
        Ok(_) => Err(CrlDefect::Malformed(Unreadable::TrailingBytes)),
        Err(e) => Err(CrlDefect::Malformed(Unreadable::of_parser(e))),
    }
}

/// The raw Ed25519 public key of a SubjectPublicKeyInfo, or `None` for other algorithms.
pub(crate) fn ed25519_key(spki: &SubjectPublicKeyInfo<'_>) -> Option<[u8; 32]> {
    if spki.algorithm.algorithm != OID_SIG_ED25519 || spki.algorithm.parameters.is_some() {
        return None;
    }
    spki.subject_public_key.data.as_ref().try_into().ok()
}

/// Outcome of checking a signature made by an Ed25519 issuer key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SigCheck {
    Valid,
    NotEd25519,
    Invalid,
}

/// Checks an Ed25519 `signature` over the raw TBS bytes with `issuer_key`.
pub(crate) fn check_ed25519_sig(
    tbs: &[u8],
    alg: &AlgorithmIdentifier<'_>,
    signature: &[u8],
    issuer_key: &[u8; 32],
) -> SigCheck {
    if alg.algorithm != OID_SIG_ED25519 || alg.parameters.is_some() {
        return SigCheck::NotEd25519;
    }
    match UnparsedPublicKey::new(&ED25519, issuer_key).verify(tbs, signature) {
        Ok(()) => SigCheck::Valid,
        Err(_) => SigCheck::Invalid,
    }
}

/// Checks that `cert` is signed by `issuer_key` (Ed25519).
pub(crate) fn cert_signed_by(cert: &X509Certificate<'_>, issuer_key: &[u8; 32]) -> SigCheck {
    check_ed25519_sig(
        cert.tbs_certificate.as_ref(),
        &cert.signature_algorithm,
        &cert.signature_value.data,
        issuer_key,
    )
}

/// Checks that a CRL is issued by `issuer` (same name, Ed25519 signature by `issuer_key`).
pub(crate) fn check_crl_issuer(
    crl: &CertificateRevocationList<'_>,
    issuer: &X509Name<'_>,
    issuer_key: &[u8; 32],
) -> Result<(), CrlDefect> {
    if crl.issuer().as_raw() != issuer.as_raw() {
        return Err(CrlDefect::WrongIssuer);
    }
    match check_ed25519_sig(
        crl.tbs_cert_list.as_ref(),
        &crl.signature_algorithm,
        &crl.signature_value.data,
        issuer_key,
    ) {
        SigCheck::Valid => Ok(()),
        SigCheck::NotEd25519 => Err(CrlDefect::NotEd25519),
        SigCheck::Invalid => Err(CrlDefect::BadSignature),
    }
}

/// The first attribute of type `oid` in `name`, as UTF-8 text.
fn name_attr(name: &X509Name<'_>, oid: &x509_parser::der_parser::Oid<'_>) -> Option<String> {
    name.iter_by_oid(oid)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned)
}

/// The subject's organisation (O).
pub(crate) fn subject_org(cert: &X509Certificate<'_>) -> Option<String> {
    name_attr(cert.subject(), &OID_X509_ORGANIZATION_NAME)
}

/// Whether the certificate says it is a CA (basicConstraints cA = TRUE).
pub(crate) fn is_ca(cert: &X509Certificate<'_>) -> bool {
    matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca)
}

/// The subjectKeyIdentifier, if present.
pub(crate) fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
            _ => None,
        })
}

/// The keyIdentifier of the authorityKeyIdentifier, if present.
pub(crate) fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0)
            }
            _ => None,
        })
}

/// Unix seconds to a `time` timestamp within years 1970..=9999.
pub(crate) fn to_datetime(unix: i64) -> Option<time::OffsetDateTime> {
    if !(0..=MAX_UNIX).contains(&unix) {
        return None;
    }
    time::OffsetDateTime::from_unix_timestamp(unix).ok()
}
