//! A consortium for tests: a real root CA (valid from 30 days ago for ten years), members it
//! issues (valid from a day ago for a year), and the trust and ledgers that take it.

use std::sync::Arc;

#[cfg(feature = "ledger")]
use medchain_chain::{Author, Ledger, Trust};
use medchain_protocol::identity::{
    self, Consortium, IssuedCa, IssuedMember, MemberKey, Role, SystemRandom,
};
#[cfg(feature = "ledger")]
use medchain_store::Store;

use crate::clock::{DAY, now_s};

/// A consortium's root CA.
pub struct TestCa {
    /// The root certificate and its key.
    pub issued: IssuedCa,
    /// The consortium it roots, with no revocation list.
    pub consortium: Arc<Consortium>,
}

impl TestCa {
    /// A root CA named `name`.
    pub fn new(name: &str) -> Self {
        let issued =
            identity::create_root_ca(name, now_s() - 30 * DAY, 3650, &SystemRandom::new()).unwrap();
        let consortium = Arc::new(Consortium::new(issued.cert_der.clone(), vec![]).unwrap());
        Self { issued, consortium }
    }

    /// A member of `org` with `role`.
    pub fn member(&self, role: Role, org: &str) -> IssuedMember {
        identity::issue_member(
            &self.issued.cert_der,
            &self.issued.key_pkcs8_der,
            role,
            org,
            now_s() - DAY,
            365,
            &SystemRandom::new(),
        )
        .unwrap()
    }

    /// A member's certificate (DER) and key.
    pub fn cert_and_key(&self, role: Role, org: &str) -> (Vec<u8>, MemberKey) {
        let member = self.member(role, org);
        let key = MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap();
        (member.cert_der, key)
    }
}

#[cfg(feature = "ledger")]
impl TestCa {
    /// A provider of `org`, ready to author.
    pub fn provider(&self, org: &str) -> Author {
        author_of(&self.member(Role::Provider, org))
    }

    /// The trust of a node of this consortium, with no revocation list.
    pub fn trust(&self) -> Trust {
        Trust::new(Consortium::new(self.issued.cert_der.clone(), vec![]).unwrap())
    }

    /// The trust of a node of this consortium holding the revocation list `crl` (DER).
    pub fn trust_with_crl(&self, crl: Vec<u8>) -> Trust {
        Trust::new(Consortium::new(self.issued.cert_der.clone(), vec![crl]).unwrap())
    }

    /// A ledger of this consortium on a temporary store.
    pub fn ledger(&self) -> Ledger {
        Ledger::new(Store::open_temporary().unwrap(), self.trust())
    }
}

#[cfg(feature = "ledger")]
/// An author from an issued member (even an auditor: the ledger must refuse its blocks).
pub fn author_of(member: &IssuedMember) -> Author {
    let key = MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap();
    Author::new(key, member.cert_der.clone(), keyring()).unwrap()
}

#[cfg(feature = "ledger")]
/// A key ring with a fixed key-wrapping key (generation 1), for authors and readers in tests.
pub fn keyring() -> medchain_chain::KeyRing {
    use medchain_protocol::sealed::{SecretKey, WrappingKey};
    medchain_chain::KeyRing::new(WrappingKey::new(SecretKey::from_bytes([0x6b; 32]), 1))
}
