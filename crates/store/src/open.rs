//! Opening the database: the [`Store`] handle, its trees, the schema version check, flushing.
//!
//! sled 0.34 can panic (not just fail) on damaged files, so opening runs under
//! `catch_unwind` and both outcomes become [`StoreError::Unopenable`]: the node then treats the
//! store as a repair case (move it aside, rebuild from peers) instead of crashing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Damage, EngineResult, StoreError};
use crate::payloads::segments::{self, SegmentFiles, SegmentWriter};

pub use crate::schema::SCHEMA_VERSION;
/// sled's page cache, in bytes, unless the caller says otherwise ([`Store::open_with_cache`]).
/// sled's default is 1 GiB, far more than a node needs: the working set is the heads and recent
/// blocks. sled counts pages at their size on disk; the pages it holds in memory take several
/// times that (see docs/performance.md), so this bounds memory only loosely.
pub const CACHE_BYTES: u64 = 32 << 20;
pub(crate) use crate::schema::SCHEMA_KEY;
pub(crate) use crate::trees::{TREE_NAMES, Trees, name};

pub(crate) struct Inner {
    pub(crate) db: sled::Db,
    pub(crate) trees: Trees,
    /// Read handles on the payload segments.
    pub(crate) segments: SegmentFiles,
    /// The object store new payloads go to, if one is configured.
    pub(crate) objects: Option<crate::payloads::objects::PayloadObjects>,
    /// Whether the store was ever opened with an object store (`meta` says so): if not, an
    /// object location is planted damage, not a payload in a bucket.
    pub(crate) objects_ever: bool,
    path: PathBuf,
}

/// A read-only handle on the node's database: cheap to clone, `Send + Sync`, usable from any
/// thread without the ledger's lock. It cannot write; only the one [`Store`] can.
#[derive(Clone)]
pub struct StoreReader {
    pub(crate) inner: Arc<Inner>,
}

/// How to open a store (see [`Store::open_with`]).
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// sled's page cache, in bytes (as sled counts it: pages at their size on disk).
    pub cache_bytes: u64,
    /// The object store new payloads go to; `None`: the segment files beside the database.
    pub objects: Option<crate::payloads::objects::ObjectStoreSettings>,
}

/// The node's database and its only writer. Not `Clone`: every write takes `&mut self`, so the
/// type system, not a convention, makes the holder of this value (the chain crate's `Ledger`)
/// the one writer. Reads go through [`StoreReader`], which this dereferences to; hand
/// [`Store::reader`] to whoever needs to read concurrently.
pub struct Store {
    reader: StoreReader,
    /// The one writer of the payload segments.
    pub(crate) payload_writer: SegmentWriter,
}

impl std::fmt::Debug for StoreReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReader")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.reader.inner.path)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Store {
    type Target = StoreReader;

    fn deref(&self) -> &StoreReader {
        &self.reader
    }
}

impl Store {
    /// Opens (creating if missing) the store at `path`.
    ///
    /// - `StoreError::Unopenable` (damage: the node moves the store aside and rebuilds): a sled
    ///   error or panic on its files; an unknown (older than any release) or malformed schema
    ///   version; an existing
    ///   database that sled could not recover (it would silently start an empty one) or that
    ///   lacks the schema version.
    /// - `StoreError::Locked`: another handle holds the store after waiting up to 2 s (sled
    ///   frees its lock a moment after the last handle drops): a second instance.
    /// - `StoreError::Io`: the operating system refused (permissions, a full disk, a read-only
    ///   filesystem).
    /// - `StoreError::NewerSchema`: a newer medchain wrote the store (after a downgrade, say).
    /// - `StoreError::PlaintextStore`: a medchain of protocol version 1 wrote it (plaintext
    ///   payloads); refused, kept.
    ///
    /// Only `Unopenable` is damage; the store is never rebuilt for the others.
    ///
    /// sled's periodic background flush (every 500 ms) is left on; the store flushes explicitly
    /// wherever durability is promised, so it never depends on it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// [`Store::open`] with sled's page cache set to `cache_bytes` (as sled counts it: pages at
    /// their size on disk).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        Self::open_with(
            path,
            &StoreOptions {
                cache_bytes,
                objects: None,
            },
        )
    }

    /// [`Store::open`] with every option: sled's page cache, and the object store that new
    /// payloads go to instead of the segments. An object store that cannot be reached or
    /// refuses a write is [`StoreError::ObjectStore`] (not damage: the store is kept).
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(options.cache_bytes);
        Self::open_config(config, path.to_path_buf(), options.objects.as_ref())
    }

    /// A store in a temporary directory removed on drop (sled `Config::temporary`), for tests.
    pub fn open_temporary() -> Result<Store, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "medchain-store-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let config = sled::Config::new()
            .path(&path)
            .temporary(true)
            .cache_capacity(CACHE_BYTES);
        Self::open_config(config, path, None)
    }

    fn open_config(
        config: sled::Config,
        path: PathBuf,
        objects: Option<&crate::payloads::objects::ObjectStoreSettings>,
    ) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let unopenable = |reason: Damage| StoreError::Unopenable {
            path: shown.clone(),
            reason,
        };
        // sled writes `conf` when it creates a database; if it is there, there is data to keep.
        let existed = path.join("conf").exists();
        let (db, trees) = open_sled(&config).map_err(|failure| match failure {
            OpenFailure::Locked => StoreError::Locked {
                path: shown.clone(),
            },
            OpenFailure::Refused(kind, detail) => StoreError::Io { kind, detail },
            OpenFailure::Damaged(reason) => unopenable(reason),
        })?;
        // sled 0.34 does not fail on a damaged log whose metadata it cannot read: it silently
        // starts a new, empty database in the same files. That would look like a fresh node.
        if existed && !db.was_recovered() {
            return Err(unopenable(Damage::NotRecovered));
        }
        let found = crate::schema::check(&trees, existed).map_err(|failure| match failure {
            crate::schema::Failure::Damaged(reason) => unopenable(reason),
            crate::schema::Failure::Refused(error) => error,
        })?;
        let recorded = trees.meta.get(crate::schema::OBJECTS_KEY).engine()?;
        let known_id: Option<[u8; 16]> = recorded
            .as_ref()
            .and_then(|value| value.as_ref().try_into().ok());
        // The bucket is checked against what this store knows: a store that wrote there before
        // must find its own marker (an emptied bucket, or another store's prefix, would make
        // every payload look lost, and its repairs and erases touch another node's objects).
        let id = known_id.unwrap_or_else(crate::payloads::objects::new_store_id);
        let objects = objects
            .map(|settings| {
                crate::payloads::objects::PayloadObjects::connect(settings, &id, known_id.is_none())
            })
            .transpose()?;
        let objects_ever = objects.is_some() || recorded.is_some();
        if objects.is_some() && known_id.is_none() {
            trees
                .meta
                .insert(crate::schema::OBJECTS_KEY, &id)
                .engine()?;
            db.flush().engine()?;
        }
        let payload_writer = SegmentWriter::open(&path)?;
        let segments = SegmentFiles::new(path.join(segments::DIR));
        let mut store = Store {
            reader: StoreReader {
                inner: Arc::new(Inner {
                    db,
                    trees,
                    segments,
                    objects,
                    objects_ever,
                    path,
                }),
            },
            payload_writer,
        };
        if found < SCHEMA_VERSION {
            // The migration reads the whole old tree: sled's damage there (an error, or a
            // panic) makes the store unopenable, to be moved aside and rebuilt, like damage met
            // when opening.
            match catch_unwind(AssertUnwindSafe(|| {
                crate::schema::migrate(&mut store, found)
            })) {
                Ok(Ok(())) => {}
                Ok(Err(error)) if error.is_corruption() => {
                    return Err(unopenable(Damage::Read(error.to_string())));
                }
                Ok(Err(error)) => return Err(error),
                Err(panic) => return Err(unopenable(Damage::Panicked(panic_text(&panic)))),
            }
        }
        Ok(store)
    }

    /// A read handle for concurrent readers (cheap: it shares this store's database).
    pub fn reader(&self) -> StoreReader {
        self.reader.clone()
    }

    /// Flushes everything to disk; returns after the data is durable.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.flush_now()
    }
}

impl StoreReader {
    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The number of stored blocks (for metrics; counts the whole tree, so O(n)).
    pub fn block_count(&self) -> usize {
        self.inner.trees.blocks.len()
    }

    /// The store's size on disk, database and payload segments, in bytes (for metrics).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner.db.size_on_disk().engine()? + self.segments_size()?)
    }

    pub(crate) fn trees(&self) -> &Trees {
        &self.inner.trees
    }

    /// Flushes to disk. Only the writer's methods call it: a flush makes the writer's work
    /// durable, so readers have no business doing it.
    pub(crate) fn flush_now(&self) -> Result<(), StoreError> {
        self.inner.db.flush().engine()?;
        Ok(())
    }
}

/// Why sled would not open the database, by what the node must do about it.
enum OpenFailure {
    /// Another handle holds the lock.
    Locked,
    /// The operating system refused (not damage).
    Refused(std::io::ErrorKind, String),
    /// The files are damaged (or sled panicked on them).
    Damaged(Damage),
}

/// How long `open` waits for sled's file lock to be released (see [`open_sled`]).
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the database and its trees, once or, while the file lock is taken, until [`LOCK_WAIT`]
/// has passed. sled 0.34 releases its lock only when its last background write finishes, which
/// can be a moment after the last handle is dropped, so a close and a reopen in one process can
/// collide. A lock held for longer (the store is really open elsewhere) still fails.
fn open_sled(config: &sled::Config) -> Result<(sled::Db, Trees), OpenFailure> {
    let start = Instant::now();
    loop {
        match open_once(config) {
            Err(OpenFailure::Locked) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// One attempt. sled panics on some damaged files (failed asserts, slicing past the end of a
/// segment); catching the panic keeps the node alive to report and repair.
fn open_once(config: &sled::Config) -> Result<(sled::Db, Trees), OpenFailure> {
    let opened = catch_unwind(AssertUnwindSafe(|| {
        let db = config.open()?;
        let trees = Trees::open(&db)?;
        Ok::<_, sled::Error>((db, trees))
    }));
    match opened {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(error)) => Err(classify_open_error(error)),
        Err(panic) => Err(OpenFailure::Damaged(Damage::Panicked(panic_text(&panic)))),
    }
}

/// Only real damage makes a store unopenable (and so moved aside and rebuilt), by an allow-list:
/// sled's own corruption reports and internal inconsistencies, a truncated file, data that
/// does not decode, settings it cannot take (our store's never change, so only damage to its
/// `conf` gets there), and panics. Every other error (a lock held by another instance, a
/// permission error, a full disk, a read-only filesystem, too many open files, an I/O error, a
/// path that is not a directory) is the operator's to fix: rebuilding would throw away a store
/// that may be fine.
fn classify_open_error(error: sled::Error) -> OpenFailure {
    let text = error.to_string();
    match crate::error::engine(error) {
        StoreError::Locked { .. } => OpenFailure::Locked,
        StoreError::Io { kind, detail } => OpenFailure::Refused(kind, detail),
        _ => OpenFailure::Damaged(Damage::Engine(text)),
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_damage_makes_a_store_unopenable() {
        use std::io::{Error, ErrorKind};
        let io = |kind, text: &str| sled::Error::Io(Error::new(kind, text.to_string()));
        assert!(matches!(
            classify_open_error(io(ErrorKind::Other, "could not acquire lock on \"db\"")),
            OpenFailure::Locked
        ));
        for kind in [
            ErrorKind::PermissionDenied,
            ErrorKind::StorageFull,
            ErrorKind::ReadOnlyFilesystem,
            ErrorKind::NotADirectory,
            ErrorKind::TimedOut,
            ErrorKind::Other,
        ] {
            assert!(matches!(
                classify_open_error(io(kind, "refused")),
                OpenFailure::Refused(k, _) if k == kind
            ));
        }
        for damage in [
            sled::Error::Corruption { at: None, bt: () },
            io(ErrorKind::UnexpectedEof, "failed to fill buffer"),
            sled::Error::ReportableBug("inconsistent".into()),
        ] {
            assert!(matches!(
                classify_open_error(damage),
                OpenFailure::Damaged(_)
            ));
        }
    }

    #[test]
    fn temporary_store_is_removed_on_drop() {
        let store = Store::open_temporary().unwrap();
        let path = store.path().to_path_buf();
        assert!(path.exists());
        drop(store);
        assert!(!path.exists());
    }
}
