//! Ledger endpoints: chains, blocks, equivocation evidence, the verifier.

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use medchain_protocol::{Block, BlockHash, ChainHead, ChainId, Entry, EquivocationEvidence};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};

/// Highest height a query may name (2^53: exact in every JSON parser, and far above any chain).
pub const MAX_HEIGHT: u64 = 1 << 53;
use super::{AppState, blocking};
use crate::flows::integrity_check::check_and_quarantine;

#[utoipa::path(get, path = "/chains", tag = "chains",
    responses((status = 200, description = "Every chain held: head, organisation, lag behind peers", body = Vec<Object>)))]
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlocksQuery {
    #[serde(default)]
    #[param(minimum = 0, maximum = 9007199254740992_u64)]
    from: u64,
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 256)]
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

#[utoipa::path(get, path = "/chains/{chain}/blocks", tag = "chains",
    params(("chain" = String, Path, description = "The chain ID", pattern = "^[0-9a-f]{64}$"), BlocksQuery),
    responses(
        (status = 200, description = "Consecutive blocks from `from` (at most `limit`)", body = Vec<Object>),
        (status = 400, description = "Malformed chain ID, from or limit", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/chains/{chain}/blocks?from=&limit=`.
pub async fn blocks(
    State(state): State<AppState>,
    Path(chain): Path<String>,
    Query(query): Query<BlocksQuery>,
) -> ApiResult<Response> {
    let chain: ChainId = chain
        .parse()
        .map_err(|_| ApiError::bad_request("chain ID must be 64 hex characters"))?;
    if query.from > MAX_HEIGHT || !(1..=256).contains(&query.limit) {
        return Err(ApiError::bad_request(format!(
            "from must be at most {MAX_HEIGHT} and limit 1 to 256"
        )));
    }
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

/// Query of an evidence listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvidenceQuery {
    /// Most items (default 100, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Start after this `chain/height` (the `next` of the previous page).
    #[serde(default)]
    #[param(pattern = "^[0-9a-f]{64}/[0-9]{1,15}$")]
    after: Option<String>,
}

/// Most evidence items in one page.
pub const MAX_EVIDENCE_PER_PAGE: usize = 1000;

#[utoipa::path(get, path = "/evidence", tag = "chains",
    params(EvidenceQuery),
    responses(
        (status = 200, description = "One page of equivocation evidence, with `next`", body = Object),
        (status = 400, description = "Malformed limit or after", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/evidence?limit=&after=CHAIN/HEIGHT`: one page of equivocation evidence (one item
/// per chain and height), with `next` to ask for the page after it (`null` at the end).
pub async fn evidence(
    State(state): State<AppState>,
    Query(query): Query<EvidenceQuery>,
) -> ApiResult<Response> {
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_EVIDENCE_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_EVIDENCE_PER_PAGE}"
        )));
    }
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => Some(parse_position(text).ok_or_else(|| {
            ApiError::bad_request(
                "after must be CHAIN/HEIGHT (64 hex characters, a slash, a number)",
            )
        })?),
    };
    let (page, next) = blocking(state, move |s| s.evidence_page(after, limit)).await?;
    let views: Vec<EvidenceView> = page.into_iter().map(EvidenceView::from).collect();
    let next = next.map(|(chain, height)| format!("{chain}/{height}"));
    Ok(Json(serde_json::json!({ "evidence": views, "next": next })).into_response())
}

/// `chain/height`.
fn parse_position(text: &str) -> Option<(ChainId, u64)> {
    let (chain, height) = text.split_once('/')?;
    Some((chain.parse().ok()?, height.parse().ok()?))
}

#[utoipa::path(post, path = "/verify", tag = "verifier",
    responses((status = 200, description = "The verifier's report (violations found are quarantined and repaired from peers)", body = Object)))]
/// `POST /v1/verify`: runs the verifier now, quarantines what it finds (the range then comes
/// back from peers), and answers its report.
pub async fn verify(State(state): State<AppState>) -> ApiResult<Response> {
    let metrics = state.metrics.clone();
    let report = tokio::task::spawn_blocking(move || {
        check_and_quarantine(&state.service, &state.coordination, &metrics)
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

#[utoipa::path(get, path = "/verify/reports", tag = "verifier",
    responses((status = 200, description = "The last 20 reports, newest first", body = Vec<Object>)))]
/// `GET /v1/verify/reports`: the last 20 reports, newest first.
pub async fn reports(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(Json(blocking(state, |s| s.reports(20)).await?).into_response())
}

/// Most quarantine events listed.
pub const MAX_QUARANTINES_LISTED: usize = 100;

#[utoipa::path(get, path = "/quarantines", tag = "verifier",
    responses((status = 200, description = "The last 100 quarantine events, newest first: the damaged range moved aside, why, and when it was restored from peers (null while awaiting repair)", body = Vec<Object>)))]
/// `GET /v1/quarantines`: what the verifier moved aside and whether peers restored it.
pub async fn quarantines(State(state): State<AppState>) -> ApiResult<Response> {
    let events = blocking(state, |s| s.quarantines(MAX_QUARANTINES_LISTED)).await?;
    let views: Vec<serde_json::Value> = events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id,
                "chain": e.chain,
                "from_height": e.from_height,
                "to_height": e.to_height,
                "time_ms": e.time_ms,
                "reason": e.reason,
                "blocks": e.blocks.len(),
                "restored_at_ms": e.restored_at_ms,
            })
        })
        .collect();
    Ok(Json(views).into_response())
}
