//! The consortium trust configuration (root CA + CRLs) and member certificate verification.

use std::time::Duration;

use ring::digest::{SHA256, digest};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator, KeyPurposeId,
    KeyPurposeIdIter, KeyUsage, OwnedCertRevocationList, RequiredEkuNotFoundContext,
    RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

use super::error::{CertError, CrlDefect, Unreadable};
use super::role::{Role, role_of};
use super::x509::{
    SigCheck, authority_key_id, cert_signed_by, check_crl_issuer, ed25519_key, is_ca, parse_cert,
    parse_crl, subject_key_id, subject_org,
};

/// A verified consortium member, as read from its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's raw Ed25519 public key.
    pub public_key: [u8; 32],
    /// The subject organisation (O).
    pub org: String,
    /// The role: the required one, or (when none was required) the one the certificate
    /// carries; a certificate carrying both reports the least privileged, auditor.
    pub role: Role,
    /// Serial number: content bytes of the DER INTEGER.
    pub serial: Vec<u8>,
    /// Start of validity, unix seconds.
    pub not_before: i64,
    /// End of validity, unix seconds.
    pub not_after: i64,
    /// The X25519 encryption key the certificate binds, if it carries one: data keys are
    /// released to it.
    pub encryption_key: Option<[u8; 32]>,
}

/// The trust configuration: one Ed25519 root CA and its CRLs.
#[derive(Debug)]
pub struct Consortium {
    root_der: Vec<u8>,
    anchor: TrustAnchor<'static>,
    root_ski: Option<Vec<u8>>,
    root_not_before: i64,
    root_not_after: i64,
    /// Newest (highest cRLNumber) first.
    crls: Vec<CertRevocationList<'static>>,
    /// The highest cRLNumber among the lists (saturated to u128), if any list has one.
    crl_number: Option<u128>,
    /// The `nextUpdate` of the newest list (unix seconds), if it has one.
    crl_next_update: Option<i64>,
}

impl Consortium {
    /// Builds the trust configuration. The root must be a self-signed Ed25519 CA
    /// certificate; every CRL must parse and be issued and signed by the root.
    ///
    /// A serial listed in *any* of the CRLs counts as revoked. A certificate that no CRL
    /// lists is accepted (there is no "unknown revocation status" failure), and CRL
    /// `nextUpdate` is not enforced: the newest CRL known stays in force.
    pub fn new(root_cert_der: Vec<u8>, crls_der: Vec<Vec<u8>>) -> Result<Self, CertError> {
        let (anchor, root_ski, root_not_before, root_not_after, crls, crl_number, crl_next_update) = {
            let root = parse_cert(&root_cert_der)?;
            let root_key = ed25519_key(root.public_key()).ok_or(CertError::NotEd25519)?;
            if !is_ca(&root) {
                return Err(CertError::NotACa);
            }
            match cert_signed_by(&root, &root_key) {
                SigCheck::Valid => {}
                SigCheck::NotEd25519 => return Err(CertError::NotEd25519),
                SigCheck::Invalid => return Err(CertError::BadSignature),
            }
            let anchor =
                webpki::anchor_from_trusted_cert(&CertificateDer::from(&root_cert_der[..]))
                    .map_err(|e| CertError::Malformed(Unreadable::Encoding(e)))?
                    .to_owned();
            let mut crls = Vec::with_capacity(crls_der.len());
            for (index, der) in crls_der.iter().enumerate() {
                let bad = |reason| CertError::BadCrl { index, reason };
                let owned = OwnedCertRevocationList::from_der(der)
                    .map_err(|e| bad(CrlDefect::Malformed(Unreadable::Encoding(e))))?;
                let parsed = parse_crl(der).map_err(bad)?;
                check_crl_issuer(&parsed, root.subject(), &root_key).map_err(bad)?;
                let number = parsed.crl_number().cloned().unwrap_or_default();
                let next_update = parsed.next_update().map(|t| t.timestamp());
                crls.push((number, CertRevocationList::from(owned), next_update));
            }
            crls.sort_by(|a, b| b.0.cmp(&a.0));
            let crl_next_update = crls.first().and_then(|(_, _, next)| *next);
            let crl_number = crls.first().map(|(number, _, _)| {
                let bytes = number.to_bytes_be();
                if bytes.len() > 16 {
                    return u128::MAX;
                }
                let mut padded = [0u8; 16];
                padded[16 - bytes.len()..].copy_from_slice(&bytes);
                u128::from_be_bytes(padded)
            });
            let validity = root.validity();
            (
                anchor,
                subject_key_id(&root).map(<[u8]>::to_vec),
                validity.not_before.timestamp(),
                validity.not_after.timestamp(),
                crls.into_iter().map(|(_, crl, _)| crl).collect(),
                crl_number,
                crl_next_update,
            )
        };
        Ok(Self {
            root_der: root_cert_der,
            anchor,
            root_ski,
            root_not_before,
            root_not_after,
            crls,
            crl_number,
            crl_next_update,
        })
    }

    /// When the root certificate expires (unix seconds).
    pub fn root_not_after(&self) -> i64 {
        self.root_not_after
    }

    /// When the newest revocation list says the next one is due (unix seconds), if one was
    /// given and says so.
    pub fn crl_next_update(&self) -> Option<i64> {
        self.crl_next_update
    }

    /// The highest cRLNumber among the revocation lists (saturated to u128): a list with a lower
    /// number than one a node has seen is older, and taking it would lift revocations.
    pub fn crl_number(&self) -> Option<u128> {
        self.crl_number
    }

    /// Whether any revocation list was given (without one, nothing is known to be revoked).
    pub fn has_revocation_lists(&self) -> bool {
        !self.crls.is_empty()
    }

    /// SHA-256 of the root certificate DER (what operators compare out of band).
    pub fn root_fingerprint(&self) -> [u8; 32] {
        Self::fingerprint_of(&self.root_der)
    }

    /// The SHA-256 fingerprint of a certificate's DER (what `openssl x509 -fingerprint -sha256`
    /// prints), so operators can compare a root out of band.
    pub fn fingerprint_of(cert_der: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, cert_der).as_ref());
        out
    }

    /// The root certificate DER.
    pub fn root_cert_der(&self) -> &[u8] {
        &self.root_der
    }

    /// Verifies a member certificate at `at_unix` (unix seconds).
    ///
    /// Checks, via webpki: chain to the root (Ed25519 signatures only), validity, the role
    /// EKU (`required`, or either role when `None`), revocation. Also checks that the root is
    /// valid at `at_unix` and that the member key is Ed25519.
    ///
    /// Checks that do not need the issuer (validity, role) come first, so an expired or
    /// wrong-role certificate from a foreign CA reports that rather than `UnknownIssuer`.
    pub fn verify(
        &self,
        cert_der: &[u8],
        at_unix: u64,
        required: Option<Role>,
    ) -> Result<Member, CertError> {
        let at = i64::try_from(at_unix).unwrap_or(i64::MAX);
        if at < self.root_not_before || at > self.root_not_after {
            return Err(CertError::RootNotValid {
                not_before: self.root_not_before,
                not_after: self.root_not_after,
                at,
            });
        }
        let der = CertificateDer::from(cert_der);
        let ee =
            EndEntityCert::try_from(&der).map_err(|e| self.map_error(e, cert_der, required))?;
        let crl_refs: Vec<&CertRevocationList<'static>> = self.crls.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::EndEntity)
                .with_status_policy(UnknownStatusPolicy::Allow)
                .with_expiration_policy(ExpirationPolicy::Ignore)
                .build()
        });
        let algs = &[webpki::ring::ED25519];
        let anchors = std::slice::from_ref(&self.anchor);
        let time = UnixTime::since_unix_epoch(Duration::from_secs(at_unix));
        let result = match required {
            Some(role) => {
                let usage = KeyUsage::required(role.oid_der());
                ee.verify_for_usage(algs, anchors, &[], time, usage, revocation, None)
                    .map(drop)
            }
            None => ee
                .verify_for_usage(algs, anchors, &[], time, AnyRole, revocation, None)
                .map(drop),
        };
        result.map_err(|e| self.map_error(e, cert_der, required))?;

        let cert = parse_cert(cert_der)?;
        // webpki consults only the first CRL covering the certificate; check all of them.
        for crl in &self.crls {
            match crl.find_serial(cert.raw_serial()) {
                Ok(None) => {}
                Ok(Some(_)) => return Err(CertError::Revoked),
                Err(e) => return Err(CertError::Rejected(e)),
            }
        }
        let public_key = ed25519_key(cert.public_key()).ok_or(CertError::NotEd25519)?;
        let org = subject_org(&cert).ok_or(CertError::Malformed(Unreadable::NoOrganisation))?;
        let role = match required {
            Some(role) => role,
            None => role_of(&cert).ok_or(CertError::NoRole)?,
        };
        Ok(Member {
            public_key,
            org,
            role,
            serial: cert.raw_serial().to_vec(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            encryption_key: super::encryption_key::encryption_key_in(&cert),
        })
    }

    /// When the certificate was revoked (unix seconds; the earliest date if several lists name
    /// it), or `None` if no revocation list names it (or it cannot be parsed).
    ///
    /// Revocation stops new blocks at once; blocks a provider signed before its revocation date
    /// stay part of the shared history, so peers that sync or re-verify them later need the date.
    pub fn revoked_at(&self, cert_der: &[u8]) -> Option<i64> {
        let cert = parse_cert(cert_der).ok()?;
        self.crls
            .iter()
            .filter_map(|crl| crl.find_serial(cert.raw_serial()).ok().flatten())
            .map(|entry| i64::try_from(entry.revocation_date.as_secs()).unwrap_or(i64::MAX))
            .min()
    }

    /// Maps webpki's error to ours, reading the certificate again where that helps.
    #[allow(deprecated)] // the context-free variants are still matched for completeness
    fn map_error(&self, err: webpki::Error, cert_der: &[u8], required: Option<Role>) -> CertError {
        use webpki::Error as E;
        let secs = |t: UnixTime| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
        match err {
            E::UnknownIssuer => CertError::UnknownIssuer,
            E::CertExpired { time, not_after } => CertError::Expired {
                not_after: secs(not_after),
                at: secs(time),
            },
            E::CertNotValidYet { time, not_before } => CertError::NotYetValid {
                not_before: secs(not_before),
                at: secs(time),
            },
            E::CertRevoked => CertError::Revoked,
            E::RequiredEkuNotFound | E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => {
                match required {
                    Some(required) => CertError::WrongRole {
                        required,
                        actual: parse_cert(cert_der).ok().and_then(|c| role_of(&c)),
                    },
                    None => CertError::NoRole,
                }
            }
            // The root's name matched but its key did not verify the signature: either the
            // certificate was altered, or another CA uses the same name. The authority key
            // identifier tells which.
            E::InvalidSignatureForPublicKey => {
                let aki = parse_cert(cert_der)
                    .ok()
                    .and_then(|c| authority_key_id(&c).map(<[u8]>::to_vec));
                match (aki, &self.root_ski) {
                    (Some(aki), Some(ski)) if aki != *ski => CertError::UnknownIssuer,
                    _ => CertError::BadSignature,
                }
            }
            E::CaUsedAsEndEntity => CertError::NotAMember,
            E::UnsupportedSignatureAlgorithm
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKey
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
            | E::SignatureAlgorithmMismatch => CertError::NotEd25519,
            E::BadDer
            | E::BadDerTime
            | E::TrailingData(_)
            | E::MalformedExtensions
            | E::ExtensionValueInvalid
            | E::InvalidCertValidity
            | E::InvalidSerialNumber
            | E::UnsupportedCertVersion => CertError::Malformed(Unreadable::Encoding(err)),
            other => CertError::Rejected(other),
        }
    }
}

/// EKU policy "either medchain role": the certificate must list the provider or auditor OID.
struct AnyRole;

impl ExtendedKeyUsageValidator for AnyRole {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for id in iter {
            let id = id?;
            if Role::ALL
                .iter()
                .any(|role| id == KeyPurposeId::new(role.oid_der()))
            {
                return Ok(());
            }
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(
            RequiredEkuNotFoundContext {
                required: KeyUsage::required(Role::Provider.oid_der()),
                present: Vec::new(),
            },
        ))
    }
}
