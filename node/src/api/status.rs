//! Health, readiness, status, peers and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};

/// The OpenAPI 3 document of this API.
const OPENAPI: &str = include_str!("openapi.json");

/// `GET /health`: the process is up.
pub async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// `GET /ready`: the store answers.
pub async fn ready(State(state): State<AppState>) -> ApiResult<Response> {
    blocking(state, |s| s.chains().map(|c| c.len())).await?;
    Ok(Json(serde_json::json!({ "status": "ready" })).into_response())
}

/// `GET /metrics`: Prometheus text. Chain heights are read from the store now.
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let metrics = state.metrics.clone();
    let chains = blocking(state, |s| s.chains()).await?;
    for chain in chains {
        let labels = crate::metrics::ChainLabels {
            chain: chain.head.chain.to_hex(),
        };
        let height = i64::try_from(chain.head.height).unwrap_or(i64::MAX);
        metrics.chain_height.get_or_create(&labels).set(height);
    }
    metrics.refresh_heap();
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response())
}

/// `GET /v1/status`.
pub async fn status(State(state): State<AppState>) -> ApiResult<Response> {
    let role = state.role;
    let chains = blocking(state, |s| s.chains()).await?;
    Ok(Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "role": role.as_str(),
        "chains": chains.len(),
        "blocks": chains.iter().map(|c| c.head.height + 1).sum::<u64>(),
    }))
    .into_response())
}

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

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
