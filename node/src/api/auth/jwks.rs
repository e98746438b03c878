//! The identity provider's signing keys (its JWKS), fetched and cached for the users' tokens.
//!
//! Keys are fresh for the cache time (`jwks_cache_secs`); past it, or when a token names a key
//! not held, they are fetched again. One fetch runs at a time, in a task of its own that stores
//! what it brings whether or not the request that started it is still waiting, and a fetch
//! starts at most once per [`MIN_REFETCH`] after the last one ended, so neither a stream of
//! made-up key IDs nor a provider that hangs makes the node ask again and again.
//!
//! While the provider answers, a request whose keys are past their cache time waits for the
//! fetch (so a key the provider has withdrawn is not taken; a provider that starts to hang holds
//! such requests for that first fetch's timeout). Once a fetch has failed, keys fetched
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

/// What a fetch brought: the provider's keys, or why there are none.
type Outcome = Result<Arc<JwkSet>, String>;

/// The fetch under way, if any, and how the last one ended.
#[derive(Default)]
struct FetchState {
    /// The fetch under way: its outcome once it has ended.
    running: Option<watch::Receiver<Option<Outcome>>>,
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
        let usable_stale = || holding(&self.current(), self.ttl + self.max_stale);
        match self.fetch() {
            Fetch::Running {
                ended,
                provider_failing,
            } => {
                if provider_failing && let Some(keys) = usable_stale() {
                    return Ok(keys);
                }
                match wait_for(ended).await {
                    // The provider's keys as they are now: if they lack this key, the token
                    // is not signed by the provider (401).
                    Ok(keys) => Ok(keys),
                    Err(error) => usable_stale().ok_or(TokenError::KeysUnavailable(error)),
                }
            }
            // A fetch ended moments ago; what it left decides.
            Fetch::NotYet {
                last_error: Some(error),
            } => usable_stale().ok_or(TokenError::KeysUnavailable(error)),
            // The last fetch succeeded less than `min_refetch` ago: its keys (a key they lack is
            // a 401). They are past their cache time only if that is shorter than `min_refetch`,
            // which the configuration forbids (`jwks_cache_secs` >= 10 s = MIN_REFETCH).
            Fetch::NotYet { last_error: None } => self
                .current()
                .filter(|(_, at)| at.elapsed() < self.ttl + self.max_stale)
                .map(|(keys, _)| keys)
                .ok_or_else(|| {
                    TokenError::KeysUnavailable("none are held and none may be fetched yet".into())
                }),
        }
    }

    /// The fetch under way, or one started now, unless the last ended less than `min_refetch`
    /// ago.
    fn fetch(self: &Arc<Self>) -> Fetch {
        let mut state = self.state();
        let provider_failing = state.last_error.is_some();
        // A sender gone with the fetch still marked running: its task died; start another.
        if let Some(running) = &state.running
            && running.has_changed().is_ok()
        {
            return Fetch::Running {
                ended: running.clone(),
                provider_failing,
            };
        }
        if state
            .last_ended
            .is_some_and(|at| at.elapsed() < self.min_refetch)
        {
            return Fetch::NotYet {
                last_error: state.last_error.clone(),
            };
        }
        let (end, ended) = watch::channel(None);
        state.running = Some(ended.clone());
        let jwks = Arc::clone(self);
        tokio::spawn(async move {
            let (agent, url) = (jwks.agent.clone(), jwks.url.clone());
            let fetched = tokio::task::spawn_blocking(move || fetch(&agent, &url))
                .await
                .unwrap_or_else(|_| Err("the fetch was interrupted".into()));
            let outcome = jwks.fetched(fetched);
            let _ = end.send(Some(outcome));
        });
        Fetch::Running {
            ended,
            provider_failing,
        }
    }

    /// Stores what a fetch brought and ends it; answers what the fetch's waiters get.
    fn fetched(&self, fetched: Result<JwkSet, String>) -> Outcome {
        let now = Instant::now();
        let outcome = match fetched {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.keys.len(), "fetched the identity provider's signing keys");
                let keys = Arc::new(keys);
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some((keys.clone(), now));
                Ok(keys)
            }
            Err(error) => {
                let stale_for = self
                    .current()
                    .map(|(_, at)| (at + self.ttl + self.max_stale).saturating_duration_since(now));
                tracing::error!(url = %self.url, %error, stale_keys_serve_for_s = stale_for.unwrap_or_default().as_secs(), "cannot fetch the identity provider's signing keys");
                Err(error)
            }
        };
        let mut state = self.state();
        state.running = None;
        state.last_ended = Some(now);
        state.last_error = outcome.as_ref().err().cloned();
        outcome
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

/// Where a call stands with the fetches.
enum Fetch {
    /// One is under way (perhaps started for this call); `provider_failing` if the last failed.
    Running {
        ended: watch::Receiver<Option<Outcome>>,
        provider_failing: bool,
    },
    /// The last ended less than `min_refetch` ago, failing with `last_error` if it did.
    NotYet { last_error: Option<String> },
}

/// The outcome of the fetch `ended` reports, once it has ended.
async fn wait_for(mut ended: watch::Receiver<Option<Outcome>>) -> Outcome {
    match ended.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or_else(|| Err("no outcome".into())),
        // Only if the fetch's task died (the runtime stops): the next call starts another.
        Err(_) => Err("the fetch was interrupted".into()),
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
