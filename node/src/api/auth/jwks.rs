//! The identity provider's signing keys (its JWKS), fetched and cached for the users' tokens.
//!
//! Keys are fresh for the cache time (`jwks_cache_secs`); past it, or when a token names a key
//! not held, they are fetched again. One fetch runs at a time, in a task of its own that stores
//! what it brings whether or not the request that started it is still waiting, and a fetch
//! starts at most once per [`MIN_REFETCH`] after the last one ended, so neither a stream of
//! made-up key IDs nor a provider that hangs makes the node ask again and again.
//!
//! While the provider answers, a request whose keys are past their cache time waits for the
//! fetch: a key the provider has withdrawn is not taken. Once a fetch has failed, keys fetched
//! before serve for at most [`MAX_STALE`] past their cache time, without waiting for the fetches
//! that follow, so a provider that hangs does not hold users' calls for a fetch's timeout; a
//! token naming a key those keys lack is a 503 (the provider cannot be asked), not a 401. After
//! that, users are refused (503) until the provider answers: the node fails closed, and says
//! why.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use tokio::sync::watch;

use super::users::TokenError;

/// Least time between the end of one fetch of the keys and the start of the next.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Longest keys are used past their cache time while the provider cannot be reached.
pub const MAX_STALE: Duration = Duration::from_secs(3600);
/// Largest JWKS document taken.
const MAX_JWKS_BYTES: u64 = 256 << 10;

/// Keys and when they were fetched.
type Cached = Option<(Arc<JwkSet>, Instant)>;

/// The provider's keys, fetched and cached.
pub struct Jwks {
    url: String,
    agent: ureq::Agent,
    /// How long fetched keys are fresh (`jwks_cache_secs`).
    pub(super) ttl: Duration,
    /// [`MIN_REFETCH`], but for tests.
    pub(super) min_refetch: Duration,
    /// [`MAX_STALE`], but for tests.
    pub(super) max_stale: Duration,
    cached: RwLock<Cached>,
    fetching: Mutex<FetchState>,
}

/// The fetch under way, if any, and how the last one ended.
#[derive(Default)]
struct FetchState {
    /// Turns true when the fetch under way has ended.
    running: Option<watch::Receiver<bool>>,
    last_ended: Option<Instant>,
    /// Why the last fetch failed; `None` once one succeeds.
    last_error: Option<String>,
}

impl Jwks {
    /// Keys from `url`, fetched with `agent` (its timeout bounds a fetch), fresh for `ttl`.
    pub fn new(url: String, agent: ureq::Agent, ttl: Duration) -> Self {
        Self {
            url,
            agent,
            ttl,
            min_refetch: MIN_REFETCH,
            max_stale: MAX_STALE,
            cached: RwLock::default(),
            fetching: Mutex::default(),
        }
    }

    /// Keys to check a token naming `kid` with (see the module documentation).
    pub async fn keys(self: &Arc<Self>, kid: Option<&str>) -> Result<Arc<JwkSet>, TokenError> {
        let holding = |cached: &Cached, limit: Duration| {
            cached.as_ref().and_then(|(keys, at)| {
                let holds = kid.is_none_or(|kid| keys.find(kid).is_some());
                (at.elapsed() < limit && holds).then(|| keys.clone())
            })
        };
        if let Some(keys) = holding(&self.current(), self.ttl) {
            return Ok(keys);
        }
        let (fetch, provider_failing) = self.fetch();
        if provider_failing && let Some(keys) = holding(&self.current(), self.ttl + self.max_stale)
        {
            return Ok(keys);
        }
        if let Some(mut ended) = fetch {
            // Err: the fetch's task is gone without a word (the runtime stops): decide below.
            let _ = ended.wait_for(|ended| *ended).await;
        }
        let current = self.current();
        let last_error = self.state().last_error.clone();
        match last_error {
            // Fresh keys that lack the token's key: it is not the provider's (401 above).
            None => current
                .filter(|(_, at)| at.elapsed() < self.ttl)
                .map(|(keys, _)| keys)
                .ok_or_else(|| {
                    TokenError::KeysUnavailable(
                        "none fresh are held and none may be fetched yet".into(),
                    )
                }),
            Some(error) => holding(&current, self.ttl + self.max_stale)
                .ok_or(TokenError::KeysUnavailable(error)),
        }
    }

    /// The fetch under way, or one started now, unless the last ended less than
    /// `min_refetch` ago; and whether the last fetch failed.
    fn fetch(self: &Arc<Self>) -> (Option<watch::Receiver<bool>>, bool) {
        let mut state = self.state();
        let failing = state.last_error.is_some();
        if let Some(running) = &state.running {
            return (Some(running.clone()), failing);
        }
        if state
            .last_ended
            .is_some_and(|at| at.elapsed() < self.min_refetch)
        {
            return (None, failing);
        }
        let (ended, running) = watch::channel(false);
        state.running = Some(running.clone());
        let jwks = Arc::clone(self);
        tokio::spawn(async move {
            let (agent, url) = (jwks.agent.clone(), jwks.url.clone());
            let fetched = tokio::task::spawn_blocking(move || fetch(&agent, &url))
                .await
                .unwrap_or_else(|_| Err("the fetch was interrupted".into()));
            jwks.fetched(fetched);
            let _ = ended.send(true);
        });
        (Some(running), failing)
    }

    /// Stores what a fetch brought and ends it.
    fn fetched(&self, fetched: Result<JwkSet, String>) {
        let error = match fetched {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.keys.len(), "fetched the identity provider's signing keys");
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((Arc::new(keys), Instant::now()));
                None
            }
            Err(error) => {
                let stale_until = self
                    .current()
                    .map(|(_, at)| at + self.ttl + self.max_stale)
                    .filter(|until| *until > Instant::now());
                tracing::error!(url = %self.url, %error, stale_keys_in_use_for_s = stale_until.map(|until| until.duration_since(Instant::now()).as_secs()), "cannot fetch the identity provider's signing keys");
                Some(error)
            }
        };
        let mut state = self.state();
        state.running = None;
        state.last_ended = Some(Instant::now());
        state.last_error = error;
    }

    fn current(&self) -> Cached {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.fetching.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One fetch of the JWKS document.
fn fetch(agent: &ureq::Agent, url: &str) -> Result<JwkSet, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&body).map_err(|e| format!("not a JWKS document: {e}"))
}
