//! The schema version: checked (or written, in a new store) when a store opens, and older
//! layouts migrated (`migrate`).

use crate::open::Trees;

/// The schema version this build writes and reads. Bump it on any layout change, with a
/// migration from the one before (`migrate`).
///
/// - 1: the first layout.
/// - 2 (2026-11-27): access entries in `accesses` only, not in the other entry indexes.
pub const SCHEMA_VERSION: u32 = 2;
/// The key of the schema version in `meta` (value: u32 BE).
pub(crate) const SCHEMA_KEY: &[u8] = b"schema_version";

/// Checks (or, in a new store, writes) the schema version. Every store this crate creates gets
/// its version written and flushed at once, so an existing database without one is damaged (sled
/// 0.34 can recover its metadata yet lose every tree's contents, and then opens "successfully",
/// empty) or is not a medchain store: refused rather than taken for a fresh node.
pub(crate) fn check(trees: &Trees, existed: bool) -> Result<(), String> {
    let stored = trees.meta.get(SCHEMA_KEY).map_err(|e| e.to_string())?;
    match stored {
        Some(value) => {
            let version = <[u8; 4]>::try_from(value.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| format!("malformed schema version {}", hex::encode(&value)))?;
            if version == 1 {
                crate::migrate::access_index(trees).map_err(|e| {
                    format!("migrating the store from schema version 1 to 2 failed: {e}")
                })?;
                trees
                    .meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| e.to_string())?;
                trees.meta.flush().map_err(|e| e.to_string())?;
                return Ok(());
            }
            if version != SCHEMA_VERSION {
                return Err(format!(
                    "unknown schema version {version} (this build reads version {SCHEMA_VERSION})"
                ));
            }
            Ok(())
        }
        None if !existed => {
            trees
                .meta
                .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                .map_err(|e| e.to_string())?;
            trees.meta.flush().map_err(|e| e.to_string())?;
            Ok(())
        }
        None => Err(
            "the schema version is missing from an existing database (damaged files, or not a \
             medchain store)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::error::{EngineResult, StoreError};
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

    fn unopenable_reason(result: Result<Store, StoreError>) -> String {
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
    fn unknown_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        set_schema_version(&mut store, SCHEMA_VERSION + 1).unwrap();
        drop(store);
        let reason = unopenable_reason(Store::open(dir.path()));
        assert!(reason.contains("unknown schema version 3"), "{reason}");
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
        assert!(reason.contains("schema version is missing"), "{reason}");
    }

    #[test]
    fn an_existing_database_without_schema_version_is_refused_even_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.inner.trees.meta.remove(SCHEMA_KEY).unwrap();
        store.flush().unwrap();
        drop(store);
        let reason = unopenable_reason(Store::open(dir.path()));
        assert!(reason.contains("schema version is missing"), "{reason}");
    }
}
