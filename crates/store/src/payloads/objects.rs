//! The payload store's second backend: S3-compatible object storage (AWS S3, MinIO, SeaweedFS,
//! Ceph RGW), for hospitals whose payload volume outgrows a disk.
//!
//! Each payload is one object, `{prefix}{payload hash in hex}`, holding the same frame as a
//! segment (hash ‖ length ‖ payload), so a read is checked exactly as a segment's frame is: an
//! object that is missing, of the wrong size, another payload's, or altered is damage to that
//! payload, which the node repairs by fetching it from a peer and putting it again. An object
//! store that cannot be reached, refuses the credentials or fails is
//! [`StoreError::ObjectStore`]: not damage (nothing is repaired or rebuilt because of it), and
//! the write or read that met it fails, so nothing is committed on a payload the bucket does not
//! hold (every PUT completes before its location is written, and the block after that).
//!
//! The client (`object_store`, over reqwest and rustls with ring) is asynchronous; the store is
//! not. It runs on a small Tokio runtime of its own, owned by a thread of its own, and the
//! store's callers wait on a channel: no caller needs a runtime, and none can be blocked inside
//! one by it. Requests in flight are bounded for the whole store ([`IN_FLIGHT`]) and so is a
//! read: an object larger than the frame its location promises is damage, not a download.
//!
//! S3 answers 404 for a missing object and for a missing bucket (or a proxy sending requests
//! elsewhere) alike. So a 404 is taken for a missing object only while the marker object this
//! store wrote at its open is still there; otherwise the whole bucket is unreachable, which is
//! an [`StoreError::ObjectStore`], never damage to every payload at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use medchain_protocol::PayloadHash;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};

use crate::error::StoreError;

/// Requests to the object store in flight at once, for the whole store.
const IN_FLIGHT: usize = 16;
/// Most characters of the client's message kept in an error (an error body comes from the
/// server, and errors reach logs and API answers).
const DETAIL_CHARS: usize = 300;
/// One request's time limit, and how long retries of it may go on.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const RETRY_TIMEOUT: Duration = Duration::from_secs(60);
/// The object written at every open: it proves the bucket exists and takes our writes.
const MARKER: &str = "medchain-payload-store";

/// Where the payload objects are, and the credentials to reach them.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectStoreSettings {
    /// The S3 endpoint, `https://host[:port]` (or `http://` with `allow_http`).
    pub endpoint: String,
    /// The bucket (it must exist).
    pub bucket: String,
    /// Prepended to every object's name: one prefix per node, so nodes sharing a bucket never
    /// touch each other's objects. Empty, or ending in `/`.
    pub prefix: String,
    /// The signing region (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// The access key's ID.
    pub access_key_id: String,
    /// The access key's secret (never printed: `Debug` leaves it out).
    pub secret_access_key: String,
    /// Whether a plain-HTTP endpoint is allowed (a loopback test server, or a proxy).
    pub allow_http: bool,
    /// A PEM certificate to trust besides the system's (a hospital's private CA).
    pub ca_cert_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ObjectStoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreSettings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The payload objects of one store, and the runtime their client runs on.
pub(crate) struct PayloadObjects {
    client: Arc<AmazonS3>,
    /// Permits for requests in flight, shared by every caller.
    permits: Arc<tokio::sync::Semaphore>,
    prefix: String,
    /// Named in errors.
    place: String,
    runtime: ClientRuntime,
}

impl PayloadObjects {
    /// Connects, and writes the marker object (`first`: the store never used an object store)
    /// or checks that it is there: an unreachable endpoint, a missing bucket or refused
    /// credentials fail here, when the node starts, not at its first record; so does a bucket
    /// that lost the marker this store wrote (emptied, or not the bucket it wrote to).
    pub(crate) fn connect(
        settings: &ObjectStoreSettings,
        store_id: &[u8; 16],
        first: bool,
    ) -> Result<Self, StoreError> {
        let place = format!("{} bucket {}", settings.endpoint, settings.bucket);
        let failed = |detail: String| StoreError::ObjectStore {
            place: place.clone(),
            detail,
        };
        if !(settings.prefix.is_empty() || settings.prefix.ends_with('/')) {
            return Err(failed("the prefix must be empty or end in '/'".into()));
        }
        // reqwest's rustls takes the process's default provider; ring is the only one built
        // in (no aws-lc-rs: with two, rustls cannot choose and panics). Already installed is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut options = ClientOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(Duration::from_secs(5))
            .with_allow_http(settings.allow_http);
        if let Some(pem) = &settings.ca_cert_pem {
            for certificate in object_store::Certificate::from_pem_bundle(pem)
                .map_err(|e| failed(format!("the CA certificate does not parse: {e}")))?
            {
                options = options.with_root_certificate(certificate);
            }
        }
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let client = AmazonS3Builder::new()
            .with_client_options(options)
            .with_endpoint(&settings.endpoint)
            .with_allow_http(settings.allow_http)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(false)
            .with_retry(retry)
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let runtime = ClientRuntime::start().map_err(|e| failed(e.to_string()))?;
        let objects = Self {
            client: Arc::new(client),
            permits: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            prefix: settings.prefix.clone(),
            place,
            runtime,
        };
        let client = objects.client.clone();
        let marker = objects.marker();
        let body = format!(
            "medchain payload objects\nstore {}\n",
            hex::encode(store_id)
        );
        if first {
            objects.run(async move {
                client
                    .put(&marker, PutPayload::from(Bytes::from(body)))
                    .await
                    .map(|_| ())
            })?;
            return Ok(objects);
        }
        let expected = body.clone();
        let found = objects.run(async move { read_bounded(&client, &marker, 256).await })?;
        let why = match found {
            Some(found) if found == expected.as_bytes() => return Ok(objects),
            Some(_) => {
                "holds another store's marker: the prefix names another node's payloads (repairs and erases here would touch that node's objects), or this store replaced the one that wrote there"
            }
            None => {
                "does not hold this store's marker: the bucket was emptied, or it is not the bucket this store's payloads were written to (every payload would look lost)"
            }
        };
        Err(StoreError::ObjectStore {
            place: objects.place.clone(),
            detail: format!(
                "the bucket {why}. Refusing to start. If its payloads are really gone and this prefix is this node's own, put the object {}{MARKER} back holding exactly {body:?} and start again: the verifier then fetches the payloads from peers",
                settings.prefix
            ),
        })
    }

    /// Deletes this store's marker object (attack simulation: `tamper`).
    #[cfg(feature = "tamper")]
    pub(crate) fn delete_marker(&self) -> Result<(), StoreError> {
        let client = self.client.clone();
        let marker = self.marker();
        self.run(async move { client.delete(&marker).await })
    }

    /// Whether the bucket holds this store's marker object.
    fn marker_present(&self) -> Result<bool, StoreError> {
        let client = self.client.clone();
        let marker = self.marker();
        self.run(async move {
            match client.head(&marker).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(error) => Err(error),
            }
        })
    }

    fn marker(&self) -> ObjectPath {
        ObjectPath::from(format!("{}{MARKER}", self.prefix))
    }

    /// After a 404: whether the bucket still holds this store's marker (so the 404 meant the
    /// object). If not, the bucket itself is gone or misrouted: an error, not damage.
    fn confirm_bucket(&self) -> Result<(), StoreError> {
        if self.marker_present()? {
            Ok(())
        } else {
            Err(StoreError::ObjectStore {
                place: self.place.clone(),
                detail: format!(
                    "the bucket answers 404 even for this store's marker object ({MARKER}): the bucket is missing or the endpoint is not the one the payloads were written to"
                ),
            })
        }
    }

    fn key(&self, hash: &PayloadHash) -> ObjectPath {
        ObjectPath::from(format!("{}{}", self.prefix, hex::encode(hash.as_bytes())))
    }

    /// Runs `work` on the client's runtime and waits for it (bounded: the client's own time
    /// limits and retries end every request).
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        self.runtime.handle.spawn(async move {
            let _ = done.send(work.await);
        });
        let failed = |detail: String| StoreError::ObjectStore {
            place: self.place.clone(),
            detail,
        };
        outcome
            .recv()
            .map_err(|_| failed("the object store client stopped".into()))?
            .map_err(|e| failed(e.to_string().chars().take(DETAIL_CHARS).collect()))
    }

    /// Runs `request` on every item, at most [`IN_FLIGHT`] at once for the whole store, and
    /// waits for all of them (results in the items' order), or the first failure.
    fn each<I, T, F, Fut>(&self, items: Vec<I>, request: F) -> Result<Vec<T>, StoreError>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(Arc<AmazonS3>, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = object_store::Result<T>> + Send + 'static,
    {
        let (client, permits) = (self.client.clone(), self.permits.clone());
        self.run(async move {
            futures::stream::iter(items)
                .map(|item| {
                    let (permits, request) = (permits.clone(), &request);
                    let sent = request(client.clone(), item);
                    async move {
                        let _permit = permits.acquire().await;
                        sent.await
                    }
                })
                .buffered(IN_FLIGHT)
                .try_collect::<Vec<_>>()
                .await
        })
    }

    /// Puts the frames, each under its payload's name, replacing what is there; returns once
    /// every PUT succeeded (the object store holds them durably), or the first failure.
    pub(crate) fn put(&self, frames: Vec<(PayloadHash, Vec<u8>)>) -> Result<(), StoreError> {
        let keyed = frames
            .into_iter()
            .map(|(hash, frame)| (self.key(&hash), Bytes::from(frame)))
            .collect();
        self.each(keyed, |client, (key, frame)| async move {
            client.put(&key, PutPayload::from(frame)).await.map(|_| ())
        })?;
        Ok(())
    }

    /// The objects of `hashes`, each read only up to `frame_len` bytes and one more: `None`
    /// for an object that is not there (the bucket still holding this store's marker), and a
    /// longer one is returned cut at `frame_len + 1` (its check then fails: damage).
    pub(crate) fn get(
        &self,
        wanted: &[(PayloadHash, usize)],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keyed = wanted
            .iter()
            .map(|(hash, frame_len)| (self.key(hash), *frame_len))
            .collect();
        let objects = self.each(keyed, |client, (key, frame_len)| async move {
            read_bounded(&client, &key, frame_len + 1).await
        })?;
        if objects.iter().any(Option::is_none) {
            self.confirm_bucket()?;
        }
        Ok(objects)
    }

    /// Deletes the objects of `hashes`; one already gone is not an error (S3 answers a delete
    /// of a missing key with success; a 404 means the bucket, checked by its marker).
    pub(crate) fn delete(&self, hashes: &[PayloadHash]) -> Result<(), StoreError> {
        let keys = hashes.iter().map(|hash| self.key(hash)).collect();
        let not_found = self.each(keys, |client, key| async move {
            match client.delete(&key).await {
                Err(object_store::Error::NotFound { .. }) => Ok(true),
                deleted => deleted.map(|()| false),
            }
        })?;
        if not_found.contains(&true) {
            self.confirm_bucket()?;
        }
        Ok(())
    }
}

/// A new store's id, for its marker object: unique, not secret (std's randomly keyed hasher
/// over the time and the process).
pub(crate) fn new_store_id() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut id = [0u8; 16];
    for (half, part) in id.chunks_mut(8).zip(0u8..) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        hasher.write_u8(part);
        half.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    id
}

/// The object at `key`, at most `limit` bytes of it (a planted huge object must not make a
/// read allocate its size); `None` if there is none.
async fn read_bounded(
    client: &AmazonS3,
    key: &ObjectPath,
    limit: usize,
) -> object_store::Result<Option<Vec<u8>>> {
    let result = match client.get(key).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut bytes = Vec::with_capacity((result.meta.size as usize).min(limit));
    let mut stream = result.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = limit - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() == limit {
            break;
        }
    }
    Ok(Some(bytes))
}

/// A Tokio runtime on a thread of its own: dropped (stopped) on that thread, so dropping the
/// store inside another runtime cannot panic.
struct ClientRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("medchain-objects")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("medchain-objects".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                runtime.shutdown_timeout(Duration::from_secs(5));
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
