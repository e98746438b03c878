//! Blocks in wire form: `POST /v1/blocks` hands the node a block that came out of band (a file,
//! another network, a drill), judged exactly as gossip is; `GET .../blocks/{height}/wire` exports
//! a stored block in the same form, e.g. as evidence for an auditor.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;

use super::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use medchain_chain::Verdict;
use medchain_net::Topic;
use medchain_protocol::limits::MAX_GOSSIP_BYTES;
use medchain_protocol::message::WireMessage;
use medchain_protocol::{BlockMessage, ChainId};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};
use crate::flows::block_intake::{Intake, take_block};

/// Where `POST /v1/blocks` says a block came from, in the node's log.
const SOURCE: &str = "api:/v1/blocks";

#[utoipa::path(post, path = "/blocks", tag = "chains",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A block message in wire form (docs/protocol.md section 8)"),
    responses(
        (status = 201, description = "Stored", body = Object),
        (status = 200, description = "Held already", body = Object),
        (status = 202, description = "Buffered: waits for earlier heights", body = Object),
        (status = 409, description = "Equivocation (the held block stays; the evidence is kept), or not applicable now", body = Object),
        (status = 422, description = "Refused, with the reason", body = Object),
    ))]
/// `POST /v1/blocks` (body: a block message in wire form, `application/octet-stream`).
///
/// 201 stored; 200 already held; 202 waits for earlier blocks; 409 equivocation (the held block
/// stays, the evidence is kept and gossiped) or not applicable now; 422 refused (the reason is
/// the same label the `medchain_blocks_rejected_total` metric uses); 400 not a block message.
pub async fn submit(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    if body.len() > MAX_GOSSIP_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a block message is at most {MAX_GOSSIP_BYTES} bytes"),
        ));
    }
    let answer = match take_block(&state.service, &state.metrics, &body, &SOURCE).await {
        Intake::Committed(run) => {
            let blocks: Vec<_> = run
                .iter()
                .map(|c| json!({"chain": c.chain, "height": c.height, "hash": c.hash}))
                .collect();
            (
                StatusCode::CREATED,
                json!({"outcome": "stored", "blocks": blocks}),
            )
        }
        Intake::Buffered(gap) => (
            StatusCode::ACCEPTED,
            json!({"outcome": "buffered", "chain": gap.chain, "missing_from": gap.from, "missing_to": gap.to}),
        ),
        Intake::Equivocation { evidence, new } => {
            if new && let Some(net) = &state.net {
                let _ = net.publish(Topic::Evidence, evidence.to_wire()).await;
            }
            (
                StatusCode::CONFLICT,
                json!({
                    "outcome": "equivocation",
                    "error": "another block is held at this height: the held block stays and the evidence is kept",
                    "chain": evidence.first.header.chain,
                    "height": evidence.first.header.height,
                    "held": evidence.first.header.hash(),
                    "refused": evidence.second.header.hash(),
                    "evidence_new": new,
                }),
            )
        }
        Intake::Refused {
            chain,
            height,
            rejection,
        } => {
            let (status, outcome) = match rejection.verdict() {
                Verdict::Duplicate => (StatusCode::OK, "duplicate"),
                Verdict::Ignore => (StatusCode::CONFLICT, "not_applied"),
                Verdict::Reject => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            };
            (
                status,
                json!({
                    "outcome": outcome,
                    "error": rejection.to_string(),
                    "reason": rejection.reason(),
                    "chain": chain,
                    "height": height,
                }),
            )
        }
        Intake::Malformed(detail) => (
            StatusCode::BAD_REQUEST,
            json!({"outcome": "malformed", "reason": "malformed", "error": format!("not a block message: {detail}")}),
        ),
        Intake::Interrupted => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is shutting down",
            ));
        }
    };
    Ok((answer.0, Json(answer.1)).into_response())
}

#[utoipa::path(get, path = "/chains/{chain}/blocks/{height}/wire", tag = "chains",
    params(("chain" = String, Path, description = "The chain ID", pattern = "^[0-9a-f]{64}$"), ("height" = u64, Path, description = "The block's height", minimum = 0, maximum = 9007199254740992_u64)),
    responses(
        (status = 200, description = "The block message in wire form", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "Malformed chain ID or height", body = super::doc::ErrorBody),
        (status = 404, description = "No block at this height", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/chains/{chain}/blocks/{height}/wire`: the stored block as a block message in wire
/// form (without inline payloads), as gossip would carry it.
pub async fn export(
    State(state): State<AppState>,
    Path((chain, height)): Path<(String, u64)>,
) -> ApiResult<Response> {
    let chain: ChainId = chain
        .parse()
        .map_err(|_| ApiError::bad_request("chain ID must be 64 hex characters"))?;
    if height > super::ledger::MAX_HEIGHT {
        return Err(ApiError::bad_request(format!(
            "height must be at most {}",
            super::ledger::MAX_HEIGHT
        )));
    }
    let blocks = blocking(state, move |s| s.blocks(&chain, height, 1)).await?;
    let block = blocks
        .into_iter()
        .find(|b| b.header.height == height)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no block at this height"))?;
    let wire = BlockMessage {
        block,
        payloads: Vec::new(),
    }
    .to_wire();
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], wire).into_response())
}
