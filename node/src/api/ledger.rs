//! Ledger endpoints: chains, blocks, equivocation evidence, the verifier.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use medchain_protocol::{Block, BlockHash, ChainHead, ChainId, Entry, EquivocationEvidence};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};

/// `GET /v1/chains`: heads, provider organisations, and how far each chain was behind the best
/// peer at the last anti-entropy round.
pub async fn chains(State(state): State<AppState>) -> ApiResult<Response> {
    let metrics = state.metrics.clone();
    let chains = blocking(state, |s| s.chains()).await?;
    let views: Vec<serde_json::Value> = chains
        .into_iter()
        .map(|c| {
            let labels = crate::metrics::ChainLabels {
                chain: c.head.chain.to_hex(),
            };
            let lag = metrics.chain_lag.get_or_create(&labels).get();
            let mut view = serde_json::to_value(&c).unwrap_or_default();
            view["lag_behind_peers"] = lag.into();
            view
        })
        .collect();
    Ok(Json(views).into_response())
}

/// Query of a block listing.
#[derive(Debug, Deserialize)]
pub struct BlocksQuery {
    #[serde(default)]
    from: u64,
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    64
}

/// A block as JSON.
#[derive(Debug, Serialize)]
pub struct BlockView {
    hash: BlockHash,
    chain: ChainId,
    height: u64,
    prev: BlockHash,
    time_ms: u64,
    entries_root: medchain_protocol::EntriesRoot,
    certificate: medchain_protocol::CertHash,
    certificate_carried: bool,
    witnesses: Vec<ChainHead>,
    signature: String,
    entries: Vec<Entry>,
}

impl From<Block> for BlockView {
    fn from(block: Block) -> Self {
        let h = block.header.clone();
        Self {
            hash: block.hash(),
            chain: h.chain,
            height: h.height,
            prev: h.prev,
            time_ms: h.time_ms,
            entries_root: h.entries_root,
            certificate: h.cert,
            certificate_carried: block.certificate.is_some(),
            witnesses: h.witnesses,
            signature: hex::encode(block.signature.0),
            entries: block.entries,
        }
    }
}

/// `GET /v1/chains/{chain}/blocks?from=&limit=`.
pub async fn blocks(
    State(state): State<AppState>,
    Path(chain): Path<String>,
    Query(query): Query<BlocksQuery>,
) -> ApiResult<Response> {
    let chain: ChainId = chain
        .parse()
        .map_err(|_| ApiError::bad_request("chain ID must be 64 hex characters"))?;
    let blocks = blocking(state, move |s| s.blocks(&chain, query.from, query.limit)).await?;
    let views: Vec<BlockView> = blocks.into_iter().map(BlockView::from).collect();
    Ok(Json(views).into_response())
}

/// Equivocation evidence as JSON.
#[derive(Debug, Serialize)]
pub struct EvidenceView {
    chain: ChainId,
    height: u64,
    first: BlockHash,
    first_time_ms: u64,
    second: BlockHash,
    second_time_ms: u64,
    org: Option<String>,
}

impl From<EquivocationEvidence> for EvidenceView {
    fn from(e: EquivocationEvidence) -> Self {
        Self {
            chain: e.first.header.chain,
            height: e.first.header.height,
            first: e.first.header.hash(),
            first_time_ms: e.first.header.time_ms,
            second: e.second.header.hash(),
            second_time_ms: e.second.header.time_ms,
            org: medchain_protocol::identity::org_of(&e.certificate),
        }
    }
}

/// `GET /v1/evidence`.
pub async fn evidence(State(state): State<AppState>) -> ApiResult<Response> {
    let evidence = blocking(state, |s| s.evidence()).await?;
    let views: Vec<EvidenceView> = evidence.into_iter().map(EvidenceView::from).collect();
    Ok(Json(views).into_response())
}

/// `POST /v1/verify`: runs the verifier now, quarantines what it finds (the range then comes
/// back from peers), and answers its report.
pub async fn verify(State(state): State<AppState>) -> ApiResult<Response> {
    let metrics = state.metrics.clone();
    let report = tokio::task::spawn_blocking(move || {
        crate::daemon::verifier::check_and_quarantine(&state.service, &metrics)
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "the verifier could not run; see the node's log",
        )
    })?;
    Ok(Json(report).into_response())
}

/// `GET /v1/verify/reports`: the last 20 reports, newest first.
pub async fn reports(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(blocking(state, |s| s.reports(20)).await?).into_response())
}
