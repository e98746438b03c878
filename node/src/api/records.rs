//! Record endpoints: write a record, read its latest version, its history, a patient's records.
//! Reads are audited: the actor is the signed-in user, or the user a machine client names in the
//! `X-Medchain-Actor` header.

use axum::Json;
use axum::extract::{Extension, State};

use super::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medchain_protocol::RecordId;
use medchain_protocol::entry::is_printable_text;
use medchain_protocol::limits::MAX_ACTOR_LEN;
use medchain_requests::{MAX_RECORDS_PER_BATCH, NewRecord, PatientQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};

/// The header naming who reads (for the audit trail).
pub const ACTOR_HEADER: &str = "x-medchain-actor";

/// The actor recorded for `caller`'s request, which may name one in the `X-Medchain-Actor`
/// header (a machine client must; a user acts as themselves).
pub(super) fn actor(caller: &Caller, headers: &HeaderMap) -> ApiResult<String> {
    let named = match headers
        .get(ACTOR_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
    {
        None | Some("") => None,
        Some(value) => Some(check_actor(value)?),
    };
    caller.acting(named)
}

/// The actor of a call whose body may name one: `named` (the body's `actor`) if given, else the
/// `X-Medchain-Actor` header.
pub(super) fn named_or_header_actor(
    caller: &Caller,
    named: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<String> {
    match named {
        Some(named) => caller.acting(Some(named)),
        None => actor(caller, headers),
    }
}

/// An entry position (`chain/height/index`) given as `what`.
pub(super) fn entry_ref(text: &str, what: &str) -> ApiResult<medchain_protocol::EntryRef> {
    text.parse()
        .map_err(|_| ApiError::bad_request(format!("{what} must be chain/height/index")))
}

/// `actor` if it is 1 to [`MAX_ACTOR_LEN`] bytes of printable text.
pub(super) fn check_actor(actor: &str) -> ApiResult<&str> {
    if !is_printable_text(actor, MAX_ACTOR_LEN) {
        return Err(ApiError::bad_request(format!(
            "the actor (X-Medchain-Actor) must be 1 to {MAX_ACTOR_LEN} bytes of printable text"
        )));
    }
    Ok(actor)
}

pub(super) fn record_id(text: &str) -> ApiResult<RecordId> {
    text.parse()
        .map_err(|_| ApiError::bad_request("record ID must be 32 hex characters"))
}

/// Most peers `ack=replicated` may ask for.
const MAX_REPLICAS_ASKED: usize = 64;
/// Longest `ack=replicated` waits, milliseconds.
const MAX_REPLICATION_WAIT_MS: u64 = 60_000;

/// How a write is acknowledged.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AckQuery {
    /// `local` (default): once flushed here. `replicated`: once `min` peers hold the block.
    #[serde(default)]
    #[param(pattern = "^(local|replicated)$")]
    ack: Option<String>,
    /// Peers that must hold the block for `ack=replicated` (default 1).
    #[serde(default)]
    #[param(minimum = 1, maximum = 64)]
    min: Option<usize>,
    /// How long to wait for them, milliseconds (default 10000, at most 60000).
    #[serde(default)]
    #[param(minimum = 0, maximum = 60000)]
    timeout_ms: Option<u64>,
}

#[utoipa::path(post, path = "/records", tag = "records",
    params(AckQuery),
    request_body(content = super::doc::NewRecordDoc, description = "The record write (the actor may be left out by a signed-in user)"),
    responses(
        (status = 201, description = "Written and flushed (and, with ack=replicated, held by the peers asked for)", body = crate::service::RecordWritten),
        (status = 202, description = "Written and flushed here, but fewer peers than asked for confirmed it in time; it keeps replicating", body = crate::service::RecordWritten),
        (status = 404, description = "The record acted on, or a parent, is not held here", body = super::doc::ErrorBody),
        (status = 409, description = "The record cannot take this entry (disposed of, erased, another provider's)", body = super::doc::ErrorBody),
    ))]
/// `POST /v1/records`: answers once the block holding the entry is flushed to disk, or with
/// `?ack=replicated&min=N` once N peers hold it (202 if they do not in time: the record is then
/// stored and flushed locally, which is not a failure of the node, and keeps replicating).
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(ack): Query<AckQuery>,
    headers: HeaderMap,
    body: Result<Json<NewRecord>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(mut request) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let named = Some(request.actor.as_str()).filter(|a| !a.is_empty());
    request.actor = named_or_header_actor(&caller, named, &headers)?;
    request
        .check_shape()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let min = ack.min.unwrap_or(1);
    let timeout_ms = ack.timeout_ms.unwrap_or(10_000);
    if !(1..=MAX_REPLICAS_ASKED).contains(&min) || timeout_ms > MAX_REPLICATION_WAIT_MS {
        return Err(ApiError::bad_request(format!(
            "min must be 1 to {MAX_REPLICAS_ASKED} and timeout_ms at most {MAX_REPLICATION_WAIT_MS}"
        )));
    }
    let replicated = match ack.ack.as_deref() {
        None | Some("local") => None,
        Some("replicated") => Some((min, timeout_ms)),
        Some(_) => return Err(ApiError::bad_request("ack must be local or replicated")),
    };
    let net = state.net.clone();
    let written = blocking(state, move |s| s.submit(request)).await?;
    let Some((min, timeout_ms)) = replicated else {
        return Ok((StatusCode::CREATED, Json(written)).into_response());
    };
    let Some(net) = net else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "ack=replicated needs the network layer",
        ));
    };
    let (chain, height) = (written.entry.chain, written.entry.height);
    let held = super::replication::wait_for_peers(&net, chain, height, min, timeout_ms).await;
    let mut body = serde_json::to_value(&written).unwrap_or_default();
    body["replicated_to"] = held.into();
    if held < min {
        body["note"] = format!(
            "stored and flushed locally, but only {held} of the {min} peers asked for confirmed it within {timeout_ms} ms; it keeps replicating"
        )
        .into();
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(post, path = "/records/batch", tag = "records",
    request_body(content = super::doc::NewRecordsDoc),
    responses(
        (status = 200, description = "Each record answered on its own, in order", body = super::doc::BatchAnswerDoc),
    ))]
/// `POST /v1/records/batch`: writes up to [`MAX_RECORDS_PER_BATCH`] records (a legacy import, a
/// ward's morning round) and answers once every block holding them is flushed. Each record is
/// answered on its own, in order (`status` 201 with where it went, or its error): one bad record
/// does not fail the others.
pub async fn create_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Json<BatchBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(batch) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    if batch.records.iter().any(|r| !r.get().starts_with('{')) {
        return Err(ApiError::bad_request(
            "every record of a batch is a JSON object",
        ));
    }
    if batch.records.is_empty() || batch.records.len() > MAX_RECORDS_PER_BATCH {
        return Err(ApiError::bad_request(format!(
            "a batch holds 1 to {MAX_RECORDS_PER_BATCH} records"
        )));
    }
    // Each record is read and checked on its own: one that is not a record write, or breaks
    // its rules, is answered with its own 400 and the others are written.
    let mut refused: Vec<Option<ApiError>> = Vec::with_capacity(batch.records.len());
    let mut records = Vec::with_capacity(batch.records.len());
    for value in batch.records {
        let checked = serde_json::from_str::<NewRecord>(value.get())
            .map_err(|e| ApiError::bad_request(format!("not a record write: {e}")))
            .and_then(|mut record| {
                let named = Some(record.actor.as_str()).filter(|a| !a.is_empty());
                record.actor = named_or_header_actor(&caller, named, &headers)?;
                record
                    .check_shape()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Ok(record)
            });
        match checked {
            Ok(record) => {
                records.push(record);
                refused.push(None);
            }
            Err(error) => refused.push(Some(error)),
        }
    }
    let mut answers = blocking(state, move |s| s.submit_many(records))
        .await?
        .into_iter();
    let results: Vec<serde_json::Value> = refused
        .into_iter()
        .map(|refusal| match refusal {
            Some(error) => error.to_json_with_status(),
            None => match answers.next() {
                Some(Ok(w)) => {
                    let mut v = serde_json::to_value(&w).unwrap_or_default();
                    v["status"] = 201.into();
                    v
                }
                Some(Err(e)) => serde_json::json!({"status": e.status(), "error": e.to_string()}),
                None => serde_json::json!({"status": 500, "error": "the batch lost a write"}),
            },
        })
        .collect();
    let written = results.iter().filter(|r| r["status"] == 201).count();
    let failed = results.len() - written;
    Ok(
        Json(serde_json::json!({"written": written, "failed": failed, "results": results}))
            .into_response(),
    )
}

/// The body of `POST /v1/records/batch`: its records are read one by one, so one that is not a
/// record write fails alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// 1 to [`MAX_RECORDS_PER_BATCH`] record writes, each a JSON object, kept as sent so each
    /// is read as `POST /v1/records` reads its body (a field twice is refused, not overwritten).
    records: Vec<Box<serde_json::value::RawValue>>,
}

#[utoipa::path(get, path = "/records/{id}", tag = "records",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$"), ("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them (recorded as \"machine client on behalf of\" them); a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    responses(
        (status = 200, description = "The latest version, with its payload when this node holds its key (audited)", body = crate::service::RecordView),
        (status = 400, description = "Malformed record ID or actor", body = super::doc::ErrorBody),
        (status = 404, description = "No such record here", body = super::doc::ErrorBody),
        (status = 410, description = "The record is erased", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/records/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (record, actor) = (record_id(&id)?, actor(&caller, &headers)?);
    let view = blocking(state, move |s| s.record(record, &actor)).await?;
    Ok(Json(view).into_response())
}

/// The `format` of a history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// json (default), text, dot or svg.
    #[serde(default)]
    #[param(pattern = "^(json|text|dot|svg)$")]
    format: Option<String>,
}

#[utoipa::path(get, path = "/records/{id}/history", tag = "records",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$"), HistoryQuery, ("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them (recorded as \"machine client on behalf of\" them); a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    responses(
        (status = 200, description = "Versions, sources and derived records across chains (audited)", content(
            (Object = "application/json"), (String = "text/plain"), (String = "text/vnd.graphviz"), (String = "image/svg+xml"))),
        (status = 400, description = "Malformed record ID, format or actor", body = super::doc::ErrorBody),
        (status = 404, description = "No such record here", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/records/{id}/history?format=json|text|dot|svg`.
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HistoryQuery>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (record, actor) = (record_id(&id)?, actor(&caller, &headers)?);
    let format = query.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "text" | "dot" | "svg") {
        return Err(ApiError::bad_request(
            "format must be json, text, dot or svg",
        ));
    }
    let history = blocking(state, move |s| s.history(record, &actor)).await?;
    Ok(match format.as_str() {
        "text" => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            history.to_text(),
        )
            .into_response(),
        "dot" => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            history.to_dot(),
        )
            .into_response(),
        "svg" => ([(header::CONTENT_TYPE, "image/svg+xml")], history.to_svg()).into_response(),
        _ => Json(history).into_response(),
    })
}

#[utoipa::path(post, path = "/patients/records", tag = "records",
    params(("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them (recorded as \"machine client on behalf of\" them); a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    request_body(content = super::doc::PatientQueryDoc),
    responses(
        (status = 200, description = "The patient's records at this provider (audited)", body = Vec<crate::service::PatientRecord>),
    ))]
/// `POST /v1/patients/records` with `{"patient": ID}`: the patient's records. The identifier is
/// pseudonymised at once and never stored or echoed; the read is audited.
pub async fn of_patient(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Json<PatientQuery>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let actor = actor(&caller, &headers)?;
    let Json(query) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let records = blocking(state, move |s| s.patient_records(&query, &actor)).await?;
    Ok(Json(records).into_response())
}

/// Query of a record's access listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// Start after this entry (`chain/height/index`, the `next` of the previous page).
    #[serde(default)]
    #[param(pattern = "^[0-9a-f]{64}/[0-9]{1,19}/[0-9]{1,9}$")]
    after: Option<String>,
    /// Most entries (default 100, at most 1000).
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/records/{id}/accesses", tag = "records",
    params(("id" = String, Path, description = "The record ID", pattern = "^[0-9a-f]{32}$"), AccessQuery),
    responses(
        (status = 200, description = "One page of the record's access entries", body = crate::service::AccessPage),
        (status = 400, description = "Malformed record ID, after or limit", body = super::doc::ErrorBody),
        (status = 404, description = "No such record here", body = super::doc::ErrorBody),
    ))]
/// `GET /v1/records/{id}/accesses?after=&limit=`: one page of the record's access entries (who
/// read which version, when), with `next` for the page after it. Counting and paging come from
/// their own index, so a record read a million times pages as fast as one read once.
pub async fn accesses(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<AccessQuery>,
) -> ApiResult<Response> {
    let record = record_id(&id)?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit must be 1 to 1000"));
    }
    let after = query.after.map(|a| entry_ref(&a, "after")).transpose()?;
    let page = blocking(state, move |s| s.accesses(record, after, limit)).await?;
    Ok(Json(page).into_response())
}
