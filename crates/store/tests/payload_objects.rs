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
    // A second store on the same bucket under another prefix sees none of them.
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path(), &server, "hospital-2/");
    assert!(!other.has_payload(&hashes[0]).unwrap());
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

    // A planted location far longer than any payload reads at most a frame and is damage.
    let mut huge = vec![1u8];
    huge.extend_from_slice(&(8u32 << 20).to_be_bytes());
    let planted = PayloadHash::of(b"planted");
    tamper::plant_raw(&mut store, "payload_index", planted.as_bytes(), Some(&huge)).unwrap();
    payload_damage(store.payload(&planted));

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
