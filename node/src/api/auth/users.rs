//! Users' bearer tokens: JWTs from the hospital's identity provider, checked against the keys it
//! publishes (its JWKS, fetched and cached by [`super::jwks`]).
//!
//! A token is taken when its header's algorithm is on the allow-list, its key (by `kid`, or the
//! one usable key when it names none) is in the JWKS ([`super::jwks`], which says when keys are
//! fetched and how long stale ones serve), its signature verifies, and its `iss`, `aud`, `exp`
//! (and `nbf`, if present) hold, with 60 s of leeway for clocks.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use medchain_protocol::entry::is_printable_text;
use medchain_protocol::limits::MAX_ACTOR_LEN;
use serde_json::{Map, Value};

use super::caller::{Caller, Scope};
use super::jwks::Jwks;
use crate::config::AuthSection;

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
    jwks: Arc<Jwks>,
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
            jwks: Arc::new(Jwks::new(
                section.jwks_url.clone(),
                agent,
                Duration::from_secs(section.jwks_cache_secs),
            )),
        })
    }

    /// The same, starting a fetch as soon as `min_refetch` after the last one ended (tests
    /// rotate keys without waiting [`super::jwks::MIN_REFETCH`]).
    #[cfg(test)]
    pub fn with_min_refetch(mut self, min_refetch: Duration) -> Self {
        self.jwks_to_set().min_refetch = min_refetch;
        self
    }

    /// The same, with keys fresh for `ttl` and used for `max_stale` more while the provider
    /// cannot be reached (tests see both limits pass in milliseconds).
    #[cfg(test)]
    pub fn with_cache_times(mut self, ttl: Duration, max_stale: Duration) -> Self {
        let jwks = self.jwks_to_set();
        (jwks.ttl, jwks.max_stale) = (ttl, max_stale);
        self
    }

    #[cfg(test)]
    fn jwks_to_set(&mut self) -> &mut Jwks {
        Arc::get_mut(&mut self.jwks).expect("set before any token is checked")
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
