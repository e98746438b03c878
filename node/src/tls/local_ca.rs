//! A local certificate authority for the API's TLS, for a testnet or a hospital without a PKI
//! of its own: an ECDSA P-256 CA, and ECDSA P-256 server certificates for the names and
//! addresses a node's API is reached at (browsers refuse Ed25519 server certificates). Apart
//! from the consortium CA (`medchain ca`), whose Ed25519 certificates name members.

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// A certificate and its private key, both PEM.
pub struct Issued {
    /// The certificate (for a server: followed by its CA's, the chain a client is sent).
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: Zeroizing<String>,
}

/// A new CA certificate named `name`, valid `days` from now (back-dated an hour for clocks a
/// little behind).
pub fn make_ca(name: &str, days: u32) -> Result<Issued> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("cannot make an ECDSA P-256 key")?;
    let mut params = params(name, days)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params
        .self_signed(&key)
        .context("cannot sign the CA certificate")?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// A server certificate for `hosts` (DNS names or IP addresses), signed by the CA of
/// `ca_cert_pem` and `ca_key_pem`, valid `days`.
pub fn issue_server(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    hosts: &[String],
    days: u32,
) -> Result<Issued> {
    if hosts.is_empty() {
        bail!("name at least one host (DNS name or IP address) the API is reached at");
    }
    let ca_key = KeyPair::from_pem(ca_key_pem).context("the CA key is not a PEM private key")?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key)
        .context("the CA certificate is not a PEM certificate")?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("cannot make an ECDSA P-256 key")?;
    let mut params = params(&hosts[0], days)?;
    params.subject_alt_names = CertificateParams::new(hosts.to_vec())
        .context("a host is neither a DNS name nor an IP address")?
        .subject_alt_names;
    // An EC key signs; key encipherment is for RSA key transport (RFC 5480 forbids it here).
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, &issuer)
        .context("cannot sign the server certificate")?;
    Ok(Issued {
        cert_pem: format!("{}{}", cert.pem(), ca_cert_pem),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// Parameters common to both: common name, validity, a random serial number.
fn params(common_name: &str, days: u32) -> Result<CertificateParams> {
    if !(1..=36_500).contains(&days) {
        bail!("a certificate is valid for 1 to 36500 days");
    }
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days));
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    // Positive, as DER INTEGER serial numbers must be.
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn a_server_certificate_from_the_local_ca_is_trusted_by_a_client_of_that_ca_only() {
        let ca = make_ca("Test API CA", 30).unwrap();
        let server = issue_server(
            &ca.cert_pem,
            &ca.key_pem,
            &["localhost".into(), "127.0.0.1".into()],
            30,
        )
        .unwrap();
        let chain: Vec<_> =
            rustls::pki_types::CertificateDer::pem_slice_iter(server.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(chain.len(), 2, "the server's certificate, then its CA's");
        let check = |ca_pem: &str| {
            let root =
                rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
            let mut roots = rustls::RootCertStore::empty();
            roots.add(root).unwrap();
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                super::super::provider(),
            )
            .build()
            .unwrap();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            rustls::client::danger::ServerCertVerifier::verify_server_cert(
                verifier.as_ref(),
                &chain[0],
                &chain[1..],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .is_ok()
        };
        assert!(check(&ca.cert_pem));
        let other = make_ca("Another CA", 30).unwrap();
        assert!(!check(&other.cert_pem));
    }
}
