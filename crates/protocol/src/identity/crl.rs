//! Revocation: producing the next cumulative CRL of the consortium CA.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use x509_parser::num_bigint::BigUint;

use super::error::IssueError;
use super::issue::LoadedCa;
use super::x509::{
    SigCheck, cert_signed_by, check_crl_issuer, parse_cert, parse_crl, subject_key_id, to_datetime,
};

/// Days between a CRL's `thisUpdate` and `nextUpdate`. [`Consortium`](super::Consortium)
/// does not enforce `nextUpdate`; it is informational for other tools such as OpenSSL.
pub const CRL_VALIDITY_DAYS: u32 = 30;

/// Returns the next CRL (DER) of the CA, with `cert_der`'s serial added.
///
/// * `existing_crl_der`, if given, must be a CRL signed by this CA; every entry in it is
///   kept (serial and revocation time; entry extensions such as reason codes are dropped),
///   and the new `cRLNumber` is its number + 1 (1 when there is no previous CRL).
/// * `cert_der` must be issued by this CA (same issuer name and a valid CA signature).
///   Revoking an already listed certificate is not an error: the entry is kept as it was.
/// * `thisUpdate` = `now_unix`, `nextUpdate` = `now_unix` + [`CRL_VALIDITY_DAYS`] days.
///
/// The result is cumulative: give the returned CRL (and only it) to the next `revoke` call
/// and to [`Consortium::new`](super::Consortium::new).
pub fn revoke(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    existing_crl_der: Option<&[u8]>,
    cert_der: &[u8],
    now_unix: i64,
) -> Result<Vec<u8>, IssueError> {
    next_crl(
        ca_cert_der,
        ca_key_pkcs8_der,
        existing_crl_der,
        Some(cert_der),
        now_unix,
    )
}

/// Returns the CA's first CRL (DER), listing nothing, with `cRLNumber` 1. `ca init` writes it so
/// that every node can load a CRL file from the start.
pub fn empty_crl(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    now_unix: i64,
) -> Result<Vec<u8>, IssueError> {
    next_crl(ca_cert_der, ca_key_pkcs8_der, None, None, now_unix)
}

/// Re-signs the CA's CRL with the same entries, fresh dates and the next `cRLNumber`, so that
/// tools which enforce `nextUpdate` keep accepting it.
pub fn refresh_crl(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    existing_crl_der: &[u8],
    now_unix: i64,
) -> Result<Vec<u8>, IssueError> {
    next_crl(
        ca_cert_der,
        ca_key_pkcs8_der,
        Some(existing_crl_der),
        None,
        now_unix,
    )
}

/// The next CRL after `existing_crl_der`, with `cert_der`'s serial added when given.
fn next_crl(
    ca_cert_der: &[u8],
    ca_key_pkcs8_der: &[u8],
    existing_crl_der: Option<&[u8]>,
    cert_der: Option<&[u8]>,
    now_unix: i64,
) -> Result<Vec<u8>, IssueError> {
    let next_unix = now_unix.checked_add(i64::from(CRL_VALIDITY_DAYS) * 86_400);
    let (Some(this_update), Some(next_update)) =
        (to_datetime(now_unix), next_unix.and_then(to_datetime))
    else {
        return Err(IssueError::InvalidValidity {
            not_before_unix: now_unix,
            days: CRL_VALIDITY_DAYS,
        });
    };
    let ca = LoadedCa::load(ca_cert_der, ca_key_pkcs8_der)?;

    let target = match cert_der {
        Some(der) => {
            let target = parse_cert(der).map_err(IssueError::Certificate)?;
            if target.issuer().as_raw() != ca.cert.subject().as_raw()
                || cert_signed_by(&target, &ca.public_key) != SigCheck::Valid
            {
                return Err(IssueError::ForeignCertificate);
            }
            Some(target)
        }
        None => None,
    };

    let mut revoked_certs = Vec::new();
    let mut crl_number = BigUint::from(1u32);
    if let Some(der) = existing_crl_der {
        let crl = parse_crl(der).map_err(IssueError::ExistingCrl)?;
        check_crl_issuer(&crl, ca.cert.subject(), &ca.public_key)
            .map_err(IssueError::ExistingCrl)?;
        for entry in crl.iter_revoked_certificates() {
            revoked_certs.push(RevokedCertParams {
                serial_number: positive_serial(entry.raw_serial())?,
                revocation_time: entry.revocation_date.to_datetime(),
                reason_code: None,
                invalidity_date: None,
            });
        }
        if let Some(previous) = crl.crl_number() {
            crl_number = previous + 1u32;
        }
    }

    if let Some(target) = target {
        let serial_number = positive_serial(target.raw_serial())?;
        if !revoked_certs
            .iter()
            .any(|r| r.serial_number == serial_number)
        {
            revoked_certs.push(RevokedCertParams {
                serial_number,
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            });
        }
    }

    // The CRL's authority key identifier must equal the CA's subject key identifier.
    let key_identifier_method = match subject_key_id(&ca.cert) {
        Some(ski) => KeyIdMethod::PreSpecified(ski.to_vec()),
        None => KeyIdMethod::Sha256,
    };
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&crl_number.to_bytes_be()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method,
    };
    let crl = params.signed_by(&ca.issuer(ca_cert_der)?)?;
    Ok(crl.der().to_vec())
}

/// A serial number from DER INTEGER content bytes, normalised (leading zero bytes removed)
/// so that equal numbers compare equal. Negative numbers are refused.
fn positive_serial(raw: &[u8]) -> Result<SerialNumber, IssueError> {
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(IssueError::NegativeSerial);
    }
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    Ok(SerialNumber::from_slice(
        raw.get(start..).unwrap_or_default(),
    ))
}
