//! Record endpoints: write a record, read its latest version, its history, a patient's records.
//! Reads are audited: the actor is the signed-in user, or the user a machine client names in the
//! `X-Medchain-Actor` header.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medchain_protocol::RecordId;
use medchain_protocol::entry::is_printable_text;
use medchain_protocol::limits::MAX_ACTOR_LEN;
use medchain_requests::{NewRecord, NewRecords, PatientQuery};
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::{AppState, blocking};

/// The header naming who reads (for the audit trail).
pub const ACTOR_HEADER: &str = "x-medchain-actor";

/// The actor recorded for `caller`'s request, which may name one in the `X-Medchain-Actor`
/// header (a machine client must; a user acts as themselves).
pub(super) fn actor(caller: &Caller, headers: &HeaderMap) -> ApiResult<String> {
    let named = match headers.get(ACTOR_HEADER) {
        None => None,
        Some(value) => Some(check_actor(value.to_str().unwrap_or_default())?),
    };
    caller.acting(named)
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

/// How a write is acknowledged.
#[derive(Debug, Deserialize)]
pub struct AckQuery {
    /// `local` (default): once flushed here. `replicated`: once `min` peers hold the block.
    #[serde(default)]
    ack: Option<String>,
    /// Peers that must hold the block for `ack=replicated` (default 1).
    #[serde(default)]
    min: Option<usize>,
    /// How long to wait for them, milliseconds (default 10000, at most 60000).
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// `POST /v1/records`: answers once the block holding the entry is flushed to disk, or with
/// `?ack=replicated&min=N` once N peers hold it (504 if they do not in time: the record is then
/// stored locally and keeps replicating).
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(ack): Query<AckQuery>,
    body: Result<Json<NewRecord>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(mut request) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    request.actor = caller.acting(Some(&request.actor))?;
    let replicated = match ack.ack.as_deref() {
        None | Some("local") => None,
        Some("replicated") => Some((
            ack.min.unwrap_or(1),
            ack.timeout_ms.unwrap_or(10_000).min(60_000),
        )),
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
    if held < min {
        return Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "record {} is stored and flushed locally (block {}), but only {held} of the {min} peers asked for confirmed it within {timeout_ms} ms; it keeps replicating",
                written.record, written.block
            ),
        ));
    }
    let mut body = serde_json::to_value(&written).unwrap_or_default();
    body["replicated_to"] = held.into();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /v1/records/batch`: writes up to [`medchain_requests::MAX_RECORDS_PER_BATCH`] records (a legacy import, a
/// ward's morning round) and answers once every block holding them is flushed. Each record is
/// answered on its own, in order (`status` 201 with where it went, or its error): one bad record
/// does not fail the others.
pub async fn create_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<NewRecords>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(batch) = body
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.body_text())))?;
    let mut records = batch
        .into_records()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Who acts is the caller's matter, not a record's: one wrong actor refuses the batch.
    for record in &mut records {
        record.actor = caller.acting(Some(&record.actor))?;
    }
    let answers = blocking(state, move |s| s.submit_many(records)).await?;
    let written = answers.iter().filter(|a| a.is_ok()).count();
    let results: Vec<serde_json::Value> = answers
        .into_iter()
        .map(|answer| match answer {
            Ok(w) => {
                let mut v = serde_json::to_value(&w).unwrap_or_default();
                v["status"] = 201.into();
                v
            }
            Err(e) => serde_json::json!({"status": e.status(), "error": e.to_string()}),
        })
        .collect();
    let failed = results.len() - written;
    Ok(
        Json(serde_json::json!({"written": written, "failed": failed, "results": results}))
            .into_response(),
    )
}

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
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// json (default), text, dot or svg.
    #[serde(default)]
    format: Option<String>,
}

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
#[derive(Debug, Deserialize)]
pub struct AccessQuery {
    /// Start after this entry (`chain/height/index`, the `next` of the previous page).
    #[serde(default)]
    after: Option<String>,
    /// Most entries (default 100, at most 1000).
    #[serde(default)]
    limit: Option<usize>,
}

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
    let after = match query.after {
        None => None,
        Some(text) => Some(
            text.parse::<medchain_protocol::EntryRef>()
                .map_err(|_| ApiError::bad_request("after must be chain/height/index"))?,
        ),
    };
    let page = blocking(state, move |s| s.accesses(record, after, limit)).await?;
    Ok(Json(page).into_response())
}
