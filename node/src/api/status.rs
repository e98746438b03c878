//! Health, readiness, status, peers, the operator's lift of a pause of writes, and the OpenAPI
//! document.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use medchain_requests::Resume;

use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};
use crate::service::ServiceError;

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process is up", body = Object)))]
/// `GET /health`: the process is up.
pub async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Not ready: the store cannot be vouched for (the reason)", body = super::doc::ErrorBody),
    ))]
/// `GET /ready`: the store answers and the last integrity scan completed (503 with the reason
/// otherwise: a node that cannot vouch for its store is not ready).
pub async fn ready(State(state): State<AppState>) -> ApiResult<Response> {
    state
        .coordination
        .integrity()
        .check()
        .map_err(ServiceError::from)?;
    blocking(state, |s| s.chains().map(|c| c.len())).await?;
    Ok(Json(serde_json::json!({ "status": "ready" })).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus / OpenMetrics text", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 503, description = "The store cannot be read now", body = super::doc::ErrorBody),
    ))]
/// `GET /metrics`: Prometheus text. Chain heights are read from the store now.
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let metrics = state.metrics.clone();
    let wanted = state.coordination.wanted_payloads().len();
    let keys_wanted = state.coordination.wanted_keys().len();
    metrics
        .keys_wanted
        .set(i64::try_from(keys_wanted).unwrap_or(i64::MAX));
    let (chains, state_paused) =
        blocking(state, |s| Ok((s.chains()?, s.writes_paused().is_some()))).await?;
    metrics
        .payloads_wanted
        .set(i64::try_from(wanted).unwrap_or(i64::MAX));
    for chain in chains {
        let labels = crate::metrics::ChainLabels {
            chain: chain.head.chain.to_hex(),
        };
        let height = i64::try_from(chain.head.height).unwrap_or(i64::MAX);
        metrics.chain_height.get_or_create(&labels).set(height);
    }
    metrics.refresh_heap();
    metrics.refresh_writes_paused(state_paused);
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response())
}

#[utoipa::path(get, path = "/status", tag = "operations",
    responses((status = 200, description = "Version, role, what the node holds, whether writes are paused", body = Object)))]
/// `GET /v1/status`: version, role, what the node holds, and whether writes are paused (with
/// why and since when).
pub async fn status(State(state): State<AppState>) -> ApiResult<Response> {
    let role = state.role;
    let expiries = state.coordination.expiries();
    let (chains, paused) = blocking(state, |s| Ok((s.chains()?, s.writes_paused()))).await?;
    Ok(Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "role": role.as_str(),
        "chains": chains.len(),
        "blocks": chains.iter().map(|c| c.head.height.saturating_add(1)).fold(0u64, u64::saturating_add),
        "writes_paused": paused,
        // Unix seconds; null when not known (yet) or not used (no TLS, no revocation list).
        "certificates": {
            "member_not_after": expiries.member,
            "ca_not_after": expiries.ca,
            "api_tls_not_after": expiries.api_tls,
            "crl_next_update": expiries.crl_next_update,
        },
    }))
    .into_response())
}

#[utoipa::path(post, path = "/admin/writes/resume", tag = "operations",
    request_body(content = super::doc::ResumeDoc),
    responses(
        (status = 200, description = "Writes resumed (who and why are recorded)", body = Object),
        (status = 409, description = "The pause may not be lifted now (the reason)", body = super::doc::ErrorBody),
    ))]
/// `POST /v1/admin/writes/resume`: an operator lifts a pause of writes by hand (the only peer
/// holding this node's chain is offline, say), recorded with who and why in the signing record
/// and the log. 409 when it may not be lifted (part of the chain awaits repair, or it would
/// sign a new genesis); 403 on an auditor.
pub async fn resume_writes(
    State(state): State<AppState>,
    Extension(caller): Extension<super::auth::Caller>,
    body: Result<Json<Resume>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(resume) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    resume
        .check()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Resume { actor, reason } = resume;
    let actor = caller.acting(Some(&actor))?;
    let (by, why) = (actor.clone(), reason.clone());
    let lifted = blocking(state, move |s| s.lift_pause(&by, &why)).await?;
    tracing::warn!(%actor, %reason, lifted = %lifted.kind, detail = %lifted.detail, "writes resumed by an operator");
    Ok(Json(serde_json::json!({ "resumed": true, "lifted": lifted })).into_response())
}

#[utoipa::path(get, path = "/peers", tag = "operations",
    responses(
        (status = 200, description = "This node's peer ID and the admitted peers with their roles", body = Object),
        (status = 501, description = "This node runs no network layer (an in-process test node)", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/peers`: the admitted peers and their roles.
pub async fn peers(State(state): State<AppState>) -> ApiResult<Response> {
    let Some(net) = &state.net else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this node does not run the network layer",
        ));
    };
    let peers = net
        .admitted_peers()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("network: {e}")))?;
    let list: Vec<_> = peers
        .into_iter()
        .map(|(peer, role)| serde_json::json!({ "peer": peer.to_string(), "role": role.as_str() }))
        .collect();
    Ok(
        Json(serde_json::json!({ "local": net.peer_id().to_string(), "peers": list }))
            .into_response(),
    )
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document (OpenAPI 3.1), generated from the code", body = Object)))]
/// `GET /v1/openapi.json`: the document made from the routes' annotations.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::doc::document(),
    )
        .into_response()
}
