//! The auditor dashboard at `/ui`: a page, its script and its style, built into the binary (no
//! internet at run time), which read the `/v1` API with the browser's session cookie and draw
//! chains and lag, peers, verifier reports, violations, quarantines and repairs, equivocation
//! evidence, a record's history tree, and certificate and CRL expiry.
//!
//! Sign-in: at the hospital's identity provider (`[auth.sign_in]`, authorization code with PKCE,
//! see [`provider`]), or with the API token and the name of the person using it (recorded as a
//! machine client on their behalf). Either opens a session ([`sessions`]) whose cookie the `/v1`
//! authentication takes for reads only: a session never writes, so a page elsewhere cannot make
//! a signed-in browser change anything (and the cookie is SameSite=Strict besides).

pub mod provider;
pub mod sessions;

use std::time::Duration;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::auth::{Caller, Scope, is_named_actor};
use super::error::ApiError;

/// The life of a session opened with the API token.
pub const TOKEN_SESSION_LIFE: Duration = Duration::from_secs(8 * 3600);

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// What the page may load and do: its own script, style and API, SVG drawn from a blob, nothing
/// framed, nothing from elsewhere.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// The dashboard's routes, under `/ui`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/app.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/session", get(session))
        .route("/sign-in/token", post(sign_in_with_token))
        .route("/sign-in/provider", get(sign_in_at_provider))
        .route("/callback", get(callback))
        .route("/sign-out", post(sign_out))
        .layer(axum::middleware::map_response(protect))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Headers on every dashboard answer: the policy above, no framing, no sniffing, no caching,
/// no referrer to other sites (a callback URL holds a code).
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on the page's own forms.
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `GET /ui/session`: who is signed in (if anyone), and whether the provider sign-in is offered.
async fn session(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let sessions = state.auth.sessions();
    let caller = sessions
        .value_in(&headers)
        .and_then(|v| sessions.caller(&v));
    let actor = match caller {
        Some(Caller::User { actor, .. }) => Some(actor),
        _ => None,
    };
    axum::Json(serde_json::json!({
        "signed_in": actor.is_some(),
        "actor": actor,
        "provider": state.auth.provider().is_some(),
        "role": state.role.as_str(),
    }))
    .into_response()
}

/// The token sign-in form.
#[derive(Deserialize)]
struct TokenForm {
    token: String,
    actor: String,
}

/// `POST /ui/sign-in/token`: the API token and the name of the person using it.
async fn sign_in_with_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(refused) = refuse_other_origin(&headers) {
        return refused;
    }
    let Ok(Form(form)) = form else {
        return back_with("form");
    };
    if !is_named_actor(&form.actor) {
        return back_with("name");
    }
    if !state.auth.is_api_token(&form.token) {
        tracing::warn!("dashboard sign-in with a wrong API token refused");
        return back_with("token");
    }
    let caller = Caller::User {
        actor: format!("{}{}", super::auth::MACHINE_ACTOR_PREFIX, form.actor),
        scopes: vec![Scope::Read],
    };
    tracing::info!(actor = %form.actor, "dashboard sign-in with the API token");
    open_session(&state, caller, TOKEN_SESSION_LIFE)
}

/// `GET /ui/sign-in/provider`: sends the browser to the identity provider.
async fn sign_in_at_provider(State(state): State<AppState>) -> Response {
    let Some(provider) = state.auth.provider() else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "no identity provider sign-in is configured ([auth.sign_in])",
        )
        .into_response();
    };
    let Some((sign_in, verifier, cookie)) = state.auth.sessions().begin_sign_in() else {
        return unavailable("the system random number generator failed");
    };
    match provider.authorization_redirect(&sign_in, &sessions::pkce_challenge(&verifier)) {
        Ok(url) => {
            let mut response = Redirect::to(&url).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => unavailable(&error.to_string()),
    }
}

/// What the provider sends back.
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /ui/callback?code=&state=`: exchanges the code and opens the session. Whatever
/// happens, the browser is told to drop the sign-in's cookie (nothing on the node marks a state
/// used: within its 10 minutes, a replay of cookie and state would bring a code again, which
/// the provider takes once).
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let mut response = finish_sign_in(&state, &headers, query).await;
    if let Some(cleared) = state.auth.sessions().clear_sign_in() {
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    response
}

async fn finish_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (Ok(Query(query)), Some(provider)) = (query, state.auth.provider()) else {
        return back_with("provider");
    };
    if let Some(error) = &query.error {
        // The provider's words, bounded and quoted: they come through the browser.
        let error: String = error.chars().take(64).collect();
        tracing::warn!(provider_error = ?error, "dashboard sign-in: the identity provider refused it");
        return back_with("provider");
    }
    // The sealed cookie ties the answer to a sign-in this browser began with this state.
    let verifier = query
        .state
        .as_deref()
        .and_then(|s| state.auth.sessions().finish_sign_in(s, headers));
    let (Some(code), Some(verifier)) = (query.code, verifier) else {
        tracing::warn!(
            "dashboard sign-in: a callback without a sign-in this browser began (state unknown, expired or for another browser)"
        );
        return back_with("again");
    };
    let Some(slot) = provider.exchange_slot() else {
        tracing::warn!("dashboard sign-in: too many code exchanges at once; refused");
        return back_with("busy");
    };
    let exchanged = {
        let provider = provider.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            provider.exchange(&code, &verifier)
        })
        .await
    };
    let token = match exchanged {
        Ok(Ok(token)) => token,
        Ok(Err(error)) => {
            tracing::warn!(%error, "dashboard sign-in: the code exchange failed");
            return back_with("provider");
        }
        Err(_) => {
            tracing::warn!("dashboard sign-in: the code exchange was interrupted");
            return back_with("provider");
        }
    };
    let caller = match state.auth.user_token(&token).await {
        Ok(caller) => caller,
        Err(error) => {
            tracing::warn!(%error, "dashboard sign-in: the provider's token was refused");
            return back_with("provider");
        }
    };
    let Caller::User { actor, .. } = &caller else {
        return back_with("provider");
    };
    if !caller.may(Scope::Read) {
        tracing::warn!(%actor, "dashboard sign-in: the token lacks medchain.read");
        return back_with("scope");
    }
    tracing::info!(%actor, "dashboard sign-in at the identity provider");
    open_session(state, caller.clone(), provider.session_life())
}

/// `POST /ui/sign-out`.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = refuse_other_origin(&headers) {
        return refused;
    }
    for value in state.auth.sessions().values_in(&headers) {
        state.auth.sessions().close(&value);
    }
    let mut response = Redirect::to("/ui").into_response();
    if let Some(cleared) = state.auth.sessions().clear_cookie() {
        response.headers_mut().insert(header::SET_COOKIE, cleared);
    }
    response
}

fn open_session(state: &AppState, caller: Caller, life: Duration) -> Response {
    let sessions = state.auth.sessions();
    let Some(value) = sessions.open(caller, life) else {
        return unavailable("the system random number generator failed");
    };
    let Some(cookie) = sessions.set_cookie(&value, life) else {
        return unavailable("the session cookie cannot be made");
    };
    let mut response = Redirect::to("/ui").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

/// Back to the page, which says why (one of a fixed set of words: nothing a caller wrote).
fn back_with(failure: &'static str) -> Response {
    Redirect::to(&format!("/ui?failed={failure}")).into_response()
}

fn unavailable(why: &str) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why).into_response()
}

/// The refusal of a form posted from another site: its `Origin` must be this node's (browsers
/// send it with every POST); `Host` is what the browser reached.
fn refuse_other_origin(headers: &HeaderMap) -> Option<Response> {
    // Not a browser (a browser always sends Origin on POST): nothing to forge for.
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    match (origin_host, host) {
        (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => None,
        _ => Some(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "a dashboard form must be sent from the dashboard's own page",
            )
            .into_response(),
        ),
    }
}
