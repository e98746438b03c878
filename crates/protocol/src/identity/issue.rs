//! Issuing certificates with rcgen: the consortium root CA and member certificates.
//!
//! New keys and serial numbers take their randomness from the caller ([`Randomness`]): this
//! crate draws nothing from the operating system by itself. The `medchain ca` command passes
//! the system's secure generator; a test may pass a seeded one to get the same certificates
//! each run.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ED25519, SerialNumber,
};
use ring::rand::SecureRandom;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use x509_parser::certificate::X509Certificate;
use zeroize::Zeroizing;

use super::encryption_key::{EncryptionKey, san_value};
use super::error::{CertError, IssueError, Unreadable};
use super::key::MemberKey;
use super::role::{EKU_EXTENSION_OID, Role};

/// OID arcs of the X.509 subjectAltName extension (2.5.29.17).
pub(super) const SUBJECT_ALT_NAME_OID: &[u64] = &[2, 5, 29, 17];
use super::x509::{ed25519_key, is_ca, parse_cert, to_datetime};

/// Where issuing gets its randomness: the new key's seed and the serial number.
pub trait Randomness {
    /// Fills `dest` with unpredictable bytes, fresh and independent on every call: the key's
    /// seed and the (public) serial are drawn by separate calls, so a source that repeated
    /// itself would publish part of the private key.
    fn fill(&self, dest: &mut [u8]) -> Result<(), IssueError>;
}

/// The operating system's secure generator (ring's), for real certificates.
impl Randomness for ring::rand::SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), IssueError> {
        SecureRandom::fill(self, dest).map_err(|_| IssueError::Rng)
    }
}

/// A freshly created consortium root CA: its certificate and its private key.
/// (`Debug` leaves the key out.)
pub struct IssuedCa {
    /// The self-signed root certificate (DER).
    pub cert_der: Vec<u8>,
    /// The same certificate as PEM.
    pub cert_pem: String,
    /// The CA's Ed25519 private key, PKCS#8 v1 DER (see [`MemberKey::to_pkcs8_der`]).
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The same key as PEM (`PRIVATE KEY`).
    pub key_pkcs8_pem: Zeroizing<String>,
}

/// A freshly issued member certificate with its newly generated private key.
/// (`Debug` leaves the key out.)
pub struct IssuedMember {
    /// The member certificate (DER).
    pub cert_der: Vec<u8>,
    /// The same certificate as PEM.
    pub cert_pem: String,
    /// The member's Ed25519 private key, PKCS#8 v1 DER (see [`MemberKey::to_pkcs8_der`]).
    pub key_pkcs8_der: Zeroizing<Vec<u8>>,
    /// The same key as PEM (`PRIVATE KEY`).
    pub key_pkcs8_pem: Zeroizing<String>,
    /// The member's raw Ed25519 public key.
    pub public_key: [u8; 32],
    /// The serial number: content bytes of the DER INTEGER (16 bytes, positive).
    pub serial: Vec<u8>,
    /// The member's X25519 encryption key, whose public half the certificate binds (see
    /// `encryption_key`).
    pub encryption_key: EncryptionKey,
}

impl fmt::Debug for IssuedCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCa")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IssuedMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedMember")
            .field("public_key", &self.public_key)
            .field("serial", &self.serial)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Creates a self-signed Ed25519 root CA with subject CN=`name`, O=`name`.
///
/// basicConstraints CA:TRUE pathlen 0 (it signs member certificates only), keyUsage
/// keyCertSign + cRLSign + digitalSignature, random 16-byte positive serial. Validity is
/// `days` days from `not_before_unix`. The key and serial come from `randomness`.
pub fn create_root_ca(
    name: &str,
    not_before_unix: i64,
    days: u32,
    randomness: &dyn Randomness,
) -> Result<IssuedCa, IssueError> {
    if name.trim().is_empty() {
        return Err(IssueError::EmptyName);
    }
    let (exported, key) = new_key(randomness)?;
    let mut params = base_params(name, name, not_before_unix, days, randomness)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&*key)?;
    Ok(IssuedCa {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pkcs8_der: exported.to_pkcs8_der(),
        key_pkcs8_pem: exported.to_pkcs8_pem(),
    })
}

/// Issues a member certificate for a new Ed25519 key, signed by the CA.
///
/// Subject O=`org`, CN="`org` `role`"; basicConstraints CA:FALSE; keyUsage digitalSignature;
/// extendedKeyUsage = the role OID (non-critical); subjectAltName = the member's new X25519
/// encryption key (non-critical, `encryption_key`); subject and authority key identifiers;
/// random 16-byte positive serial. The keys and serial come from `randomness`. Fails with
/// [`IssueError::KeyMismatch`] if the CA key does not belong to the CA certificate.
pub fn issue_member(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    role: Role,
    org: &str,
    not_before_unix: i64,
    days: u32,
    randomness: &dyn Randomness,
) -> Result<IssuedMember, IssueError> {
    let ca = LoadedCa::load(ca_cert_der, ca_key_pkcs8_der)?;
    let mut ikm = Zeroizing::new([0u8; 32]);
    let (exported, key) = new_key(randomness)?;
    randomness.fill(&mut ikm[..])?;
    let encryption_key = EncryptionKey::derive(&ikm);
    let (params, serial) = member_params(
        role,
        org,
        not_before_unix,
        days,
        &encryption_key.public_key(),
        randomness,
    )?;
    let cert = params.signed_by(&*key, &ca.issuer(ca_cert_der)?)?;
    Ok(IssuedMember {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_pkcs8_der: exported.to_pkcs8_der(),
        key_pkcs8_pem: exported.to_pkcs8_pem(),
        public_key: exported.public_key(),
        serial,
        encryption_key,
    })
}

/// The parameters of a member certificate (see [`issue_member`]) binding `encryption`, and its
/// serial's bytes: for a new key here, or for the keys of a member's request.
pub(super) fn member_params(
    role: Role,
    org: &str,
    not_before_unix: i64,
    days: u32,
    encryption: &[u8; 32],
    randomness: &dyn Randomness,
) -> Result<(CertificateParams, Vec<u8>), IssueError> {
    if org.trim().is_empty() {
        return Err(IssueError::EmptyName);
    }
    let common_name = format!("{org} {role}");
    let mut params = base_params(org, &common_name, not_before_unix, days, randomness)?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.custom_extensions = vec![
        CustomExtension::from_oid_content(EKU_EXTENSION_OID, role.eku_extension_value()),
        CustomExtension::from_oid_content(SUBJECT_ALT_NAME_OID, san_value(encryption)),
    ];
    let serial = params
        .serial_number
        .as_ref()
        .map(SerialNumber::to_bytes)
        .unwrap_or_default();
    Ok((params, serial))
}

/// A CA certificate and its private key, checked to belong together.
pub(crate) struct LoadedCa<'a> {
    pub(crate) cert: X509Certificate<'a>,
    pub(crate) public_key: [u8; 32],
    key: Zeroizing<KeyPair>,
}

impl<'a> LoadedCa<'a> {
    /// Loads and checks them.
    pub(crate) fn load(cert_der: &'a [u8], key_der: &[u8]) -> Result<Self, IssueError> {
        let cert = parse_cert(cert_der).map_err(IssueError::CaCertificate)?;
        let public_key = ed25519_key(cert.public_key())
            .ok_or(IssueError::CaCertificate(CertError::NotEd25519))?;
        if !is_ca(&cert) {
            return Err(IssueError::CaCertificate(CertError::NotACa));
        }
        // rcgen copies the CA's subject name and panics on an empty RDN set (and refuses
        // multi-valued RDNs), so check the shape up front.
        if cert.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(IssueError::CaCertificate(CertError::Malformed(
                Unreadable::SubjectShape,
            )));
        }
        let loaded = MemberKey::from_pkcs8_der(key_der).map_err(IssueError::CaKey)?;
        if loaded.public_key() != public_key {
            return Err(IssueError::KeyMismatch);
        }
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(key_der),
            &PKCS_ED25519,
        )?;
        Ok(Self {
            cert,
            public_key,
            key: Zeroizing::new(key),
        })
    }

    /// An rcgen issuer that writes the CA's subject as issuer and its SKI as AKI.
    pub(crate) fn issuer(&self, cert_der: &[u8]) -> Result<Issuer<'static, &KeyPair>, IssueError> {
        Ok(Issuer::from_ca_cert_der(
            &CertificateDer::from(cert_der),
            &*self.key,
        )?)
    }
}

/// A new Ed25519 key from a seed drawn from `randomness`: as a [`MemberKey`] (exported as
/// PKCS#8 v1, see [`MemberKey::to_pkcs8_der`]) and as the rcgen key pair that signs with it.
fn new_key(randomness: &dyn Randomness) -> Result<(MemberKey, Zeroizing<KeyPair>), IssueError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    randomness.fill(&mut seed[..])?;
    let key = MemberKey::from_seed(&seed).map_err(IssueError::GeneratedKey)?;
    let der = key.to_pkcs8_der();
    let pair =
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(&der[..]), &PKCS_ED25519)?;
    Ok((key, Zeroizing::new(pair)))
}

/// Subject O/CN, validity and a fresh random serial.
fn base_params(
    org: &str,
    common_name: &str,
    not_before_unix: i64,
    days: u32,
    randomness: &dyn Randomness,
) -> Result<CertificateParams, IssueError> {
    let invalid = IssueError::InvalidValidity {
        not_before_unix,
        days,
    };
    let not_after_unix = not_before_unix.checked_add(i64::from(days) * 86_400);
    let (Some(not_before), Some(not_after)) = (
        to_datetime(not_before_unix),
        not_after_unix.and_then(to_datetime),
    ) else {
        return Err(invalid);
    };
    if days == 0 {
        return Err(invalid);
    }
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, org);
    name.push(DnType::CommonName, common_name);
    let mut params = CertificateParams::default();
    params.distinguished_name = name;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial(randomness)?));
    Ok(params)
}

/// 16 random bytes with the top bit clear (positive) and the next bit set, so the DER
/// INTEGER content is exactly these 16 bytes (no sign padding, no leading-zero stripping).
fn random_serial(randomness: &dyn Randomness) -> Result<[u8; 16], IssueError> {
    let mut serial = [0u8; 16];
    randomness.fill(&mut serial)?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}
