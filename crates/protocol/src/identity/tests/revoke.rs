//! Revocation: cumulative CRLs, idempotence, CRL numbers, and refusal of foreign CRLs.

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::{DAY, NOW, member, new_ca};
use crate::identity::{
    CRL_VALIDITY_DAYS, CertError, Consortium, CrlDefect, IssueError, Role, crl_to_pem,
    pem_to_der_crl, revoke,
};

fn at(t: i64) -> u64 {
    u64::try_from(t).unwrap()
}

/// (cRLNumber, serials) of a CRL.
fn contents(der: &[u8]) -> (u64, Vec<Vec<u8>>) {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap();
    let number = crl
        .crl_number()
        .unwrap()
        .iter_u64_digits()
        .next()
        .unwrap_or(0);
    let serials = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect();
    (number, serials)
}

#[test]
fn revoked_certificate_is_refused_others_still_pass() {
    let ca = new_ca("Consortium");
    let (a, b, c) = (
        member(&ca, Role::Provider, "A"),
        member(&ca, Role::Provider, "B"),
        member(&ca, Role::Auditor, "C"),
    );
    let crl1 = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &a.cert_der, NOW).unwrap();
    assert_eq!(contents(&crl1), (1, vec![a.serial.clone()]));
    let (_, parsed) = CertificateRevocationList::from_der(&crl1).unwrap();
    assert_eq!(parsed.last_update().timestamp(), NOW);
    assert_eq!(
        parsed.next_update().unwrap().timestamp(),
        NOW + i64::from(CRL_VALIDITY_DAYS) * DAY
    );

    let consortium = Consortium::new(ca.cert_der.clone(), vec![crl1.clone()]).unwrap();
    let err = consortium
        .verify(&a.cert_der, at(NOW), Some(Role::Provider))
        .unwrap_err();
    assert!(matches!(err, CertError::Revoked), "{err:?}");
    assert!(
        consortium
            .verify(&b.cert_der, at(NOW), Some(Role::Provider))
            .is_ok()
    );

    // Second revocation keeps the first; revoking again is idempotent.
    let crl2 = revoke(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Some(&crl1),
        &b.cert_der,
        NOW + DAY,
    )
    .unwrap();
    assert_eq!(
        contents(&crl2),
        (2, vec![a.serial.clone(), b.serial.clone()])
    );
    let crl3 = revoke(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Some(&crl2),
        &a.cert_der,
        NOW + 2 * DAY,
    )
    .unwrap();
    assert_eq!(
        contents(&crl3),
        (3, vec![a.serial.clone(), b.serial.clone()])
    );

    let consortium = Consortium::new(ca.cert_der.clone(), vec![crl3.clone()]).unwrap();
    // The newest list's number is what a node compares an incoming list with.
    assert_eq!(consortium.crl_number(), Some(3));
    let older = Consortium::new(ca.cert_der.clone(), vec![crl1.clone()]).unwrap();
    assert_eq!(older.crl_number(), Some(1));
    assert_eq!(
        Consortium::new(ca.cert_der.clone(), vec![])
            .unwrap()
            .crl_number(),
        None
    );
    for m in [&a, &b] {
        let err = consortium
            .verify(&m.cert_der, at(NOW + 3 * DAY), None)
            .unwrap_err();
        assert!(matches!(err, CertError::Revoked), "{err:?}");
    }
    assert!(
        consortium
            .verify(&c.cert_der, at(NOW + 3 * DAY), None)
            .is_ok()
    );

    // PEM round trip of the CRL.
    assert_eq!(pem_to_der_crl(&crl_to_pem(&crl3)).unwrap(), crl3);
}

#[test]
fn every_crl_counts_whatever_the_order() {
    let ca = new_ca("Consortium");
    let (a, b) = (
        member(&ca, Role::Provider, "A"),
        member(&ca, Role::Provider, "B"),
    );
    // Two independent (non-cumulative) CRLs, both numbered 1.
    let only_a = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &a.cert_der, NOW).unwrap();
    let only_b = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &b.cert_der, NOW).unwrap();
    for crls in [vec![only_a.clone(), only_b.clone()], vec![only_b, only_a]] {
        let consortium = Consortium::new(ca.cert_der.clone(), crls).unwrap();
        for m in [&a, &b] {
            let err = consortium.verify(&m.cert_der, at(NOW), None).unwrap_err();
            assert!(matches!(err, CertError::Revoked), "{err:?}");
        }
    }
}

#[test]
fn foreign_or_broken_crls_are_refused() {
    let ca = new_ca("Consortium");
    let m = member(&ca, Role::Provider, "A");
    let other = new_ca("Other");
    let om = member(&other, Role::Provider, "X");
    let foreign = revoke(
        &other.cert_der,
        &other.key_pkcs8_der,
        None,
        &om.cert_der,
        NOW,
    )
    .unwrap();
    let err = Consortium::new(ca.cert_der.clone(), vec![foreign.clone()]).unwrap_err();
    assert!(
        matches!(
            err,
            CertError::BadCrl {
                index: 0,
                reason: CrlDefect::WrongIssuer
            }
        ),
        "{err:?}"
    );
    // Same name, different key.
    let twin = new_ca("Consortium");
    let tm = member(&twin, Role::Provider, "X");
    let twin_crl = revoke(&twin.cert_der, &twin.key_pkcs8_der, None, &tm.cert_der, NOW).unwrap();
    let ours = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &m.cert_der, NOW).unwrap();
    let err = Consortium::new(ca.cert_der.clone(), vec![ours.clone(), twin_crl.clone()]);
    assert!(
        matches!(
            err,
            Err(CertError::BadCrl {
                index: 1,
                reason: CrlDefect::BadSignature
            })
        ),
        "{err:?}"
    );
    let mut tampered = ours.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let err = Consortium::new(ca.cert_der.clone(), vec![tampered]);
    assert!(matches!(
        err,
        Err(CertError::BadCrl {
            reason: CrlDefect::BadSignature,
            ..
        })
    ));
    for len in 0..ours.len() {
        let err = Consortium::new(ca.cert_der.clone(), vec![ours[..len].to_vec()]);
        assert!(matches!(
            err,
            Err(CertError::BadCrl {
                reason: CrlDefect::Malformed(_),
                ..
            })
        ));
    }

    // revoke() refuses a foreign existing CRL and a foreign certificate.
    let err = revoke(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Some(&twin_crl),
        &m.cert_der,
        NOW,
    );
    assert!(
        matches!(err, Err(IssueError::ExistingCrl(CrlDefect::BadSignature))),
        "{err:?}"
    );
    let err = revoke(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Some(&foreign),
        &m.cert_der,
        NOW,
    );
    assert!(
        matches!(err, Err(IssueError::ExistingCrl(CrlDefect::WrongIssuer))),
        "{err:?}"
    );
    let err = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &tm.cert_der, NOW);
    assert!(
        matches!(err, Err(IssueError::ForeignCertificate)),
        "{err:?}"
    );
    let err = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &om.cert_der, NOW);
    assert!(
        matches!(err, Err(IssueError::ForeignCertificate)),
        "{err:?}"
    );
    let err = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, b"junk", NOW);
    assert!(
        matches!(err, Err(IssueError::Certificate(CertError::Malformed(_)))),
        "{err:?}"
    );
    let err = revoke(&ca.cert_der, &other.key_pkcs8_der, None, &m.cert_der, NOW);
    assert!(matches!(err, Err(IssueError::KeyMismatch)), "{err:?}");
    let err = revoke(&ca.cert_der, &ca.key_pkcs8_der, None, &m.cert_der, -5);
    assert!(
        matches!(err, Err(IssueError::InvalidValidity { .. })),
        "{err:?}"
    );
}
