//! Grants in the chain crate: only a record's own chain grants it; the decision reads the
//! owner's chain; a released key opens only for its member and entry, and the grantee keeps it
//! under its own node key; an erased payload is absent by design for the verifier.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::grants::{Erasures, PatientTerms, Standing};
use medchain_chain::{AuthorError, KeepError, KeyRing, Reads};
use medchain_protocol::identity::{EncryptionKey, Role};
use medchain_protocol::sealed::{SecretKey, WrappingKey};
use medchain_protocol::{EntryError, EntryKind};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::chain_blocks;
use medchain_testkit::pki::*;

#[test]
fn a_grant_opens_one_record_to_one_member_and_its_key_travels_to_that_member_only() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let b_member = c.member(Role::Provider, "Hospital B");
    let b_encryption = b_member.encryption_key.to_pkcs8_der();
    let b = author_of(&b_member);
    let mut owner = c.ledger();
    let body = r#"{"resourceType":"Observation","note":"granted"}"#;
    let written = owner
        .author(
            &a,
            vec![create("MRN-1", body), create("MRN-1", body)],
            now_ms(),
        )
        .unwrap();
    let (first, second) = (written[0].refs[0], written[0].refs[1]);
    let record = written[0].records[0];

    // Another chain cannot grant A's record: the protocol refuses it at authoring.
    let mut other = c.ledger();
    let refused = other
        .author(
            &b,
            vec![terms(EntryKind::Grant, first, Some("Hospital B"), false)],
            now_ms(),
        )
        .unwrap_err();
    assert!(
        matches!(
            refused,
            AuthorError::Entry {
                error: EntryError::NotOwnRecord { .. },
                ..
            }
        ),
        "{refused}"
    );

    owner
        .author(
            &a,
            vec![terms(EntryKind::Grant, first, Some("Hospital B"), false)],
            now_ms(),
        )
        .unwrap();
    let reads = Reads::new(owner.store().clone());
    let decision = PatientTerms::read(&reads, &first.chain, &patient("MRN-1")).unwrap();
    assert_eq!(
        decision.standing(&first, &record, "Hospital B"),
        Standing::Open
    );
    assert_eq!(
        decision.standing(&first, &record, "Auditors"),
        Standing::Closed
    );
    let other_record = written[0].records[1];
    assert_eq!(
        decision.standing(&second, &other_record, "Hospital B"),
        Standing::Closed
    );

    // The owner releases the key to B's encryption key; B's node keeps it under its own node
    // key, and B's ring then opens the payload from B's copy of the chain.
    let released = a
        .keys()
        .release(owner.store(), &first, &b_member.encryption_key.public_key())
        .unwrap();
    let mut grantee = c.ledger();
    let (_, failure) = grantee.ingest_range(chain_blocks(&owner, &first.chain), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    medchain_testkit::ledgers::copy_payloads(&owner, &mut grantee, &first.chain);
    let b_ring = KeyRing::new(WrappingKey::new(SecretKey::from_bytes([0x42; 32]), 1))
        .with_encryption_key(EncryptionKey::from_pkcs8_der(&b_encryption).unwrap());
    // Presented as another entry's key, or opened by another member, it does not open.
    let (kept, failed) = grantee.keep_released_keys(&b_ring, &[(second, released.to_vec())]);
    assert!(kept.is_empty());
    assert!(matches!(failed[..], [(_, KeepError::Open { .. })]));
    let stranger = KeyRing::new(WrappingKey::new(SecretKey::from_bytes([0x43; 32]), 1))
        .with_encryption_key(EncryptionKey::derive(&[9; 32]));
    let (kept, _) = grantee.keep_released_keys(&stranger, &[(first, released.to_vec())]);
    assert!(kept.is_empty());
    let (kept, failed) = grantee.keep_released_keys(&b_ring, &[(first, released.to_vec())]);
    assert_eq!(kept, vec![first]);
    assert!(failed.is_empty());
    let block = chain_blocks(&grantee, &first.chain).remove(0);
    let opened = b_ring
        .open(grantee.store(), &first, &block.entries[0])
        .unwrap();
    assert_eq!(opened.as_slice(), body.as_bytes());
}

#[test]
fn an_erased_payload_is_absent_by_design_for_the_verifier() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut owner = c.ledger();
    let body = r#"{"resourceType":"Observation"}"#;
    let written = owner
        .author(
            &a,
            vec![create("MRN-1", body), create("MRN-1", body)],
            now_ms(),
        )
        .unwrap();
    let (first, second) = (written[0].refs[0], written[0].refs[1]);
    owner
        .author(
            &a,
            vec![terms(EntryKind::Erase, first, None, false)],
            now_ms(),
        )
        .unwrap();
    let blocks = chain_blocks(&owner, &first.chain);
    let erasures = Erasures::of_chain(owner.store(), &first.chain).unwrap();
    assert!(erasures.erased(&first, &blocks[0].entries[0]));
    assert!(!erasures.erased(&second, &blocks[0].entries[1]));

    // The erased ciphertext goes; the verifier neither misses it nor calls it damage. The
    // other record's payload, taken away too, is missing (to fetch), as before.
    let hashes: Vec<_> = blocks[0]
        .entries
        .iter()
        .map(|e| e.payload.as_ref().unwrap().hash)
        .collect();
    let report = medchain_chain::verifier::scan(owner.store(), &c.trust(), now_ms()).unwrap();
    assert_eq!(
        report.erased_payloads,
        vec![hashes[0]],
        "held, and only erased entries name it"
    );
    owner.delete_payloads(&hashes[..1]).unwrap();
    let report = medchain_chain::verifier::scan(owner.store(), &c.trust(), now_ms()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(report.missing_payloads.is_empty(), "{report:?}");
    assert!(report.erased_payloads.is_empty(), "deleted already");
    owner.delete_payloads(&hashes[1..]).unwrap();
    let report = medchain_chain::verifier::scan(owner.store(), &c.trust(), now_ms()).unwrap();
    assert_eq!(report.missing_payloads, vec![hashes[1]]);
}
