//! Authoring seals every payload where its position is known: the block commits to ciphertext,
//! the store holds ciphertext and the data key wrapped, and only a ring with the node's wrapping
//! key opens it. A peer that ingests the block holds the ciphertext and no key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{KeyRing, OpenError};
use medchain_protocol::identity::Role;
use medchain_protocol::sealed::{SecretKey, TAG_BYTES, WrappingKey};
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
        assert_eq!(stored.len(), body.len() + TAG_BYTES);
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
