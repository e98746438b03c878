//! Authentication for `/v1`: every call there reads or writes patient records, so every call
//! needs `Authorization: Bearer <token>`, either the node's API token (a machine client) or, with
//! `[auth]` configured, a user's JWT from the hospital's identity provider (see [`users`]). The
//! caller ([`Caller`]) goes into the request's extensions; a user needs the scope the route
//! needs ([`Scope::required`]). `/health`, `/ready`, `/metrics` and the OpenAPI document need
//! no token.
//!
//! Refusals follow RFC 6750: 401 with `WWW-Authenticate: Bearer error="invalid_token"` for a
//! token not taken, 403 with `error="insufficient_scope"` and the scope needed, 503 when the
//! provider's keys cannot be had.

mod caller;
mod jwks;
mod users;

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub use caller::{Caller, MACHINE_ACTOR_PREFIX, Scope, is_named_actor};
pub use users::{TokenError, UserTokens};

use super::AppState;
use super::error::ApiError;
use super::ui::provider::ProviderSignIn;
use super::ui::sessions::Sessions;

/// What `/v1` takes as credentials.
pub struct Authenticator {
    /// The API token of machine clients.
    token: Arc<str>,
    /// Users' tokens, when `[auth]` is configured.
    users: Option<UserTokens>,
    /// The dashboard's sessions (read-only callers by cookie).
    sessions: Sessions,
    /// The dashboard's sign-in at the identity provider, when `[auth.sign_in]` is configured.
    provider: Option<Arc<ProviderSignIn>>,
}

impl Authenticator {
    /// The API token alone (`users` = `None`), or with users' tokens too; users sign in to the
    /// dashboard at the identity provider through `provider`, if given. The dashboard's cookies
    /// carry `Secure` when browsers reach the node over TLS: the API serves it (`tls`), or the
    /// URL browsers are given (`api_url`, or the provider's redirect URL) is https while the API
    /// serves plain HTTP (a TLS proxy in front).
    pub fn new(
        token: Arc<str>,
        users: Option<UserTokens>,
        tls: bool,
        api_url: Option<&str>,
        provider: Option<ProviderSignIn>,
    ) -> anyhow::Result<Self> {
        let proxied = [api_url, provider.as_ref().map(ProviderSignIn::redirect_url)]
            .into_iter()
            .flatten()
            .find(|url| !tls && url.to_ascii_lowercase().starts_with("https://"));
        if let Some(url) = proxied {
            tracing::info!(%url, "the dashboard's cookies are marked Secure: browsers are given an https URL, so a TLS proxy is taken to be in front");
        }
        let sessions = Sessions::new(tls || proxied.is_some())
            .ok_or_else(|| anyhow::anyhow!("the system random number generator failed"))?;
        Ok(Self {
            token,
            users,
            sessions,
            provider: provider.map(Arc::new),
        })
    }

    /// The dashboard's sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The dashboard's sign-in at the identity provider, if configured.
    pub fn provider(&self) -> Option<&Arc<ProviderSignIn>> {
        self.provider.as_ref()
    }

    /// Whether `presented` is the API token.
    pub fn is_api_token(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.token.as_bytes())
    }

    /// The user a provider's `token` names.
    pub async fn user_token(&self, token: &str) -> Result<Caller, TokenError> {
        match &self.users {
            Some(users) => users.check(token).await,
            None => Err(TokenError::Invalid(
                "no identity provider is configured".into(),
            )),
        }
    }

    async fn caller(&self, presented: &str) -> Result<Caller, Response> {
        if self.is_api_token(presented) {
            return Ok(Caller::Machine);
        }
        let Some(users) = &self.users else {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "invalid API token",
                "invalid_token",
            ));
        };
        users.check(presented).await.map_err(|error| match error {
            TokenError::Invalid(_) => refusal(
                StatusCode::UNAUTHORIZED,
                &error.to_string(),
                "invalid_token",
            ),
            TokenError::KeysUnavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response()
            }
        })
    }
}

/// Refuses requests without a token taken, or (a user) without the route's scope; passes the
/// caller on to the handler.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let caller = match presented {
        Some(presented) => match state.auth.caller(&presented).await {
            Ok(caller) => caller,
            Err(response) => return response,
        },
        None => match session_caller(&state, &request) {
            Ok(caller) => caller,
            Err(response) => return response,
        },
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let needed = Scope::required(request.method(), &route);
    if !caller.may(needed) {
        let mut response = ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {} scope, which the token does not grant",
                needed.as_str()
            ),
        )
        .into_response();
        let challenge = format!(
            "Bearer error=\"insufficient_scope\", scope=\"{}\"",
            needed.as_str()
        );
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return response;
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller of a request without a bearer token: its dashboard session's, for a read.
#[allow(clippy::result_large_err)] // a refusal, answered at once
fn session_caller(state: &AppState, request: &Request) -> Result<Caller, Response> {
    let values = state.auth.sessions().values_in(request.headers());
    let [value] = values.as_slice() else {
        if values.len() > 1 {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "the dashboard's session cookie was sent more than once (one was set by another site or path): clear this site's cookies in the browser and sign in again at /ui",
                "invalid_token",
            ));
        }
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer <API token or identity provider token>",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(response);
    };
    let Some(caller) = state.auth.sessions().caller(value) else {
        return Err(refusal(
            StatusCode::UNAUTHORIZED,
            "the dashboard session has ended (or the node restarted): sign in again at /ui",
            "invalid_token",
        ));
    };
    if !matches!(request.method().as_str(), "GET" | "HEAD") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a dashboard session only reads: writes and administration need Authorization: Bearer",
        )
        .into_response());
    }
    Ok(caller)
}

/// A 401 or 403 with its RFC 6750 challenge (the description is left out of the header: it may
/// hold characters a header cannot).
fn refusal(status: StatusCode, message: &str, error: &'static str) -> Response {
    let mut response = ApiError::new(status, message).into_response();
    let challenge = format!("Bearer error=\"{error}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Compares without an early exit, so timing does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn equality() {
        assert!(super::constant_time_eq(b"secret", b"secret"));
        assert!(!super::constant_time_eq(b"secret", b"secreT"));
        assert!(!super::constant_time_eq(b"secret", b"secret2"));
    }
}
