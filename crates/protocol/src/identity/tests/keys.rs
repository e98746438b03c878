//! MemberKey: PKCS#8 v1/v2 loading, PEM, signing, seeds, and refusal of other keys.

use ed25519::KeypairBytes;
use ed25519::pkcs8::EncodePrivateKey;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use super::{member, new_ca};
use crate::identity::{KeyError, MemberKey, Role, verify_ed25519};

/// RFC 8410 PKCS#8 v1 (no public key) for an Ed25519 seed.
fn pkcs8_v1(seed: &[u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    der
}

#[test]
fn sign_verify_round_trip() {
    let ca = new_ca("Consortium");
    let m = member(&ca, Role::Provider, "St Mary");
    let key = MemberKey::from_pkcs8_der(&m.key_pkcs8_der).unwrap();
    assert_eq!(key.public_key(), m.public_key);
    let sig = key.sign(b"record 42");
    assert!(verify_ed25519(&key.public_key(), b"record 42", &sig));
    assert!(!verify_ed25519(&key.public_key(), b"record 43", &sig));
    let mut bad = sig;
    bad[0] ^= 1;
    assert!(!verify_ed25519(&key.public_key(), b"record 42", &bad));
}

/// A PKCS#8 v2 document (seed and public key) as ring and rcgen write it.
fn pkcs8_v2() -> Vec<u8> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_der()
}

#[test]
fn v2_and_v1_load_the_same_key() {
    let v2 = pkcs8_v2();
    assert_eq!(v2[4], 0x01, "version 1 = PKCS#8 v2 (OneAsymmetricKey)");
    let from_v2 = MemberKey::from_pkcs8_der(&v2).unwrap();
    assert_eq!(
        from_v2.public_key(),
        Ed25519KeyPair::from_pkcs8(&v2)
            .unwrap()
            .public_key()
            .as_ref()
    );
    // Our export is v1; it matches the `ed25519` crate's encoder byte for byte.
    let v1 = from_v2.to_pkcs8_der();
    let reference = KeypairBytes {
        secret_key: *from_v2.secret_seed(),
        public_key: None,
    }
    .to_pkcs8_der()
    .unwrap();
    assert_eq!(v1.as_slice(), reference.as_bytes());
    assert_eq!(v1.as_slice(), pkcs8_v1(&from_v2.secret_seed()));
    let from_v1 = MemberKey::from_pkcs8_der(&v1).unwrap();
    assert_eq!(from_v1.public_key(), from_v2.public_key());
    assert_eq!(*from_v1.secret_seed(), *from_v2.secret_seed());
    // ring's strict `from_pkcs8` refuses v1, so this path really goes through `ed25519`.
    assert!(Ed25519KeyPair::from_pkcs8(&v1).is_err());
    assert!(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1).is_ok());
    // PEM of both forms.
    let pem = from_v2.to_pkcs8_pem();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(
        MemberKey::from_pkcs8_pem(&pem).unwrap().public_key(),
        from_v2.public_key()
    );
    let v2_pem = rcgen::KeyPair::try_from(v2.as_slice())
        .unwrap()
        .serialize_pem();
    assert_eq!(
        MemberKey::from_pkcs8_pem(&v2_pem).unwrap().public_key(),
        from_v2.public_key()
    );
    // Issued keys load from DER and PEM.
    let ca = new_ca("Consortium");
    let der = MemberKey::from_pkcs8_der(&ca.key_pkcs8_der).unwrap();
    let pem = MemberKey::from_pkcs8_pem(&ca.key_pkcs8_pem).unwrap();
    assert_eq!(der.public_key(), pem.public_key());
}

#[test]
fn secret_seed_regenerates_the_public_key() {
    let ca = new_ca("Consortium");
    let key = MemberKey::from_pkcs8_der(&ca.key_pkcs8_der).unwrap();
    let seed = key.secret_seed();
    let again = Ed25519KeyPair::from_seed_and_public_key(&seed[..], &key.public_key()).unwrap();
    assert_eq!(again.public_key().as_ref(), key.public_key());
    let unchecked = Ed25519KeyPair::from_seed_unchecked(&seed[..]).unwrap();
    assert_eq!(unchecked.public_key().as_ref(), key.public_key());
}

#[test]
fn refuses_bad_keys() {
    assert!(matches!(
        MemberKey::from_pkcs8_der(b""),
        Err(KeyError::Pkcs8(_))
    ));
    assert!(matches!(
        MemberKey::from_pkcs8_der(&[0x30, 0x03, 0x02]),
        Err(KeyError::Pkcs8(_))
    ));
    let ca = new_ca("Consortium");
    let der = &ca.key_pkcs8_der[..];
    for len in 0..der.len() {
        assert!(MemberKey::from_pkcs8_der(&der[..len]).is_err(), "len {len}");
    }
    // v2 whose public key does not belong to the seed.
    let mut tampered = pkcs8_v2();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x55;
    assert!(matches!(
        MemberKey::from_pkcs8_der(&tampered),
        Err(KeyError::PublicKeyMismatch)
    ));
    // An ECDSA key.
    let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    assert!(matches!(
        MemberKey::from_pkcs8_der(&p256.serialize_der()),
        Err(KeyError::NotEd25519)
    ));
    assert!(matches!(
        MemberKey::from_pkcs8_pem("no pem here"),
        Err(KeyError::Pem(_))
    ));
    assert!(matches!(
        MemberKey::from_pkcs8_pem(&ca.cert_pem),
        Err(KeyError::Pem(_))
    ));
}
