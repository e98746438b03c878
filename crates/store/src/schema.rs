//! The schema version: checked (or written, in a new store) when a store opens, and the
//! migrations from older versions. Versions 1 and 2 hold protocol version 1's plaintext payloads
//! and are refused (see [`SCHEMA_VERSION`]).

use crate::error::{Damage, EngineResult, StoreError};
use crate::open::{Store, Trees};

/// The schema version this build writes and reads. Bump it on any layout change, with a
/// migration from the one before where one is possible.
///
/// - 1: the first layout.
/// - 2 (2026-11-27): access entries in `accesses` only, not in the other entry indexes.
/// - 3 (2026-11-28): protocol version 2 (sealed payloads), wrapped data keys in `data_keys`.
///   Stores of version 1 and 2 hold protocol 1's blocks, whose payloads are plaintext and
///   signed as such by their authors: no migration can seal them, so they are refused.
/// - 4 (2026-11-28): payloads in segment files beside the database, their locations in
///   `payload_index` (the `payloads` tree is gone). Version 3 migrates when it opens.
/// - 5 (2026-11-29): no `prov_up` tree (child -> parent edges: no query read it, and an entry's
///   parents are in its block), one write fewer per parent an entry names. Versions 3 and 4
///   migrate when they open (the tree is dropped).
pub const SCHEMA_VERSION: u32 = 5;
/// The tree schema 5 dropped.
const DROPPED_PROV_UP: &[u8] = b"prov_up";
/// The key of the schema version in `meta` (value: u32 BE).
pub(crate) const SCHEMA_KEY: &[u8] = b"schema_version";
/// Present in `meta` once the store was opened with an object store, its value the store's id
/// (16 bytes, also in the bucket's marker object): before that, an object location (kind 1) in
/// `payload_index` was planted, and is damage.
pub(crate) const OBJECTS_KEY: &[u8] = b"payload_objects";

/// Why the schema check failed, by what the node must do about it.
pub(crate) enum Failure {
    /// The store is damaged (or not a medchain store): move it aside and rebuild.
    Damaged(Damage),
    /// Not damage: the operating system refused (a full disk during a migration, say), or the
    /// store was written by a newer build. The operator's to fix; the store is kept.
    Refused(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        if error.is_corruption() {
            Failure::Damaged(Damage::Read(error.to_string()))
        } else {
            Failure::Refused(error)
        }
    }
}

/// Checks (or, in a new store, writes) the schema version; returns the version found (this
/// build's, or an older one [`migrate`] takes to it). Every
/// store this crate creates gets its version written and flushed at once, so an existing
/// database without one is damaged (sled 0.34 can recover its metadata yet lose every tree's
/// contents, and then opens "successfully", empty) or is not a medchain store: refused rather
/// than taken for a fresh node.
pub(crate) fn check(trees: &Trees, existed: bool) -> Result<u32, Failure> {
    let stored = trees.meta.get(SCHEMA_KEY).engine()?;
    let write_current = || -> Result<u32, Failure> {
        write_version(trees)?;
        Ok(SCHEMA_VERSION)
    };
    match stored {
        Some(value) => {
            let version = <[u8; 4]>::try_from(value.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| {
                    Failure::Damaged(Damage::MalformedSchemaVersion(hex::encode(&value)))
                })?;
            match version {
                found @ (1 | 2) => Err(Failure::Refused(StoreError::PlaintextStore { found })),
                version @ (3 | 4 | SCHEMA_VERSION) => Ok(version),
                newer if newer > SCHEMA_VERSION => Err(Failure::Refused(StoreError::NewerSchema {
                    found: newer,
                    supported: SCHEMA_VERSION,
                })),
                other => Err(Failure::Damaged(Damage::UnknownSchemaVersion {
                    found: other,
                    supported: SCHEMA_VERSION,
                })),
            }
        }
        None if !existed => write_current(),
        None => Err(Failure::Damaged(Damage::MissingSchemaVersion)),
    }
}

/// Writes this build's schema version and flushes it.
fn write_version(trees: &Trees) -> Result<(), StoreError> {
    trees
        .meta
        .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
        .engine()?;
    trees.meta.flush().engine()?;
    Ok(())
}

/// Takes a store of version `found` to [`SCHEMA_VERSION`]: 3 to 4 moves the payloads into
/// segments, 4 to 5 drops `prov_up`. Each step can run again: the version is written last, so a
/// crash midway migrates again at the next start.
pub(crate) fn migrate(store: &mut Store, found: u32) -> Result<(), StoreError> {
    if found == 3 {
        store.migrate_payload_tree()?;
    }
    if found <= 4 {
        // `false` when it is not there (dropped by a migration a crash cut short). Damage in
        // the dropped tree is no reason to refuse the store: nothing reads the tree any more.
        if let Err(error) = store.inner.db.drop_tree(DROPPED_PROV_UP).engine()
            && !error.is_corruption()
        {
            return Err(error);
        }
        store.flush()?;
    }
    write_version(store.trees())
}

#[cfg(test)]
mod tests {
    use crate::open::Store;

    use super::*;

    /// For tests: writes an arbitrary schema version, as a future build would.
    fn set_schema_version(store: &mut Store, version: u32) -> Result<(), StoreError> {
        store
            .inner
            .trees
            .meta
            .insert(SCHEMA_KEY, &version.to_be_bytes())
            .engine()?;
        store.flush()
    }

    fn unopenable_reason(result: Result<Store, StoreError>) -> Damage {
        match result {
            Err(StoreError::Unopenable { reason, .. }) => reason,
            other => panic!("expected Unopenable, got {other:?}"),
        }
    }

    #[test]
    fn new_store_gets_the_schema_version_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.path(), dir.path());
        let stored = store.inner.trees.meta.get(SCHEMA_KEY).unwrap().unwrap();
        assert_eq!(stored.as_ref(), SCHEMA_VERSION.to_be_bytes());
        drop(store);
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn a_newer_schema_version_is_a_start_up_error_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        set_schema_version(&mut store, SCHEMA_VERSION + 1).unwrap();
        drop(store);
        match Store::open(dir.path()) {
            Err(error @ StoreError::NewerSchema { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
                assert!(!error.is_corruption());
                assert!(
                    error
                        .to_string()
                        .contains("newer medchain (schema version 6"),
                    "{error}"
                );
            }
            other => panic!("expected a start-up error, got {other:?}"),
        }
        // An older unknown one (0) is damage.
        let mut store = Store::open(dir.path().join("other").as_path()).unwrap();
        set_schema_version(&mut store, 0).unwrap();
        drop(store);
        let reason = unopenable_reason(Store::open(dir.path().join("other").as_path()));
        assert_eq!(
            reason,
            Damage::UnknownSchemaVersion {
                found: 0,
                supported: SCHEMA_VERSION
            }
        );
    }

    #[test]
    fn a_store_of_plaintext_payloads_is_refused_and_kept() {
        for old in [1, 2] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::open(dir.path()).unwrap();
            set_schema_version(&mut store, old).unwrap();
            drop(store);
            match Store::open(dir.path()) {
                Err(error @ StoreError::PlaintextStore { found }) => {
                    assert_eq!(found, old);
                    assert!(!error.is_corruption());
                    assert!(error.to_string().contains("plaintext"), "{error}");
                }
                other => panic!("expected a start-up error, got {other:?}"),
            }
            // Kept as it was: opening again gives the same answer.
            assert!(matches!(
                Store::open(dir.path()),
                Err(StoreError::PlaintextStore { .. })
            ));
        }
    }

    #[test]
    fn a_version_3_store_moves_its_payloads_into_segments() {
        let dir = tempfile::tempdir().unwrap();
        let payloads: Vec<Vec<u8>> = (0..600u32)
            .map(|i| vec![i as u8; 100 + i as usize])
            .collect();
        {
            // A version 3 store: payloads in the `payloads` tree, one damaged, one stray key.
            let mut store = Store::open(dir.path()).unwrap();
            let old = store.inner.db.open_tree(b"payloads").unwrap();
            for payload in &payloads {
                old.insert(
                    medchain_protocol::PayloadHash::of(payload).as_bytes(),
                    &payload[..],
                )
                .unwrap();
            }
            let damaged = medchain_protocol::PayloadHash::of(b"the original");
            old.insert(damaged.as_bytes(), &b"not the original"[..])
                .unwrap();
            set_schema_version(&mut store, 3).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let stored = store.inner.trees.meta.get(SCHEMA_KEY).unwrap().unwrap();
        assert_eq!(stored.as_ref(), SCHEMA_VERSION.to_be_bytes());
        for payload in &payloads {
            let hash = medchain_protocol::PayloadHash::of(payload);
            assert_eq!(store.payload(&hash).unwrap().as_deref(), Some(&payload[..]));
        }
        // Damage moves as it is: still reported, never passed off as data.
        let damaged = medchain_protocol::PayloadHash::of(b"the original");
        assert!(store.payload(&damaged).unwrap_err().is_corruption());
        assert_eq!(store.payload_count(), payloads.len() + 1);
        assert!(!store.inner.db.tree_names().iter().any(|n| n == b"payloads"));
    }

    #[test]
    fn a_version_4_store_drops_its_parent_edges() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            let old = store.inner.db.open_tree(DROPPED_PROV_UP).unwrap();
            old.insert([7u8; 89], &[][..]).unwrap();
            set_schema_version(&mut store, 4).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let stored = store.inner.trees.meta.get(SCHEMA_KEY).unwrap().unwrap();
        assert_eq!(stored.as_ref(), SCHEMA_VERSION.to_be_bytes());
        assert!(
            !store
                .inner
                .db
                .tree_names()
                .iter()
                .any(|n| n == DROPPED_PROV_UP)
        );
        drop(store);
        // Opened again: nothing left to migrate.
        Store::open(dir.path()).unwrap();
    }

    #[test]
    fn blocks_without_schema_version_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .inner
            .trees
            .blocks
            .insert([1u8; 32], &b"x"[..])
            .unwrap();
        store.inner.trees.meta.remove(SCHEMA_KEY).unwrap();
        store.flush().unwrap();
        drop(store);
        let reason = unopenable_reason(Store::open(dir.path()));
        assert_eq!(reason, Damage::MissingSchemaVersion);
    }

    #[test]
    fn an_existing_database_without_schema_version_is_refused_even_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.inner.trees.meta.remove(SCHEMA_KEY).unwrap();
        store.flush().unwrap();
        drop(store);
        let reason = unopenable_reason(Store::open(dir.path()));
        assert_eq!(reason, Damage::MissingSchemaVersion);
    }
}
