//! PEM <-> DER conversions for certificates and revocation lists (keys: see `MemberKey`).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivatePkcs8KeyDer};

use super::error::CertError;

fn encode(label: &str, der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let block = pem::Pem::new(label, der);
    let text = pem::encode_config(&block, config);
    // Wipe the copy the `pem` crate made (it matters for private keys).
    drop(zeroize::Zeroizing::new(block.into_contents()));
    text
}

/// DER of the first `CERTIFICATE` section in `pem` (other sections are skipped).
pub fn pem_to_der_cert(pem: &str) -> Result<Vec<u8>, CertError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|source| CertError::Pem {
            what: "certificate",
            source,
        })
}

/// DER of the first `CERTIFICATE REQUEST` (PKCS#10) section in `pem` (other sections are
/// skipped).
pub fn pem_to_der_csr(pem: &str) -> Result<Vec<u8>, CertError> {
    rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.as_ref().to_vec())
        .map_err(|source| CertError::Pem {
            what: "certificate request",
            source,
        })
}

/// DER of the first `X509 CRL` section in `pem` (other sections are skipped).
pub fn pem_to_der_crl(pem: &str) -> Result<Vec<u8>, CertError> {
    CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|source| CertError::Pem {
            what: "revocation list",
            source,
        })
}

/// DER of the first `PRIVATE KEY` (PKCS#8) section in `pem`, wiped from memory on drop.
pub fn pem_to_der_key(pem: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, CertError> {
    PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
        .map(|der| zeroize::Zeroizing::new(der.secret_pkcs8_der().to_vec()))
        .map_err(|source| CertError::Pem {
            what: "private key",
            source,
        })
}

/// PEM text (`CERTIFICATE`, LF line endings) for certificate DER.
pub fn cert_to_pem(der: &[u8]) -> String {
    encode("CERTIFICATE", der)
}

/// PEM text (`X509 CRL`, LF line endings) for CRL DER.
pub fn crl_to_pem(der: &[u8]) -> String {
    encode("X509 CRL", der)
}

/// PEM text (`PRIVATE KEY`, LF line endings) for PKCS#8 DER.
pub fn pkcs8_to_pem(der: &[u8]) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(encode("PRIVATE KEY", der))
}
