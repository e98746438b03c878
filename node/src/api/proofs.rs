//! `GET /v1/records/{id}/proof`: an offline proof of one of a record's entries, in the bundle's
//! one byte form (docs/protocol.md section 11), so the file saved from the answer is the file
//! `medchain proof verify` checks. Audited like any read of the record.

use axum::extract::{Extension, State};

use super::extract::{Path, Query};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiResult;
use super::records::{actor, entry_ref, record_id};
use super::{AppState, blocking};

/// Which entry to prove.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProofQuery {
    /// The entry (`chain/height/index`); default: the record's latest version.
    #[serde(default)]
    #[param(pattern = "^[0-9a-f]{64}/[0-9]{1,19}/[0-9]{1,9}$")]
    entry: Option<String>,
}

#[utoipa::path(get, path = "/records/{id}/proof", tag = "records",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$"), ProofQuery, ("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them (recorded as \"machine client on behalf of\" them); a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    responses(
        (status = 200, description = "The proof in its one byte form (docs/protocol.md section 11): save the body as it is; check it with `medchain proof verify` (audited)", body = Object),
        (status = 400, description = "Malformed record ID, entry or actor", body = super::doc::ErrorBody),
        (status = 404, description = "No such record, or no such entry of it held here", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/records/{id}/proof?entry=chain/height/index`.
pub async fn proof(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ProofQuery>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (record, actor) = (record_id(&id)?, actor(&caller, &headers)?);
    let at = query.entry.map(|e| entry_ref(&e, "entry")).transpose()?;
    let bundle = blocking(state, move |s| s.proof(record, at, &actor)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        bundle.to_canonical_json(),
    )
        .into_response())
}
