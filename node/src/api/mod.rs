//! The HTTP API (axum): JSON under `/v1`, its OpenAPI document at `/v1/openapi.json`, and
//! `/health`, `/ready` for orchestration. Every `/v1` call needs the bearer token; reads of
//! records are audited (see the service layer). Bodies are limited in size; every error is JSON.
//!
//! Handlers never touch sled from the async runtime: each call runs on the blocking pool.

pub mod auth;
pub mod doc;
mod error;
mod extract;
pub mod fhir;
mod grants;
mod intake;
mod ledger;
mod proofs;
mod records;
mod replication;
pub mod serve;
mod status;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use medchain_protocol::identity::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

use crate::coordination::Coordination;
use crate::metrics::Metrics;
use crate::service::{Service, ServiceError};

/// Largest request body: an 8 MiB payload as JSON, with room for the envelope.
pub const MAX_BODY_BYTES: usize = 12 << 20;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The service.
    pub service: Arc<Service>,
    /// The run's coordination (the store's verdict, wanted payloads, repair wake-ups).
    pub coordination: Arc<Coordination>,
    /// What `/v1` takes as credentials: the API token, and users' tokens if configured.
    pub auth: Arc<auth::Authenticator>,
    /// Provider or auditor.
    pub role: Role,
    /// The node's metrics.
    pub metrics: Arc<Metrics>,
    /// The network client, when the node runs the network layer.
    pub net: Option<medchain_net::Client>,
}

/// The router for `state`, and the OpenAPI document made from the same registrations.
pub fn router(state: AppState) -> Router {
    let (v1, v1_doc) = OpenApiRouter::new()
        .routes(routes!(records::create))
        .routes(routes!(records::create_batch))
        .routes(routes!(records::get))
        .routes(routes!(records::history))
        .routes(routes!(records::accesses))
        .routes(routes!(proofs::proof))
        .routes(routes!(grants::grant, grants::list))
        .routes(routes!(grants::revoke))
        .routes(routes!(grants::erase))
        .routes(routes!(grants::received))
        .routes(routes!(records::of_patient))
        .routes(routes!(ledger::chains))
        .routes(routes!(ledger::blocks))
        .routes(routes!(intake::export))
        .routes(routes!(intake::submit))
        .routes(routes!(ledger::evidence))
        .routes(routes!(ledger::verify))
        .routes(routes!(ledger::reports))
        .routes(routes!(ledger::quarantines))
        .routes(routes!(status::status))
        .routes(routes!(status::peers))
        .routes(routes!(status::resume_writes))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .routes(routes!(status::openapi))
        .split_for_parts();
    let (fhir_routes, fhir_doc) = OpenApiRouter::new()
        .routes(routes!(fhir::provenance))
        .routes(routes!(fhir::audit_events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .routes(routes!(fhir::metadata))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such FHIR interaction here; see /fhir/r4/metadata",
            )
        })
        .layer(middleware::from_fn(fhir::as_operation_outcome))
        .split_for_parts();
    let (public, public_doc) = OpenApiRouter::new()
        .routes(routes!(status::health))
        .routes(routes!(status::ready))
        .routes(routes!(status::metrics))
        .split_for_parts();
    doc::publish(public_doc.nest("/v1", v1_doc).nest("/fhir/r4", fhir_doc));
    Router::new()
        .nest("/v1", v1)
        .nest("/fhir/r4", fhir_routes)
        .nest("/ui", ui::router())
        .route(
            "/ui/",
            axum::routing::get(|| async { axum::response::Redirect::permanent("/ui") }),
        )
        .merge(public)
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint; see /v1/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts every request and its latency by route pattern (never by concrete path, which may
/// hold a patient identifier, and never by anything else a client chooses).
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    // Labels come from fixed sets only: a client inventing methods must not mint series.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "DELETE" | "HEAD" | "OPTIONS" | "PATCH") => m,
        _ => "other",
    }
    .to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let labels = crate::metrics::RequestLabels {
        route: route.clone(),
        method,
        status: response.status().as_u16(),
    };
    state.metrics.api_requests.get_or_create(&labels).inc();
    state
        .metrics
        .api_latency
        .get_or_create(&crate::metrics::RouteLabels { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Runs a service call on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: AppState,
    call: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(move || call(&state.service))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request was interrupted",
            )
        })?
        .map_err(ApiError::from)
}

#[cfg(test)]
mod tests;
