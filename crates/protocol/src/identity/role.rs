//! Member roles and their Extended Key Usage OIDs (under our UUID arc 2.25, X.667).
//!
//! The arc is UUID 5699318c-3103-4c82-8de2-84c29e21b1d7 =
//! 2.25.115109034002040678192608669639758688727; `.1` is the provider role, `.2` the auditor role.
//! The integer arc does not fit rcgen's `u64` OID components, so the EKU extension is encoded here.

use std::fmt;
use std::str::FromStr;

use x509_parser::certificate::X509Certificate;

/// Content bytes (no tag, no length) of OID 2.25.115109034002040678192608669639758688727.1.
pub const PROVIDER_ROLE_OID_DER: &[u8] = &[
    0x69, 0x81, 0xad, 0x99, 0x98, 0xe3, 0x86, 0x90, 0x9a, 0xb2, 0x85, 0x8d, 0xf1, 0xa1, 0x98, 0xa9,
    0xf1, 0x86, 0xe3, 0x57, 0x01,
];
/// Content bytes (no tag, no length) of OID 2.25.115109034002040678192608669639758688727.2.
pub const AUDITOR_ROLE_OID_DER: &[u8] = &[
    0x69, 0x81, 0xad, 0x99, 0x98, 0xe3, 0x86, 0x90, 0x9a, 0xb2, 0x85, 0x8d, 0xf1, 0xa1, 0x98, 0xa9,
    0xf1, 0x86, 0xe3, 0x57, 0x02,
];
/// Dotted form of the provider role OID.
pub const PROVIDER_ROLE_OID: &str = "2.25.115109034002040678192608669639758688727.1";
/// Dotted form of the auditor role OID.
pub const AUDITOR_ROLE_OID: &str = "2.25.115109034002040678192608669639758688727.2";

/// OID arcs of the X.509 extendedKeyUsage extension (2.5.29.37).
pub(crate) const EKU_EXTENSION_OID: &[u64] = &[2, 5, 29, 37];

/// What a consortium member may do on the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A care provider: may publish records.
    Provider,
    /// An auditor: read-only access.
    Auditor,
}

/// The text is neither "provider" nor "auditor".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected \"provider\" or \"auditor\"")]
pub struct UnknownRole(pub String);

impl Role {
    /// Both roles, provider first.
    pub const ALL: [Role; 2] = [Role::Provider, Role::Auditor];

    /// The EKU OID as DER content bytes (what webpki's `KeyUsage::required` takes).
    pub fn oid_der(self) -> &'static [u8] {
        match self {
            Role::Provider => PROVIDER_ROLE_OID_DER,
            Role::Auditor => AUDITOR_ROLE_OID_DER,
        }
    }

    /// The EKU OID in dotted notation (as `openssl x509 -text` prints it).
    pub fn oid_dotted(self) -> &'static str {
        match self {
            Role::Provider => PROVIDER_ROLE_OID,
            Role::Auditor => AUDITOR_ROLE_OID,
        }
    }

    /// "provider" or "auditor".
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::Auditor => "auditor",
        }
    }

    fn from_oid_der(oid: &[u8]) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.oid_der() == oid)
    }

    /// The DER value of an extendedKeyUsage extension listing only this role:
    /// `SEQUENCE { OBJECT IDENTIFIER role }`.
    pub(crate) fn eku_extension_value(self) -> Vec<u8> {
        let oid = self.oid_der();
        // Both OIDs are 21 bytes, so short-form lengths suffice (asserted at compile time).
        const _: () =
            assert!(PROVIDER_ROLE_OID_DER.len() < 126 && AUDITOR_ROLE_OID_DER.len() < 126);
        let mut out = Vec::with_capacity(oid.len() + 4);
        out.extend_from_slice(&[0x30, (oid.len() + 2) as u8, 0x06, oid.len() as u8]);
        out.extend_from_slice(oid);
        out
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses "provider" or "auditor" (surrounding spaces and letter case are ignored).
impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "provider" => Ok(Role::Provider),
            "auditor" => Ok(Role::Auditor),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// The medchain roles listed in a certificate's EKU extension (unreadable EKU = none).
pub(crate) fn roles_in(cert: &X509Certificate<'_>) -> Vec<Role> {
    match cert.extended_key_usage() {
        Ok(Some(eku)) => {
            let mut roles: Vec<Role> = eku
                .value
                .other
                .iter()
                .filter_map(|oid| Role::from_oid_der(oid.as_bytes()))
                .collect();
            roles.dedup();
            roles
        }
        _ => Vec::new(),
    }
}

/// The single role to report for a certificate: with both roles present the least
/// privileged one (auditor) is reported.
pub(crate) fn role_of(cert: &X509Certificate<'_>) -> Option<Role> {
    let roles = roles_in(cert);
    if roles.contains(&Role::Auditor) {
        Some(Role::Auditor)
    } else {
        roles.first().copied()
    }
}
