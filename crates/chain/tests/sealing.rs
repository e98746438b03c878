//! Authoring seals every payload where its position is known: the block commits to ciphertext,
//! the store holds ciphertext and the data key wrapped, and only a ring with the node's wrapping
//! key opens it. A peer that ingests the block holds the ciphertext and no key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{KeyRing, OpenError};
use medchain_protocol::identity::Role;
use medchain_protocol::sealed::{SEALING_OVERHEAD, SecretKey, WrappingKey};
use medchain_protocol::{Entry, EntryKind, PayloadHash};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::pki::*;

const MARKER: &str = "MARKER-5ac1e7";

#[test]
fn an_authored_payload_is_sealed_at_its_place_and_opens_only_with_the_ring() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital A");
    let provider = author_of(&member);
    let mut ledger = c.ledger();
    let body = format!(r#"{{"resourceType":"Observation","note":"{MARKER}"}}"#);
    let authored = ledger
        .author(
            &provider,
            vec![create("MRN-1", &body), create("MRN-2", &body)],
            now_ms(),
        )
        .unwrap();
    let block = authored[0].block.block().clone();
    let store = ledger.store().clone();
    let mut sealed_forms = Vec::new();
    for (index, entry) in block.entries.iter().enumerate() {
        let at = authored[0].refs[index];
        let reference = entry.payload.as_ref().unwrap();
        let stored = store.payload(&reference.hash).unwrap().unwrap();
        // The block commits to the ciphertext; the store holds nothing of the plaintext.
        assert_eq!(PayloadHash::of(&stored), reference.hash);
        assert_eq!(stored.len(), body.len() + SEALING_OVERHEAD);
        assert_eq!(reference.len as usize, stored.len());
        assert!(!String::from_utf8_lossy(&stored).contains(MARKER));
        assert_eq!(reference.content_type, "application/fhir+json");
        // The author's ring opens it.
        let opened = provider.keys().open(&store, &at, entry).unwrap();
        assert_eq!(opened.as_slice(), body.as_bytes());
        sealed_forms.push(stored);
    }
    // The same plaintext seals differently under each record's own key.
    assert_ne!(sealed_forms[0], sealed_forms[1]);

    // A ring with another wrapping key opens nothing; nor does the right ring at another place.
    let stranger = KeyRing::new(WrappingKey::new(SecretKey::from_bytes([0x11; 32]), 1));
    let first = authored[0].refs[0];
    assert!(matches!(
        stranger.open(&store, &first, &block.entries[0]),
        Err(OpenError::Key(_))
    ));
    let moved: Entry = Entry {
        record: block.entries[1].record,
        ..block.entries[0].clone()
    };
    assert!(matches!(
        provider.keys().open(&store, &first, &moved),
        Err(OpenError::Key(_))
    ));

    // A peer ingests the block: it holds and verifies the ciphertext, and no key.
    let mut peer = c.ledger();
    peer.commit(std::slice::from_ref(&authored[0].block))
        .unwrap();
    let peer_store = peer.store().clone();
    assert!(
        peer_store
            .payload(&block.entries[0].payload.as_ref().unwrap().hash)
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        provider.keys().open(&peer_store, &first, &block.entries[0]),
        Err(OpenError::NoKey)
    ));
    // Entries without a payload have nothing to open.
    let access = Entry {
        kind: EntryKind::Access,
        payload: None,
        ..block.entries[0].clone()
    };
    assert!(matches!(
        provider.keys().open(&store, &first, &access),
        Err(OpenError::NoPayload)
    ));
}

#[test]
fn a_deleted_key_is_gone_and_a_rotation_leaves_the_old_node_key_useless() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital A");
    let provider = author_of(&member);
    let keys = provider.keys().clone();
    let mut ledger = c.ledger();
    let drafts = (0..5)
        .map(|i| create(&format!("MRN-{i}"), r#"{"resourceType":"Observation"}"#))
        .collect();
    let authored = ledger.author(&provider, drafts, now_ms()).unwrap();
    let block = authored[0].block.block().clone();
    let refs = authored[0].refs.clone();
    let store = ledger.store().clone();
    let old_wrapped = store.data_key(&refs[0]).unwrap().unwrap();

    ledger.delete_data_keys(&refs[..1]).unwrap();
    assert!(matches!(
        keys.open(&store, &refs[0], &block.entries[0]),
        Err(OpenError::NoKey)
    ));
    // The rotation: every live key moves to generation 2; a second pass finds nothing to do.
    let next = WrappingKey::new(SecretKey::from_bytes([0x22; 32]), 2);
    keys.begin_rotation(next.clone());
    let done = ledger.rewrap_data_keys(&keys).unwrap();
    assert_eq!((done.rewrapped, done.already, done.unreadable), (4, 0, 0));
    let again = ledger.rewrap_data_keys(&keys).unwrap();
    assert_eq!((again.rewrapped, again.already), (0, 4));
    keys.finish_rotation();
    assert_eq!((keys.generation(), keys.rotating_to()), (2, None));
    for (at, entry) in refs.iter().zip(&block.entries).skip(1) {
        let wrapped = store.data_key(at).unwrap().unwrap();
        assert_eq!(
            medchain_protocol::sealed::wrapped_generation(&wrapped),
            Ok(2)
        );
        keys.open(&store, at, entry).unwrap();
    }
    // What an old log segment may still hold of the deleted key no longer opens: its node key
    // generation is gone from the ring.
    ledger
        .store_for_tampering()
        .put_data_keys(&[(refs[0], old_wrapped)])
        .unwrap();
    assert!(matches!(
        keys.open(&store, &refs[0], &block.entries[0]),
        Err(OpenError::Key(
            medchain_protocol::sealed::SealError::Generation {
                found: 1,
                expected: 2
            }
        ))
    ));
    // New keys are wrapped under generation 2; a key of no known generation is dropped by the
    // next rotation.
    keys.begin_rotation(WrappingKey::new(SecretKey::from_bytes([0x33; 32]), 3));
    let done = ledger.rewrap_data_keys(&keys).unwrap();
    assert_eq!((done.rewrapped, done.unreadable), (4, 1));
    keys.finish_rotation();
    assert_eq!(store.data_key(&refs[0]).unwrap(), None);
}
