//! Consortium::verify: the happy path and each typed failure.

use super::{DAY, NOW, member, new_ca};
use crate::identity::{
    CertError, Consortium, IssueError, MemberKey, Role, cert_to_pem, issue_member, pem_to_der_cert,
};

fn at(t: i64) -> u64 {
    u64::try_from(t).unwrap()
}

#[test]
fn provider_verifies_and_member_fields_are_right() {
    let ca = new_ca("Consortium");
    let m = member(&ca, Role::Provider, "St Mary Hospital");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let got = consortium
        .verify(&m.cert_der, at(NOW), Some(Role::Provider))
        .unwrap();
    assert_eq!(got.org, "St Mary Hospital");
    assert_eq!(got.role, Role::Provider);
    assert_eq!(got.public_key, m.public_key);
    let key = MemberKey::from_pkcs8_der(&m.key_pkcs8_der).unwrap();
    assert_eq!(got.public_key, key.public_key());
    assert_eq!(got.serial, m.serial);
    assert_eq!(got.serial.len(), 16);
    assert_eq!(got.not_before, NOW - DAY);
    assert_eq!(got.not_after, NOW - DAY + 365 * DAY);
    // The certificate binds the member's X25519 encryption key (subjectAltName otherName).
    let encryption = m.encryption_key.public_key();
    assert_eq!(got.encryption_key, Some(encryption));
    assert_eq!(
        crate::identity::encryption_key_of(&m.cert_der),
        Some(encryption)
    );
    let san = x509_parser::parse_x509_certificate(&m.cert_der)
        .unwrap()
        .1
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .critical;
    assert!(!san, "the subjectAltName is not critical");
    // Without a required role the certificate's own role is reported.
    let any = consortium.verify(&m.cert_der, at(NOW), None).unwrap();
    assert_eq!(any, got);
    let auditor = member(&ca, Role::Auditor, "Audit Office");
    let got = consortium.verify(&auditor.cert_der, at(NOW), None).unwrap();
    assert_eq!(got.role, Role::Auditor);
    // PEM round trip.
    assert_eq!(pem_to_der_cert(&m.cert_pem).unwrap(), m.cert_der);
    assert_eq!(cert_to_pem(&m.cert_der), m.cert_pem.replace("\r\n", "\n"));
}

#[test]
fn root_fingerprint_is_sha256_of_the_root() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let expected = ring::digest::digest(&ring::digest::SHA256, &ca.cert_der);
    assert_eq!(consortium.root_fingerprint().as_slice(), expected.as_ref());
    assert_eq!(consortium.root_cert_der(), ca.cert_der.as_slice());
}

#[test]
fn foreign_ca_is_unknown_issuer_even_with_the_same_name() {
    let ours = new_ca("Consortium");
    let consortium = Consortium::new(ours.cert_der.clone(), vec![]).unwrap();
    let other = new_ca("Other Consortium");
    let m = member(&other, Role::Provider, "St Mary");
    let err = consortium
        .verify(&m.cert_der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(matches!(err, CertError::UnknownIssuer), "{err:?}");
    let twin = new_ca("Consortium");
    let m = member(&twin, Role::Provider, "St Mary");
    let err = consortium
        .verify(&m.cert_der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(matches!(err, CertError::UnknownIssuer), "{err:?}");
    let err = consortium.verify(&m.cert_der, at(NOW), None).unwrap_err();
    assert!(matches!(err, CertError::UnknownIssuer), "{err:?}");
}

#[test]
fn expired_and_not_yet_valid() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let old = issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        "Old",
        NOW - 10 * DAY,
        1,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let err = consortium
        .verify(&old.cert_der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(
        matches!(err, CertError::Expired { not_after, at } if not_after == NOW - 9 * DAY && at == NOW),
        "{err:?}"
    );
    let err = consortium
        .verify(&old.cert_der, at(NOW - 11 * DAY), None)
        .unwrap_err();
    assert!(
        matches!(err, CertError::NotYetValid { not_before, .. } if not_before == NOW - 10 * DAY),
        "{err:?}"
    );
    // Outside the root's own validity.
    let err = consortium
        .verify(&old.cert_der, at(NOW + 4000 * DAY), None)
        .unwrap_err();
    assert!(matches!(err, CertError::RootNotValid { .. }), "{err:?}");
}

#[test]
fn wrong_role() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let auditor = member(&ca, Role::Auditor, "Audit Office");
    let err = consortium
        .verify(&auditor.cert_der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(
        matches!(
            err,
            CertError::WrongRole {
                required: Role::Provider,
                actual: Some(Role::Auditor)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "wrong role: the member may not act as provider (its role is auditor)"
    );
    let provider = member(&ca, Role::Provider, "St Mary");
    let err = consortium
        .verify(&provider.cert_der, at(NOW), Some(Role::Auditor))
        .unwrap_err();
    assert!(matches!(
        err,
        CertError::WrongRole {
            actual: Some(Role::Provider),
            ..
        }
    ));
}

#[test]
fn certificate_without_a_role_is_refused() {
    // A leaf made directly with rcgen, chaining to our root but with no medchain EKU.
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let ca_key = rcgen::KeyPair::try_from(ca.key_pkcs8_der.as_slice()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Nobody");
    params.use_authority_key_identifier_extension = true;
    let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
    let err = consortium.verify(leaf.der(), at(NOW), None).unwrap_err();
    assert!(matches!(err, CertError::NoRole), "{err:?}");
    let err = consortium
        .verify(leaf.der(), at(NOW), Some(Role::Auditor))
        .unwrap_err();
    assert!(
        matches!(err, CertError::WrongRole { actual: None, .. }),
        "{err:?}"
    );
}

#[test]
fn root_is_not_a_member() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let err = consortium.verify(&ca.cert_der, at(NOW), None).unwrap_err();
    assert!(matches!(err, CertError::NotAMember), "{err:?}");
    let m = member(&ca, Role::Provider, "St Mary");
    assert!(matches!(
        Consortium::new(m.cert_der, vec![]),
        Err(CertError::NotACa)
    ));
}

#[test]
fn tampered_signature_is_bad_signature() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let m = member(&ca, Role::Provider, "St Mary");
    let mut der = m.cert_der.clone();
    let last = der.len() - 1; // the signature BIT STRING ends the certificate
    der[last] ^= 0x01;
    let err = consortium
        .verify(&der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(matches!(err, CertError::BadSignature), "{err:?}");
    // Changing the organisation inside the signed part is caught the same way.
    let pos = der.windows(7).position(|w| w == b"St Mary").unwrap();
    let mut der = m.cert_der.clone();
    der[pos] = b'X';
    let err = consortium.verify(&der, at(NOW), None).unwrap_err();
    assert!(matches!(err, CertError::BadSignature), "{err:?}");
}

#[test]
fn garbage_and_truncated_input_is_malformed_without_panic() {
    let ca = new_ca("Consortium");
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    let m = member(&ca, Role::Provider, "St Mary");
    for bad in [
        &b""[..],
        b"\x00",
        b"hello world",
        &[0x30, 0x82, 0xff, 0xff, 0x01],
    ] {
        let err = consortium.verify(bad, at(NOW), None).unwrap_err();
        assert!(matches!(err, CertError::Malformed(_)), "{err:?}");
    }
    for len in 0..m.cert_der.len() {
        let err = consortium
            .verify(&m.cert_der[..len], at(NOW), None)
            .unwrap_err();
        assert!(matches!(err, CertError::Malformed(_)), "len {len}: {err:?}");
    }
    // Every single-byte flip fails cleanly (no panic) or, if harmless, still verifies.
    for i in 0..m.cert_der.len() {
        let mut der = m.cert_der.clone();
        der[i] ^= 0x80;
        let _ = consortium.verify(&der, at(NOW), None);
    }
    let mut trailing = m.cert_der.clone();
    trailing.push(0);
    assert!(consortium.verify(&trailing, at(NOW), None).is_err());
    assert!(matches!(
        Consortium::new(b"junk".to_vec(), vec![]),
        Err(CertError::Malformed(_))
    ));
    assert!(matches!(
        pem_to_der_cert("junk"),
        Err(CertError::Pem { .. })
    ));
}

#[test]
fn issuing_checks_its_inputs() {
    let ca = new_ca("Consortium");
    let other = new_ca("Other");
    let err = issue_member(
        &ca.cert_der,
        &other.key_pkcs8_der,
        Role::Provider,
        "X",
        NOW,
        1,
        &ring::rand::SystemRandom::new(),
    );
    assert!(matches!(err, Err(IssueError::KeyMismatch)), "{err:?}");
    let err = issue_member(
        &ca.cert_der,
        b"junk",
        Role::Provider,
        "X",
        NOW,
        1,
        &ring::rand::SystemRandom::new(),
    );
    assert!(matches!(err, Err(IssueError::CaKey(_))), "{err:?}");
    let err = issue_member(
        b"junk",
        &ca.key_pkcs8_der,
        Role::Provider,
        "X",
        NOW,
        1,
        &ring::rand::SystemRandom::new(),
    );
    assert!(matches!(
        err,
        Err(IssueError::CaCertificate(CertError::Malformed(_)))
    ));
    let m = member(&ca, Role::Provider, "St Mary");
    let err = issue_member(
        &m.cert_der,
        &m.key_pkcs8_der,
        Role::Provider,
        "X",
        NOW,
        1,
        &ring::rand::SystemRandom::new(),
    );
    assert!(
        matches!(err, Err(IssueError::CaCertificate(CertError::NotACa))),
        "{err:?}"
    );
    let err = issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        " ",
        NOW,
        1,
        &ring::rand::SystemRandom::new(),
    );
    assert!(matches!(err, Err(IssueError::EmptyName)));
    for (nb, days) in [(NOW, 0), (-1, 1), (i64::MAX, 1), (253_402_300_000, 30)] {
        let err = issue_member(
            &ca.cert_der,
            &ca.key_pkcs8_der,
            Role::Provider,
            "X",
            nb,
            days,
            &ring::rand::SystemRandom::new(),
        );
        assert!(
            matches!(err, Err(IssueError::InvalidValidity { .. })),
            "{nb} {days}: {err:?}"
        );
    }
    // Dates past 2049 are written as GeneralizedTime and still verify.
    let late = issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        "X",
        NOW,
        40_000,
        &ring::rand::SystemRandom::new(),
    );
    let late = late.unwrap();
    let consortium = Consortium::new(ca.cert_der.clone(), vec![]).unwrap();
    assert!(
        consortium
            .verify(&late.cert_der, at(NOW + DAY), None)
            .is_ok()
    );
}

#[test]
fn unreadable_certificates_say_how() {
    use crate::identity::Unreadable;
    use crate::identity::x509::parse_cert;
    let ca = new_ca("Unreadable CA");
    let mut longer = ca.cert_der.clone();
    longer.push(0);
    assert!(matches!(
        parse_cert(&longer),
        Err(CertError::Malformed(Unreadable::TrailingBytes))
    ));
    let cut = &ca.cert_der[..ca.cert_der.len() - 10];
    assert!(
        matches!(
            parse_cert(cut),
            Err(CertError::Malformed(Unreadable::Truncated))
        ),
        "{:?}",
        parse_cert(cut).err()
    );
    assert!(matches!(
        parse_cert(&[0x30, 0x03, 0x02, 0x01, 0xff]),
        Err(CertError::Malformed(Unreadable::Der(_)))
    ));
}
