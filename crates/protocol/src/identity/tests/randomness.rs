//! Issuing takes its randomness from the caller: the same bytes give the same certificates, and
//! a source that fails makes issuing fail cleanly.

use std::cell::Cell;

use super::{DAY, NOW};
use crate::identity::{
    Consortium, IssueError, MemberKey, Randomness, Role, create_root_ca, issue_member,
};

/// A predictable source: byte i of the stream is `seed + i` (wrapping).
struct Counting {
    next: Cell<u8>,
}

impl Counting {
    fn new(seed: u8) -> Self {
        Self {
            next: Cell::new(seed),
        }
    }
}

impl Randomness for Counting {
    fn fill(&self, dest: &mut [u8]) -> Result<(), IssueError> {
        for byte in dest {
            *byte = self.next.get();
            self.next.set(self.next.get().wrapping_add(1));
        }
        Ok(())
    }
}

/// A source that always fails.
struct Broken;

impl Randomness for Broken {
    fn fill(&self, _dest: &mut [u8]) -> Result<(), IssueError> {
        Err(IssueError::Rng)
    }
}

#[test]
fn the_same_randomness_gives_the_same_certificates() {
    let issue = |seed: u8| {
        let randomness = Counting::new(seed);
        let ca = create_root_ca("Seeded CA", NOW - DAY, 365, &randomness).unwrap();
        let member = issue_member(
            &ca.cert_der,
            &ca.key_pkcs8_der,
            Role::Provider,
            "Seeded Hospital",
            NOW - DAY,
            30,
            &randomness,
        )
        .unwrap();
        (ca, member)
    };
    let (ca_a, member_a) = issue(1);
    let (ca_b, member_b) = issue(1);
    assert_eq!(ca_a.cert_der, ca_b.cert_der);
    assert_eq!(member_a.cert_der, member_b.cert_der);
    assert_eq!(*member_a.key_pkcs8_der, *member_b.key_pkcs8_der);
    let (ca_c, member_c) = issue(2);
    assert_ne!(ca_a.cert_der, ca_c.cert_der);
    assert_ne!(member_a.public_key, member_c.public_key);
    // The key drawn is the member's own, and the certificate verifies under the root.
    let key = MemberKey::from_pkcs8_der(&member_a.key_pkcs8_der).unwrap();
    assert_eq!(key.public_key(), member_a.public_key);
    let consortium = Consortium::new(ca_a.cert_der.clone(), Vec::new()).unwrap();
    let verified = consortium
        .verify(&member_a.cert_der, NOW as u64, Some(Role::Provider))
        .unwrap();
    assert_eq!(verified.public_key, member_a.public_key);
}

#[test]
fn a_failing_source_fails_issuing() {
    assert!(matches!(
        create_root_ca("CA", NOW, 365, &Broken),
        Err(IssueError::Rng)
    ));
    let ca = super::new_ca("Good CA");
    assert!(matches!(
        issue_member(
            &ca.cert_der,
            &ca.key_pkcs8_der,
            Role::Auditor,
            "Org",
            NOW,
            365,
            &Broken
        ),
        Err(IssueError::Rng)
    ));
}
