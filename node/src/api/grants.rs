//! Grant endpoints: who besides its author may read a record's payloads.
//!
//! - `POST /v1/records/{id}/grants` with `{"to": ORG}` (and `"patient": true` for all of the
//!   patient's records at this provider, present and future): a grant entry on our chain; 201.
//! - `GET /v1/records/{id}/grants`: the grants in force and every grant, revoke and erase entry
//!   covering the record.
//! - `DELETE /v1/records/{id}/grants/{org}` (`?patient=true` for a patient grant): a revoke
//!   entry; no key is released after it, and the grantee deletes what it holds.
//!
//! - `POST /v1/records/{id}/erase` with `{}` (or `{"patient": true}`): an erase entry; every
//!   node deletes its copies of the data keys, and the payloads read 410 from then on.
//!
//! The actor is the signed-in user, or the user a machine client names like for reads
//! (`X-Medchain-Actor`) or by `actor` in the body.

use axum::Json;
use axum::extract::{Extension, State};

use super::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::records::{actor, record_id};
use super::{AppState, blocking};
use crate::service::TermsRequest;

/// The body of `POST /v1/records/{id}/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The member organisation granted read access (its certificate's O): at most 128 bytes
    /// as UTF-8 (JSON Schema's maxLength counts characters: fewer fit when they are not ASCII).
    #[schema(min_length = 1, max_length = 128)]
    to: String,
    /// All of the patient's records at this provider, present and future.
    #[serde(default)]
    patient: bool,
    /// Who grants, if not named by the `X-Medchain-Actor` header.
    #[serde(default)]
    #[schema(pattern = "^[!-~]([ -~]{0,98}[!-~])?$")]
    actor: Option<String>,
}

/// `?patient=true` on a revoke.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    /// Revoke a patient grant (all of the patient's records), not only this record's.
    #[serde(default)]
    patient: bool,
}

/// Who acts: `actor` from the body if given (printable text), else the `X-Medchain-Actor`
/// header.
fn acting(caller: &Caller, from_body: Option<&str>, headers: &HeaderMap) -> ApiResult<String> {
    let named = from_body.map(super::records::check_actor).transpose()?;
    super::records::named_or_header_actor(caller, named, headers)
}

#[utoipa::path(post, path = "/records/{id}/grants", tag = "grants",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$")),
    request_body(content = GrantBody),
    responses(
        (status = 201, description = "The grant entry is written", body = Object),
        (status = 404, description = "No such record", body = super::doc::ErrorBody),
        (status = 409, description = "A grant to this organisation is in force already", body = super::doc::ErrorBody),
        (status = 410, description = "The record is erased", body = super::doc::ErrorBody),
    ))]
/// `POST /v1/records/{id}/grants`.
pub async fn grant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<GrantBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let record = record_id(&id)?;
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let actor = acting(&caller, body.actor.as_deref(), &headers)?;
    let request = TermsRequest {
        record,
        to: Some(body.to),
        whole_patient: body.patient,
        actor,
    };
    let written = blocking(state, move |s| s.grant(request)).await?;
    Ok((StatusCode::CREATED, Json(written)).into_response())
}

#[utoipa::path(get, path = "/grants", tag = "grants",
    responses((status = 200, description = "The grants in force to this node's organisation", body = Object)))]
/// `GET /v1/grants`: the grants in force to this node's organisation on other providers'
/// chains, each with the records it opens (a patient grant: that patient's records there).
pub async fn received(State(state): State<AppState>) -> ApiResult<Response> {
    let grants = blocking(state, |s| s.grants_received()).await?;
    Ok(Json(serde_json::json!({ "grants": grants })).into_response())
}

#[utoipa::path(get, path = "/records/{id}/grants", tag = "grants",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "The grants in force, and every grant, revoke and erase entry", body = Object),
        (status = 400, description = "Malformed record ID", body = super::doc::ErrorBody),
        (status = 404, description = "No such record", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/records/{id}/grants`.
pub async fn list(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let record = record_id(&id)?;
    let grants = blocking(state, move |s| s.grants(record)).await?;
    Ok(Json(grants).into_response())
}

#[utoipa::path(delete, path = "/records/{id}/grants/{org}", tag = "grants",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$"), ("org" = String, Path, description = "The organisation (percent-encoded): at most 128 bytes as UTF-8 once decoded", min_length = 1, max_length = 128), RevokeQuery, ("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them (recorded as \"machine client on behalf of\" them); a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    responses(
        (status = 200, description = "The revoke entry is written", body = Object),
        (status = 400, description = "Malformed record ID, organisation or actor", body = super::doc::ErrorBody),
        (status = 404, description = "No such record, or no such grant in force", body = super::doc::ErrorBody),
        (status = 410, description = "The record is erased", body = super::doc::ErrorBody),
    ))]
/// `DELETE /v1/records/{id}/grants/{org}` (the organisation percent-encoded).
pub async fn revoke(
    State(state): State<AppState>,
    Path((id, org)): Path<(String, String)>,
    Query(query): Query<RevokeQuery>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let record = record_id(&id)?;
    let request = TermsRequest {
        record,
        to: Some(org),
        whole_patient: query.patient,
        actor: actor(&caller, &headers)?,
    };
    let written = blocking(state, move |s| s.revoke(request)).await?;
    Ok(Json(written).into_response())
}

/// The body of `POST /v1/records/{id}/erase`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// All of the patient's records at this provider, not only this one.
    #[serde(default)]
    patient: bool,
    /// Who erases, if not named by the `X-Medchain-Actor` header.
    #[serde(default)]
    #[schema(pattern = "^[!-~]([ -~]{0,98}[!-~])?$")]
    actor: Option<String>,
}

#[utoipa::path(post, path = "/records/{id}/erase", tag = "grants",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$")),
    request_body(content = EraseBody),
    responses(
        (status = 201, description = "The erase entry is written; the keys are destroyed here", body = Object),
        (status = 404, description = "No such record", body = super::doc::ErrorBody),
        (status = 410, description = "Erased already", body = super::doc::ErrorBody),
    ))]
/// `POST /v1/records/{id}/erase` with `{}` (or `{"patient": true}`): an erase entry on our
/// chain; every node deletes its copies of the data keys, and the payloads read 410.
pub async fn erase(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EraseBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let record = record_id(&id)?;
    let Json(body) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let actor = acting(&caller, body.actor.as_deref(), &headers)?;
    let request = TermsRequest {
        record,
        to: None,
        whole_patient: body.patient,
        actor,
    };
    let written = blocking(state, move |s| s.erase(request)).await?;
    Ok((StatusCode::CREATED, Json(written)).into_response())
}
