//! The S3 payload backend against a real SeaweedFS server on loopback: payloads go to the
//! bucket (not the disk) and survive a reopen, damage in the bucket is damage to the payload and
//! a put repairs it, an erase deletes the object, and an object store that is down or missing
//! is an error of its own, never damage and never a commit of a payload the bucket lacks.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::PayloadHash;
use medchain_store::{Corruption, Store, StoreError, StoreOptions, tamper};
use medchain_testkit::seaweed::Seaweed;

fn open(dir: &std::path::Path, server: &Seaweed, prefix: &str) -> Store {
    Store::open_with(dir, &options(server, prefix)).unwrap()
}

fn options(server: &Seaweed, prefix: &str) -> StoreOptions {
    StoreOptions {
        cache_bytes: medchain_store::CACHE_BYTES,
        objects: Some(server.settings(prefix)),
    }
}

fn payload_damage(result: Result<Option<Vec<u8>>, StoreError>) -> Corruption {
    match result {
        Err(StoreError::Corrupt(corruption)) => {
            assert!(corruption.damaged_payload().is_some(), "{corruption}");
            corruption
        }
        other => panic!("expected damage to a payload, got {other:?}"),
    }
}

/// A `payload_index` value: kind 1 (an object), payload length.
fn object_location(len: usize) -> Vec<u8> {
    let mut value = vec![1u8];
    value.extend_from_slice(&(len as u32).to_be_bytes());
    value
}

fn on_disk(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir.join("payloads")).unwrap().any(|e| {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

#[test]
fn payloads_live_in_the_bucket_and_survive_a_reopen() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let payloads: Vec<Vec<u8>> = (0..40u8)
        .map(|i| format!("sealed payload {i} ").repeat(60).into_bytes())
        .collect();
    let hashes = {
        let mut store = open(dir.path(), &server, "hospital-1/");
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        store.put_payloads(&refs).unwrap()
    };
    assert!(!on_disk(dir.path(), &payloads[0][..64]));
    // A second store on the same bucket reads under its own prefix only: told the payload is
    // there, it finds no object.
    let other_dir = tempfile::tempdir().unwrap();
    let mut other = open(other_dir.path(), &server, "hospital-2/");
    tamper::plant_raw(
        &mut other,
        "payload_index",
        hashes[0].as_bytes(),
        Some(&object_location(payloads[0].len())),
    )
    .unwrap();
    match other.payload(&hashes[0]) {
        Err(StoreError::Corrupt(Corruption::PayloadUnreadable { detail, .. })) => {
            assert!(detail.contains("missing"), "{detail}")
        }
        read => panic!("expected a missing object, got {read:?}"),
    }
    drop(other);

    let store = open(dir.path(), &server, "hospital-1/");
    assert_eq!(store.payload_count(), 40);
    for (hash, payload) in hashes.iter().zip(&payloads) {
        assert!(store.has_payload(hash).unwrap());
        assert_eq!(store.payload(hash).unwrap().as_ref(), Some(payload));
    }
    let refs = hashes
        .iter()
        .zip(&payloads)
        .map(|(h, p)| (*h, p.len() as u64))
        .collect();
    let pass = store.check_payloads_in_order(refs).unwrap();
    assert_eq!(
        (pass.held, pass.missing.len(), pass.damaged.len()),
        (40, 0, 0)
    );
}

#[test]
fn damage_in_the_bucket_is_damage_and_a_put_repairs_it() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), &server, "");
    let payloads: [&[u8]; 3] = [b"first record", b"second record", b"third record"];
    let hashes = store.put_payloads(&payloads).unwrap();

    // Altered in place (same length), replaced by something longer, and deleted.
    tamper::overwrite_payload(&mut store, &hashes[0], b"FIRST RECORD").unwrap();
    tamper::overwrite_payload(&mut store, &hashes[1], b"a longer forged record").unwrap();
    assert!(tamper::delete_payload_segment(&mut store, &hashes[2]).unwrap());
    for hash in &hashes[..2] {
        assert!(matches!(
            payload_damage(store.payload(hash)),
            Corruption::PayloadHashMismatch { .. }
        ));
    }
    assert!(matches!(
        payload_damage(store.payload(&hashes[2])),
        Corruption::PayloadUnreadable { .. }
    ));
    let refs = hashes
        .iter()
        .zip(payloads)
        .map(|(h, p)| (*h, p.len() as u64))
        .collect();
    let pass = store.check_payloads_in_order(refs).unwrap();
    assert_eq!(pass.held, 0);
    assert_eq!(pass.damaged.len(), 3);

    // An object longer than its location says: read no further than the frame (and a byte),
    // and damage.
    let mut longer = b"second record".to_vec();
    longer.extend_from_slice(&[b'!'; 4096]);
    tamper::overwrite_payload(&mut store, &hashes[1], &longer).unwrap();
    let location = object_location(payloads[1].len());
    tamper::plant_raw(
        &mut store,
        "payload_index",
        hashes[1].as_bytes(),
        Some(&location),
    )
    .unwrap();
    match payload_damage(store.payload(&hashes[1])) {
        Corruption::PayloadUnreadable { detail, .. } => {
            assert!(detail.contains("longer"), "{detail}")
        }
        other => panic!("{other}"),
    }

    // The repair: the payloads stored again, as fetched from a peer.
    store.put_payloads(&payloads).unwrap();
    for (hash, payload) in hashes.iter().zip(payloads) {
        assert_eq!(store.payload(hash).unwrap().as_deref(), Some(payload));
    }
}

#[test]
fn an_erased_payload_leaves_the_bucket() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), &server, "erase/");
    let hashes = store
        .put_payloads(&[b"to be erased", b"to be kept"])
        .unwrap();
    store.delete_payloads(&hashes[..1]).unwrap();
    assert!(!store.has_payload(&hashes[0]).unwrap());
    assert_eq!(store.payload(&hashes[0]).unwrap(), None);
    // Its location planted back: the object it named is gone.
    let mut location = vec![1u8];
    location.extend_from_slice(&12u32.to_be_bytes());
    tamper::plant_raw(
        &mut store,
        "payload_index",
        hashes[0].as_bytes(),
        Some(&location),
    )
    .unwrap();
    match store.payload(&hashes[0]) {
        Err(StoreError::Corrupt(Corruption::PayloadUnreadable { detail, .. })) => {
            assert!(detail.contains("missing"), "{detail}")
        }
        other => panic!("expected a missing object, got {other:?}"),
    }
    assert_eq!(
        store.payload(&hashes[1]).unwrap().as_deref(),
        Some(&b"to be kept"[..])
    );
    // The bucket emptied or misrouted (its marker gone too): a missing object is then not
    // damage but an unreachable object store, for a read, a scan and an erase alike.
    tamper::delete_object_marker(&mut store).unwrap();
    let read = store.payload(&hashes[0]);
    assert!(
        matches!(read, Err(StoreError::ObjectStore { .. })),
        "{read:?}"
    );
    let scan = store.check_payloads_in_order(vec![(hashes[0], 12), (hashes[1], 10)]);
    assert!(
        matches!(scan, Err(StoreError::ObjectStore { .. })),
        "{scan:?}"
    );
    // Nor does the store open on that bucket again: it would take every payload for lost.
    drop(store);
    match Store::open_with(dir.path(), &options(&server, "erase/")) {
        Err(StoreError::ObjectStore { detail, .. }) => {
            assert!(detail.contains("marker"), "{detail}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_object_location_in_a_store_that_never_had_an_object_store_is_damage() {
    // No server needed: the store never had one, so the location was planted.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let planted = PayloadHash::of(b"planted");
    tamper::plant_raw(
        &mut store,
        "payload_index",
        planted.as_bytes(),
        Some(&object_location(7)),
    )
    .unwrap();
    payload_damage(store.payload(&planted));
    let pass = store.check_payloads_in_order(vec![(planted, 7)]).unwrap();
    assert_eq!(pass.damaged, vec![planted]);
}

#[test]
fn an_object_store_that_is_down_or_absent_is_an_error_not_damage() {
    let Some(mut server) = Seaweed::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path(), &server, "down/");
    let held = store.put_payloads(&[b"stored while up"]).unwrap()[0];

    server.stop();
    let read = store.payload(&held);
    assert!(
        matches!(read, Err(StoreError::ObjectStore { .. })),
        "{read:?}"
    );
    // Nothing is indexed for a payload the bucket did not take.
    let refused = PayloadHash::of(b"stored while down");
    let put = store.put_payloads(&[b"stored while down"]);
    assert!(
        matches!(put, Err(StoreError::ObjectStore { .. })),
        "{put:?}"
    );
    assert!(!store.has_payload(&refused).unwrap());
    drop(store);
    // Opening fails while it is down, naming the object store, and keeps the store.
    match Store::open_with(dir.path(), &options(&server, "down/")) {
        Err(error @ StoreError::ObjectStore { .. }) => {
            assert!(!error.is_corruption());
            assert!(error.to_string().contains(&server.endpoint), "{error}");
        }
        other => panic!("expected an object store error, got {other:?}"),
    }

    server.restart();
    let store = open(dir.path(), &server, "down/");
    assert_eq!(
        store.payload(&held).unwrap().as_deref(),
        Some(&b"stored while up"[..])
    );
    drop(store);
    // Opened without its object store: those reads fail as a configuration error.
    let store = Store::open(dir.path()).unwrap();
    let read = store.payload(&held);
    assert!(
        matches!(read, Err(StoreError::ObjectStore { .. })),
        "{read:?}"
    );
}

#[test]
fn a_prefix_another_store_took_over_is_refused() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut store = open(first.path(), &server, "shared/");
    let hash = store.put_payloads(&[b"the first store's"]).unwrap()[0];
    drop(store);
    // A second node configured with the same prefix (a copy-pasted configuration).
    drop(open(second.path(), &server, "shared/"));
    match Store::open_with(first.path(), &options(&server, "shared/")) {
        Err(StoreError::ObjectStore { detail, .. }) => {
            assert!(detail.contains("another store's marker"), "{detail}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The second store's own payloads are untouched by the refusal.
    let second = open(second.path(), &server, "shared/");
    assert!(!second.has_payload(&hash).unwrap());
}
