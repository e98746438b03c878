//! `GET /v1/records/{id}/proof`: an offline proof of one of a record's entries, in the bundle's
//! one byte form (docs/protocol.md section 11), so the file saved from the answer is the file
//! `medchain proof verify` checks. Audited like any read of the record.

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use medchain_protocol::EntryRef;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::records::{actor, record_id};
use super::{AppState, blocking};

/// Which entry to prove.
#[derive(Debug, Deserialize)]
pub struct ProofQuery {
    /// The entry (`chain/height/index`); default: the record's latest version.
    #[serde(default)]
    entry: Option<String>,
}

/// `GET /v1/records/{id}/proof?entry=chain/height/index`.
pub async fn proof(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ProofQuery>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (record, actor) = (record_id(&id)?, actor(&caller, &headers)?);
    let at = match query.entry {
        None => None,
        Some(text) => Some(
            text.parse::<EntryRef>()
                .map_err(|_| ApiError::bad_request("entry must be chain/height/index"))?,
        ),
    };
    let bundle = blocking(state, move |s| s.proof(record, at, &actor)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        bundle.to_canonical_json(),
    )
        .into_response())
}
