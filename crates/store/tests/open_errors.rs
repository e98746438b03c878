//! Opening what cannot be opened gives `Unopenable`, never a panic.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use medchain_store::{Damage, Store, StoreError};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

fn reason(result: Result<Store, StoreError>) -> Damage {
    match result {
        Err(StoreError::Unopenable { reason, .. }) => reason,
        Err(other) => panic!("expected Unopenable, got {other}"),
        Ok(_) => panic!("expected Unopenable, got a store"),
    }
}

/// Every regular file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A regular file where the store should be is the operator's to fix (a misconfigured path),
/// not damage to move aside.
#[test]
fn a_regular_file_is_a_start_up_error_not_unopenable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"hello").unwrap();
    match Store::open(&file) {
        Err(StoreError::Io { detail, .. }) => {
            assert!(detail.contains("Not a directory"), "{detail}")
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn garbage_files_are_unopenable() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    for file in files(dir.path()) {
        let len = std::fs::metadata(&file).unwrap().len().max(64) as usize;
        let garbage: Vec<u8> = (0..len).map(|i| (i * 151 + 7) as u8).collect();
        std::fs::write(&file, garbage).unwrap();
    }
    // sled checks its `conf` file first, and refuses this one.
    let why = reason(Store::open(dir.path()));
    println!("garbage: {why}");
    assert!(
        matches!(why, Damage::Engine(_) | Damage::Panicked(_)),
        "sled's own refusal, typed as such: {why:?}"
    );
}

/// A store with chain `c` (20 blocks of 5 entries) at `dir`, closed again.
fn filled(dir: &Path) -> Chain {
    let mut store = Store::open(dir).unwrap();
    let mut c = Chain::new(1);
    for _ in 0..20 {
        c.push_creates(5);
    }
    commit(&mut store, &c.blocks);
    c
}

/// Damage at the start of sled's log (where its metadata is): sled 0.34 does not fail, it starts
/// a new, empty database in the same files. The store notices and refuses.
#[test]
fn a_damaged_log_start_is_unopenable_not_silently_empty() {
    for damage in [0x00u8, 0xa5] {
        let dir = tempfile::tempdir().unwrap();
        filled(dir.path());
        let db = dir.path().join("db");
        let mut bytes = std::fs::read(&db).unwrap();
        let half = bytes.len() / 2;
        bytes[..half].fill(damage);
        std::fs::write(&db, &bytes).unwrap();
        let why = reason(Store::open(dir.path()));
        assert_eq!(why, Damage::NotRecovered, "{why}");
    }
}

/// Damage at the end of sled's log: sled 0.34 recovers the longest sound prefix of its log and
/// opens without error, silently rolled back to an older state (here, typically, before the
/// blocks were committed). The store cannot tell this from an older store; what it guarantees is
/// no panic, and reads that are still checked. Peers refill the chains (and the node must not
/// author from such a store without comparing its own head with the network's).
#[test]
fn a_damaged_log_tail_rolls_back_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let c = filled(dir.path());
    let db = dir.path().join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&db, &bytes).unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::Unopenable { reason, .. }) => println!("unopenable: {reason}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(store) => {
            let head = store.head(&c.id).unwrap();
            println!(
                "rolled back to head {head:?}, {} blocks",
                store.block_count()
            );
            assert!(head.is_none_or(|h| h.height < 20));
            for height in 0..20 {
                match store.block_at(&c.id, height) {
                    Ok(None) | Err(StoreError::Corrupt(_)) => {}
                    Ok(Some(block)) => assert_eq!(block, c.blocks[height as usize]),
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
        }
    }
}

/// A second instance on the same store is not damage: it is `Locked`, never `Unopenable` (which
/// would make the node move a healthy store aside and rebuild it).
#[test]
fn a_store_already_open_is_locked_not_unopenable() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    // sled holds an exclusive lock on its files, even against the same process.
    match Store::open(dir.path()) {
        Err(StoreError::Locked { path }) => assert!(path.contains(&*dir.path().to_string_lossy())),
        other => panic!("expected Locked, got {other:?}"),
    }
}
