//! A payload damaged in the store is fetched by hash from a peer and put back, whatever its
//! size, without quarantining the block that references it: with payloads in segment files
//! beside the store, and in S3-compatible object storage (a SeaweedFS server on loopback), the
//! same scenario, across a restart of the node whose payloads are there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use medchain_store::{Store, StoreOptions};
use medchain_testkit::seaweed::Seaweed;

/// Where the nodes of a scenario keep their payloads.
enum Backend<'a> {
    Segments,
    /// The server, and a credentials file for it.
    Objects(&'a Seaweed, &'a Path),
}

impl Backend<'_> {
    /// `medchain init`'s arguments for node `name` (plain HTTP API, as the harness speaks).
    fn init_args(&self, name: &str) -> Vec<String> {
        let mut args = vec!["--api-plain-http".to_owned()];
        if let Backend::Objects(server, credentials) = self {
            args.extend(server.init_args(&format!("{name}/"), credentials));
        }
        args
    }

    fn setup(&self, ca: &Ca, name: &str, role: &str, org: &str, peers: &[String]) -> Setup {
        let args = self.init_args(name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ca.node_with(name, role, org, peers, &args)
    }

    /// Opens a stopped node's store as the node does.
    fn open_store(&self, setup: &Setup, name: &str) -> Store {
        let options = StoreOptions {
            cache_bytes: medchain_store::CACHE_BYTES,
            objects: match self {
                Backend::Segments => None,
                Backend::Objects(server, _) => Some(server.settings(&format!("{name}/"))),
            },
        };
        Store::open_with(&setup.data.join("store"), &options).unwrap()
    }
}

/// The payload bytes in a store's segment files (their 16-byte headers aside).
fn segment_payload_bytes(setup: &Setup) -> u64 {
    std::fs::read_dir(setup.data.join("store/payloads"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len().saturating_sub(16))
        .sum()
}

fn damaged_payload_is_repaired_from_a_peer(backend: Backend) {
    let ca = Ca::new(BIN);
    let a_setup = backend.setup(&ca, "a", "provider", "Hospital A", &[]);
    let a = start(&a_setup);
    let b_setup = backend.setup(
        &ca,
        "b",
        "auditor",
        "Auditors",
        std::slice::from_ref(&a.p2p),
    );
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    let (record, hash) = write_large(&a, &a_setup.token);
    // The auditor holds the sealed payload (fetched by hash after the block).
    wait_payload_held(&b, &b_setup.token, &record);
    if let Backend::Objects(..) = backend {
        assert_eq!(segment_payload_bytes(&a_setup), 0);
        assert_eq!(segment_payload_bytes(&b_setup), 0);
    }
    let read = |a: &Node| {
        a.http(
            "GET",
            &format!("/v1/records/{record}"),
            &a_setup.token,
            None,
        )
    };
    assert_eq!(b.terminate(), 0);
    // Its stored copy is damaged while it is stopped.
    {
        let mut store = backend.open_store(&b_setup, "b");
        let mut bytes = store.payload(&hash).unwrap().unwrap();
        bytes[100] ^= 0x01;
        medchain_store::tamper::overwrite_payload(&mut store, &hash, &bytes).unwrap();
        assert!(store.payload(&hash).is_err());
    }
    let mut b = start(&b_setup);
    b.wait_for("damaged payloads found", Duration::from_secs(30));
    b.wait_for("payload restored from a peer", Duration::from_secs(30));
    let (status, text) = b.http(
        "GET",
        &format!("/v1/records/{record}/history"),
        &b_setup.token,
        None,
    );
    assert_eq!(status, 200);
    assert!(text.contains("\"payload_held\":true"), "{text}");
    // Restored exactly: the author still reads its payload; the auditor holds it sealed.
    let (status, text) = read(&a);
    assert_eq!(status, 200);
    assert!(text.contains("xxxx"), "{}", &text[..text.len().min(300)]);
    // No block was quarantined for it, and a fresh scan is clean.
    assert!(!b.seen.iter().any(|l| l.contains("erase completed")));
    let (_, report) = b.http("POST", "/v1/verify", &b_setup.token, None);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["violations"], serde_json::json!([]));
    assert_eq!(report["damaged_payloads"], serde_json::json!([]));
    assert_eq!(b.terminate(), 0);
    assert_eq!(a.terminate(), 0);
}

#[test]
fn a_damaged_large_payload_is_fetched_by_hash_and_its_block_stays() {
    damaged_payload_is_repaired_from_a_peer(Backend::Segments);
}

#[test]
fn a_damaged_payload_in_object_storage_is_repaired_the_same_way() {
    let Some(server) = Seaweed::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let credentials = server.credentials_file(dir.path());
    damaged_payload_is_repaired_from_a_peer(Backend::Objects(&server, &credentials));
}
