//! Harnesses for certificates and revocation lists (DER and PEM), and the fixed test PKI they
//! verify against.
//!
//! The test PKI (a root CA, its key, a provider with its key, an auditor, a revoked provider, the
//! CRL revoking it, and a member of a foreign CA with the same name) was made once with the
//! protocol crate's issuing functions (`fuzz-seeds --new-pki`) and is kept in `fixtures/`, so the
//! seed certificates chain to the root every target uses. Its keys protect nothing: they exist
//! only for fuzzing.

use std::sync::OnceLock;

use medchain_net::PeerId;
use medchain_protocol::identity::{
    Consortium, MemberKey, Role, cert_to_pem, crl_to_pem, org_of, pem_to_der_cert, pem_to_der_crl,
    public_key_of, refresh_crl, serial_of,
};

/// The network name hellos are checked against.
pub const NETWORK: &str = "medchain-fuzz";
/// Start of validity of every test certificate (2023-11-14).
pub const NOT_BEFORE_UNIX: i64 = 1_700_000_000;
/// Validity of the test root CA, in days.
pub const ROOT_DAYS: u32 = 36_500;
/// Validity of the test member certificates, in days.
pub const MEMBER_DAYS: u32 = 3_650;
/// When the test CRLs are made.
pub const CRL_UNIX: i64 = 1_720_000_000;
/// The fixed time certificates are verified at (2025-06-15), inside every validity above.
pub const AT_UNIX: u64 = 1_750_000_000;

/// The test PKI, as DER (keys as PKCS#8).
#[derive(Clone, Debug)]
pub struct Pki {
    /// The root CA certificate.
    pub root: Vec<u8>,
    /// The root CA's key.
    pub root_key: Vec<u8>,
    /// A provider member certificate.
    pub provider: Vec<u8>,
    /// The provider's key.
    pub provider_key: Vec<u8>,
    /// An auditor member certificate.
    pub auditor: Vec<u8>,
    /// A provider certificate that `crl` revokes.
    pub revoked: Vec<u8>,
    /// The root's CRL, revoking `revoked`.
    pub crl: Vec<u8>,
    /// A provider certificate from another CA with the root's name.
    pub foreign: Vec<u8>,
}

/// The file names of the test PKI in `fixtures/`, in the order of [`Pki::files`].
pub const PKI_FILES: [&str; 8] = [
    "root.der",
    "root-key.pk8",
    "provider.der",
    "provider-key.pk8",
    "auditor.der",
    "revoked.der",
    "crl.der",
    "foreign.der",
];

impl Pki {
    /// The kept test PKI, compiled in from `fixtures/`.
    pub fn embedded() -> Self {
        Self {
            root: include_bytes!("../fixtures/root.der").to_vec(),
            root_key: include_bytes!("../fixtures/root-key.pk8").to_vec(),
            provider: include_bytes!("../fixtures/provider.der").to_vec(),
            provider_key: include_bytes!("../fixtures/provider-key.pk8").to_vec(),
            auditor: include_bytes!("../fixtures/auditor.der").to_vec(),
            revoked: include_bytes!("../fixtures/revoked.der").to_vec(),
            crl: include_bytes!("../fixtures/crl.der").to_vec(),
            foreign: include_bytes!("../fixtures/foreign.der").to_vec(),
        }
    }

    /// A new test PKI (fresh random keys and serials).
    pub fn generate() -> Result<Self, medchain_protocol::identity::IssueError> {
        use medchain_protocol::identity::{create_root_ca, issue_member, revoke};
        let name = "medchain fuzz root";
        let rng = medchain_protocol::identity::SystemRandom::new();
        let root = create_root_ca(name, NOT_BEFORE_UNIX, ROOT_DAYS, &rng)?;
        let (cert, key) = (&root.cert_der, &root.key_pkcs8_der);
        let member =
            |role, org| issue_member(cert, key, role, org, NOT_BEFORE_UNIX, MEMBER_DAYS, &rng);
        let provider = member(Role::Provider, "St Fuzz Hospital")?;
        let auditor = member(Role::Auditor, "Fuzz Audit Office")?;
        let revoked = member(Role::Provider, "Revoked Clinic")?;
        let crl = revoke(cert, key, None, &revoked.cert_der, CRL_UNIX)?;
        let foreign_root = create_root_ca(name, NOT_BEFORE_UNIX, ROOT_DAYS, &rng)?;
        let foreign = issue_member(
            &foreign_root.cert_der,
            &foreign_root.key_pkcs8_der,
            Role::Provider,
            "St Fuzz Hospital",
            NOT_BEFORE_UNIX,
            MEMBER_DAYS,
            &rng,
        )?;
        Ok(Self {
            root: root.cert_der.clone(),
            root_key: root.key_pkcs8_der.to_vec(),
            provider: provider.cert_der,
            provider_key: provider.key_pkcs8_der.to_vec(),
            auditor: auditor.cert_der,
            revoked: revoked.cert_der,
            crl,
            foreign: foreign.cert_der,
        })
    }

    /// The files' contents, in the order of [`PKI_FILES`].
    pub fn files(&self) -> [&[u8]; 8] {
        [
            &self.root,
            &self.root_key,
            &self.provider,
            &self.provider_key,
            &self.auditor,
            &self.revoked,
            &self.crl,
            &self.foreign,
        ]
    }

    /// The provider's key.
    pub fn provider_key(&self) -> Result<MemberKey, medchain_protocol::identity::KeyError> {
        MemberKey::from_pkcs8_der(&self.provider_key)
    }
}

/// The test PKI loaded for the harnesses.
#[derive(Debug)]
pub struct Fixtures {
    /// The kept test PKI.
    pub pki: Pki,
    /// The root with its CRL.
    pub consortium: Consortium,
    /// The libp2p peer ID of the provider's key (hellos are checked as if it sent them).
    pub provider_peer: PeerId,
}

/// The test PKI, loaded once; `None` only if the kept fixtures are broken (the replay test fails
/// then, so the certificate targets cannot silently test less).
pub fn fixtures() -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Option<Fixtures>> = OnceLock::new();
    FIXTURES.get_or_init(load_fixtures).as_ref()
}

fn load_fixtures() -> Option<Fixtures> {
    let pki = Pki::embedded();
    let consortium = Consortium::new(pki.root.clone(), vec![pki.crl.clone()]).ok()?;
    let public_key = pki.provider_key().ok()?.public_key();
    Some(Fixtures {
        consortium,
        provider_peer: peer_id_of(&public_key)?,
        pki,
    })
}

/// The libp2p peer ID of an Ed25519 key: the identity multihash of its protobuf encoding.
pub fn peer_id_of(public_key: &[u8; 32]) -> Option<PeerId> {
    let mut bytes = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    bytes.extend_from_slice(public_key);
    PeerId::from_bytes(&bytes).ok()
}

/// A member certificate (DER) from a hello, a block or evidence: `Consortium::verify` (either
/// role, and as a provider), the revocation lookup, and the parsing helpers. A certificate that
/// verifies must yield the key and serial the helpers read; PEM written for any DER must parse
/// back to it.
pub fn cert_der(data: &[u8]) {
    let Some(fixtures) = fixtures() else {
        return;
    };
    let (key, serial) = (public_key_of(data), serial_of(data));
    let _ = org_of(data);
    for role in [None, Some(Role::Provider)] {
        if let Ok(member) = fixtures.consortium.verify(data, AT_UNIX, role) {
            assert!(
                key == Some(member.public_key) && serial.as_ref() == Some(&member.serial),
                "a verified certificate's key or serial differs from what the helpers read"
            );
        }
    }
    let _ = fixtures.consortium.revoked_at(data);
    if !data.is_empty() {
        let pem = cert_to_pem(data);
        assert!(
            pem_to_der_cert(&pem).ok().as_deref() == Some(data),
            "certificate PEM does not parse back to its DER"
        );
    }
}

/// A certificate file as PEM text: `pem_to_der_cert` (on the input as text, invalid UTF-8
/// replaced), then the DER harness on what it yields.
pub fn cert_pem(data: &[u8]) {
    if let Ok(der) = pem_to_der_cert(&String::from_utf8_lossy(data)) {
        cert_der(&der);
    }
}

/// A revocation list (DER): `Consortium::new(root, vec![crl])`. A list the root signed is then
/// used: verifying the provider and the revoked certificate under it, the revocation lookup, and
/// `refresh_crl` from it, whose result must load and revoke the same certificate. PEM written
/// for any DER must parse back to it.
pub fn crl_der(data: &[u8]) {
    let Some(fixtures) = fixtures() else {
        return;
    };
    let pki = &fixtures.pki;
    if let Ok(consortium) = Consortium::new(pki.root.clone(), vec![data.to_vec()]) {
        let _ = consortium.verify(&pki.provider, AT_UNIX, None);
        let _ = consortium.verify(&pki.revoked, AT_UNIX, None);
        let revoked = consortium.revoked_at(&pki.revoked).is_some();
        if let Ok(next) = refresh_crl(&pki.root, &pki.root_key, data, CRL_UNIX) {
            let reloaded = Consortium::new(pki.root.clone(), vec![next]);
            assert!(
                reloaded.is_ok_and(|c| c.revoked_at(&pki.revoked).is_some() == revoked),
                "a refreshed CRL does not load or does not revoke what the old one did"
            );
        }
    }
    if !data.is_empty() {
        let pem = crl_to_pem(data);
        assert!(
            pem_to_der_crl(&pem).ok().as_deref() == Some(data),
            "CRL PEM does not parse back to its DER"
        );
    }
}

/// A revocation list file as PEM text: `pem_to_der_crl` (on the input as text, invalid UTF-8
/// replaced), then the DER harness on what it yields.
pub fn crl_pem(data: &[u8]) {
    if let Ok(der) = pem_to_der_crl(&String::from_utf8_lossy(data)) {
        crl_der(&der);
    }
}
