//! Users' bearer tokens: JWTs from the hospital's identity provider, checked against the keys it
//! publishes (its JWKS), which are fetched here and cached.
//!
//! A token is taken when its header's algorithm is on the allow-list, its key (by `kid`, or the
//! one usable key when it names none) is in the JWKS, its signature verifies, and its `iss`,
//! `aud`, `exp` (and `nbf`, if present) hold, with 60 s of leeway for clocks. The keys are fetched
//! again once `jwks_cache_secs` old, or when a token names a key not held (at most once per
//! [`MIN_REFETCH`], so a stream of made-up key IDs cannot hammer the provider). If the provider
//! cannot be reached, keys fetched before are used for at most [`MAX_STALE`] more, then users
//! are refused (503) until it answers: the node fails closed, and says why. While a fetch is
//! under way, requests whose key those keys hold do not wait for it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use medchain_protocol::entry::is_printable_text;
use medchain_protocol::limits::MAX_ACTOR_LEN;
use serde_json::{Map, Value};

use super::caller::{Caller, Scope};
use crate::config::AuthSection;

/// Least time between two fetches of the keys for unknown key IDs or after a failure.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// Longest keys are used past their cache time while the provider cannot be reached.
pub const MAX_STALE: Duration = Duration::from_secs(3600);
/// Largest JWKS document taken.
const MAX_JWKS_BYTES: u64 = 256 << 10;
/// Longest a fetch of the keys may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Leeway for `exp` and `nbf`, for clocks that differ.
const LEEWAY_SECS: u64 = 60;

/// Why a user's token is not taken.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token is not valid (401).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The provider's keys cannot be had (503).
    #[error("the identity provider's signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// The checker of users' tokens.
pub struct UserTokens {
    validation: Validation,
    actor_claim: String,
    jwks: Jwks,
}

impl UserTokens {
    /// A checker for the `[auth]` section.
    pub fn new(section: &AuthSection) -> anyhow::Result<Self> {
        // The one backend built in; installed explicitly so nothing has to infer it.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let algorithms = section
            .algorithms
            .iter()
            .map(|name| name.parse::<Algorithm>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("auth.algorithms: {e}"))?;
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.set_issuer(&[&section.issuer]);
        validation.set_audience(&[&section.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let agent = ureq::Agent::config_builder()
            .tls_config(crate::tls::client_config(section.jwks_ca.as_deref())?)
            .timeout_global(Some(FETCH_TIMEOUT))
            .max_redirects(0)
            .build()
            .into();
        Ok(Self {
            validation,
            actor_claim: section.actor_claim.clone(),
            jwks: Jwks {
                url: section.jwks_url.clone(),
                agent,
                ttl: Duration::from_secs(section.jwks_cache_secs),
                cached: RwLock::default(),
                last_fetch: tokio::sync::Mutex::default(),
                min_refetch: MIN_REFETCH,
                max_stale: MAX_STALE,
            },
        })
    }

    /// The same, fetching again for an unknown key as soon as `min_refetch` after the last
    /// fetch (tests rotate keys without waiting [`MIN_REFETCH`]).
    #[cfg(test)]
    pub fn with_min_refetch(mut self, min_refetch: Duration) -> Self {
        self.jwks.min_refetch = min_refetch;
        self
    }

    /// The same, with keys fresh for `ttl` and used for `max_stale` more while the provider
    /// cannot be reached (tests see both limits pass in milliseconds).
    #[cfg(test)]
    pub fn with_cache_times(mut self, ttl: Duration, max_stale: Duration) -> Self {
        self.jwks.ttl = ttl;
        self.jwks.max_stale = max_stale;
        self
    }

    /// The user `token` names, with their scopes.
    pub async fn check(&self, token: &str) -> Result<Caller, TokenError> {
        let invalid = |e: jsonwebtoken::errors::Error| TokenError::Invalid(e.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not allowed here",
                header.alg
            )));
        }
        let keys = self.jwks.keys(header.kid.as_deref()).await?;
        let jwk = usable_key(&keys, header.kid.as_deref(), header.alg).ok_or_else(|| {
            TokenError::Invalid(
                "it is not signed with a key the identity provider publishes".into(),
            )
        })?;
        let key = DecodingKey::from_jwk(jwk).map_err(invalid)?;
        // Only the token's own algorithm (allowed above): the library refuses a validation
        // listing algorithms of other families than the key's.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(invalid)?
            .claims;
        let actor = claims
            .get(&self.actor_claim)
            .and_then(Value::as_str)
            .filter(|actor| is_printable_text(actor, MAX_ACTOR_LEN))
            // A user named like a machine client's record could pass as one in the trail.
            .filter(|actor| !actor.starts_with(super::caller::MACHINE_ACTOR_PREFIX))
            .ok_or_else(|| {
                TokenError::Invalid(format!(
                    "claim {:?} must name the user in 1 to {MAX_ACTOR_LEN} bytes of printable text, not as a machine client's record",
                    self.actor_claim
                ))
            })?
            .to_owned();
        Ok(Caller::User {
            actor,
            scopes: scopes_of(&claims),
        })
    }
}

/// The `medchain.*` scopes of a token: `scope` (space-separated, RFC 8693 and most
/// providers) or `scp` (a list, some providers); other scopes are ignored.
fn scopes_of(claims: &Map<String, Value>) -> Vec<Scope> {
    let mut names: Vec<&str> = Vec::new();
    if let Some(Value::String(scope)) = claims.get("scope") {
        names.extend(scope.split_ascii_whitespace());
    }
    match claims.get("scp") {
        Some(Value::Array(list)) => names.extend(list.iter().filter_map(Value::as_str)),
        Some(Value::String(scope)) => names.extend(scope.split_ascii_whitespace()),
        _ => {}
    }
    let mut scopes: Vec<Scope> = names.into_iter().filter_map(Scope::parse).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

/// The key for a token signed with `alg`: the one with its `kid`, or, when it names none, the
/// one key usable for `alg`; never a key published for another use or algorithm.
fn usable_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let usable = |jwk: &&Jwk| {
        let common = &jwk.common;
        common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == PublicKeyUse::Signature)
            && common
                .key_algorithm
                .is_none_or(|a| a == KeyAlgorithm::from(alg))
    };
    match kid {
        Some(kid) => keys.find(kid).filter(usable),
        None => {
            let mut candidates = keys.keys.iter().filter(usable);
            let first = candidates.next()?;
            candidates.next().is_none().then_some(first)
        }
    }
}

/// The provider's keys, fetched and cached.
struct Jwks {
    url: String,
    agent: ureq::Agent,
    ttl: Duration,
    cached: RwLock<Option<(Arc<JwkSet>, Instant)>>,
    /// When the keys were last fetched (or tried): one fetch at a time.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// [`MIN_REFETCH`], but for tests.
    min_refetch: Duration,
    /// [`MAX_STALE`], but for tests.
    max_stale: Duration,
}

impl Jwks {
    /// Keys to check a token naming `kid` with: the cached ones while fresh and holding it,
    /// else fetched again (see the module documentation for the limits).
    async fn keys(&self, kid: Option<&str>) -> Result<Arc<JwkSet>, TokenError> {
        let within = |cached: &Option<(Arc<JwkSet>, Instant)>, limit: Duration| {
            cached.as_ref().and_then(|(keys, at)| {
                let holds = kid.is_none_or(|kid| keys.find(kid).is_some());
                (at.elapsed() < limit && holds).then(|| keys.clone())
            })
        };
        let fresh = |cached: &Option<(Arc<JwkSet>, Instant)>| within(cached, self.ttl);
        if let Some(keys) = fresh(&self.current()) {
            return Ok(keys);
        }
        let mut last_fetch = match self.last_fetch.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // A fetch is under way. Keys past their cache time that still hold this key ID
                // serve meanwhile, so a provider that does not answer holds no one's request
                // for the fetch's timeout; a key ID they lack (a rotation) waits for the fetch.
                if let Some(keys) = within(&self.current(), self.ttl + self.max_stale) {
                    return Ok(keys);
                }
                self.last_fetch.lock().await
            }
        };
        // Another request may have fetched them while this one waited.
        let current = self.current();
        if let Some(keys) = fresh(&current) {
            return Ok(keys);
        }
        let usable_stale = current
            .and_then(|(keys, at)| (at.elapsed() < self.ttl + self.max_stale).then_some(keys));
        if last_fetch.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return usable_stale.ok_or_else(|| {
                TokenError::KeysUnavailable("the last fetch failed moments ago".into())
            });
        }
        *last_fetch = Some(Instant::now());
        let (agent, url) = (self.agent.clone(), self.url.clone());
        let fetched = tokio::task::spawn_blocking(move || fetch(&agent, &url))
            .await
            .map_err(|_| TokenError::KeysUnavailable("the fetch was interrupted".into()))
            .and_then(|r| r.map_err(TokenError::KeysUnavailable));
        match fetched {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *self.cached.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((keys.clone(), Instant::now()));
                tracing::info!(url = %self.url, keys = keys.keys.len(), "fetched the identity provider's signing keys");
                Ok(keys)
            }
            Err(error) => {
                tracing::error!(url = %self.url, %error, stale_keys_in_use = usable_stale.is_some(), "cannot fetch the identity provider's signing keys");
                usable_stale.ok_or(error)
            }
        }
    }

    fn current(&self) -> Option<(Arc<JwkSet>, Instant)> {
        self.cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
