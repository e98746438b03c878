//! FHIR R4 (4.0.1) over the ledger, read-only: `GET /fhir/r4/Provenance?target=RECORD` (a
//! Provenance per entry of the record; an audited read, like its history),
//! `GET /fhir/r4/AuditEvent?entity=RECORD` (an AuditEvent per read of it, IHE BALP
//! PatientRead, paged), and `GET /fhir/r4/metadata` (the CapabilityStatement, open, as SMART
//! clients expect). Authenticated like `/v1`; every answer is `application/fhir+json`, errors
//! as OperationOutcome (authentication refusals included: see [`as_operation_outcome`]).

pub mod resources;

use axum::body::Body;
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use medchain_protocol::EntryRef;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::extract::Query;
use super::records::{actor, entry_ref, record_id};
use super::{AppState, blocking};

/// The media type of every FHIR answer.
pub const FHIR_JSON: &str = "application/fhir+json";
/// Largest error body turned into an OperationOutcome (ours are small JSON).
const MAX_ERROR_BODY: usize = 64 << 10;

fn fhir(status: StatusCode, resource: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, FHIR_JSON)],
        serde_json::to_vec(resource).unwrap_or_default(),
    )
        .into_response()
}

/// `?target=RECORD`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProvenanceSearch {
    /// The record ID (32 lowercase hex characters).
    #[param(pattern = "^[0-9a-f]{32}$")]
    target: String,
}

#[utoipa::path(get, path = "/Provenance", tag = "fhir",
    params(ProvenanceSearch, ("X-Medchain-Actor" = String, Header, description = "The user the call is for: a machine client must name them; a signed-in user may leave it out or name themselves", pattern = "^[!-~]([ -~]{0,98}[!-~])?$")),
    responses(
        (status = 200, description = "A searchset Bundle: a Provenance per entry of the record (audited)", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "OperationOutcome: a malformed search", body = Object, content_type = "application/fhir+json"),
        (status = 404, description = "OperationOutcome: no such record here", body = Object, content_type = "application/fhir+json"),
    ))]
/// `GET /fhir/r4/Provenance?target=RECORD`.
pub async fn provenance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(search): Query<ProvenanceSearch>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (record, actor) = (record_id(&search.target)?, actor(&caller, &headers)?);
    let entries = blocking(state, move |s| s.record_entries(record, &actor)).await?;
    let resources = entries.iter().map(resources::provenance).collect();
    let bundle = resources::searchset(resources, format!("Provenance?target={record}"), None, true);
    Ok(fhir(StatusCode::OK, &bundle))
}

/// `?entity=RECORD&_count=N&after=CHAIN/HEIGHT/INDEX`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditEventSearch {
    /// The record ID (32 lowercase hex characters).
    #[param(pattern = "^[0-9a-f]{32}$")]
    entity: String,
    /// Page size (default 100).
    #[serde(default, rename = "_count")]
    #[param(rename = "_count", minimum = 1, maximum = 1000)]
    count: Option<usize>,
    /// Start after this access entry (the `next` link gives it).
    #[serde(default)]
    #[param(pattern = "^[0-9a-f]{64}/[0-9]{1,19}/[0-9]{1,9}$")]
    after: Option<String>,
}

#[utoipa::path(get, path = "/AuditEvent", tag = "fhir",
    params(AuditEventSearch),
    responses(
        (status = 200, description = "A searchset Bundle: an AuditEvent (IHE BALP PatientRead) per read of the record, one page", body = Object, content_type = "application/fhir+json"),
        (status = 400, description = "OperationOutcome: a malformed search", body = Object, content_type = "application/fhir+json"),
    ))]
/// `GET /fhir/r4/AuditEvent?entity=RECORD`.
pub async fn audit_events(
    State(state): State<AppState>,
    Query(search): Query<AuditEventSearch>,
) -> ApiResult<Response> {
    let record = record_id(&search.entity)?;
    let count = search.count.unwrap_or(100);
    if !(1..=1000).contains(&count) {
        return Err(ApiError::bad_request("_count must be 1 to 1000"));
    }
    let after = search
        .after
        .as_deref()
        .map(|a| entry_ref(a, "after"))
        .transpose()?;
    let (accesses, next) =
        blocking(state, move |s| s.record_accesses(record, after, count)).await?;
    let resources = accesses.iter().map(resources::audit_event).collect();
    let link = |after: Option<EntryRef>| {
        let mut link = format!("AuditEvent?entity={record}&_count={count}");
        if let Some(after) = after {
            link.push_str(&format!("&after={after}"));
        }
        link
    };
    let bundle = resources::searchset(
        resources,
        link(after),
        next.map(|n| link(Some(n))),
        after.is_none(),
    );
    Ok(fhir(StatusCode::OK, &bundle))
}

#[utoipa::path(get, path = "/metadata", tag = "fhir",
    responses((status = 200, description = "The CapabilityStatement", body = Object, content_type = "application/fhir+json")))]
/// `GET /fhir/r4/metadata`.
pub async fn metadata() -> Response {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let date = resources::instant(u64::try_from(now).unwrap_or(0) * 1000);
    let statement = resources::capability_statement(env!("CARGO_PKG_VERSION"), &date);
    fhir(StatusCode::OK, &statement)
}

/// Turns every error answer of the FHIR routes (ours, `{"error": ...}`, the authentication
/// layer's included) into an OperationOutcome with the same status, as FHIR clients expect.
pub async fn as_operation_outcome(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let code = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "security",
        StatusCode::NOT_FOUND | StatusCode::GONE => "not-found",
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
        StatusCode::METHOD_NOT_ALLOWED => "not-supported",
        _ => "exception",
    };
    let outcome = resources::operation_outcome(code, &message);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&outcome).unwrap_or_default()),
    )
}
