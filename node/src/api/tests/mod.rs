//! The API over a real service and ledger, driven in-process (no socket).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use medchain_protocol::identity::Role;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::records::ACTOR_HEADER;
use super::*;
use crate::service::AuditTrail;
use crate::service::tests::{consortium, service_with};

// Blocks posted from outside: the intake route's own tests.
mod intake;
// Offline proofs of records' entries.
mod proofs;
// The identity provider users' tests sign in at.
mod idp;
// Users signed in at an identity provider.
mod users;
// The limits on fetching users' signing keys and on using stale ones.
mod user_keys;
// The OpenAPI document made from the routes.
mod document;
// FHIR errors as OperationOutcome.
mod fhir;
// The dashboard's pages and sessions.
mod dashboard;

const TOKEN: &str = "test-token-0123456789";

fn app(role: Role) -> Router {
    app_in(&consortium(), role)
}

/// The API of a member of `ca`'s consortium with `role`.
fn app_in(ca: &medchain_testkit::pki::TestCa, role: Role) -> Router {
    let auth = auth::Authenticator::new(TOKEN.into(), None, false, None, None).unwrap();
    app_with_auth(ca, role, auth)
}

/// The same, taking credentials as `auth` says.
fn app_with_auth(
    ca: &medchain_testkit::pki::TestCa,
    role: Role,
    auth: auth::Authenticator,
) -> Router {
    let audit = if role == Role::Provider {
        AuditTrail::Chain
    } else {
        AuditTrail::Off
    };
    // One coordination for the service and the API, as the composition root wires them.
    let coordination = Arc::default();
    let service = service_with(ca, role, audit, Arc::clone(&coordination));
    router(AppState {
        service: Arc::new(service),
        coordination,
        auth: Arc::new(auth),
        role,
        metrics: Arc::new(crate::metrics::Metrics::new()),
        net: None,
    })
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    auth: bool,
) -> (StatusCode, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(ACTOR_HEADER, "nurse-7");
    if auth {
        request = request.header("authorization", format!("Bearer {TOKEN}"));
    }
    let request = match body {
        Some(json) => request
            .header("content-type", "application/json")
            .body(Body::from(json.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The access entries of `record` (a page, as JSON), read with the API token.
async fn accesses_of(app: &Router, record: &str) -> Value {
    let uri = format!("/v1/records/{record}/accesses");
    let (status, text) = call(app, "GET", &uri, None, true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    json_of(&text)
}

#[tokio::test]
async fn write_then_read_history_and_listings() {
    let app = app(Role::Provider);
    let body = json!({"kind": "create", "patient": "MRN-0042", "payload": {"resourceType": "Observation", "v": 1}, "actor": "dr-1"});
    let (status, text) = call(&app, "POST", "/v1/records", Some(body), true).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let written = json_of(&text);
    let record = written["record"].as_str().unwrap().to_owned();
    assert_eq!(record.len(), 32);

    let (status, text) = call(&app, "GET", &format!("/v1/records/{record}"), None, true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let view = json_of(&text);
    assert_eq!(
        view["payload"],
        json!({"resourceType": "Observation", "v": 1})
    );
    assert_eq!(view["latest"]["kind"], "create");
    assert!(!text.contains("MRN-0042"));

    let (status, text) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/history?format=text"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.starts_with(&format!("record {record} at Hospital A")),
        "{text}"
    );
    let (_, dot) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/history?format=dot"),
        None,
        true,
    )
    .await;
    assert!(dot.starts_with("digraph history"));

    let query = json!({"patient": "MRN-0042"});
    let (status, text) = call(&app, "POST", "/v1/patients/records", Some(query), true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&text).as_array().unwrap().len(), 1);
    // The identifier never goes in a URL: the old route is gone.
    let (status, _) = call(&app, "GET", "/v1/patients/MRN-0042/records", None, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Every audited read so far, one page of their own index.
    let (status, text) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/accesses?limit=2"),
        None,
        true,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let page = json_of(&text);
    assert_eq!(page["total"], 4);
    assert_eq!(page["accesses"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["accesses"][0]["actor"],
        "machine client on behalf of nurse-7"
    );
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, text) = call(
        &app,
        "GET",
        &format!("/v1/records/{record}/accesses?limit=2&after={next}"),
        None,
        true,
    )
    .await;
    assert_eq!(json_of(&text)["accesses"].as_array().unwrap().len(), 2);

    let (_, text) = call(&app, "GET", "/v1/chains", None, true).await;
    let chains = json_of(&text);
    let chain = chains[0]["chain"].as_str().unwrap().to_owned();
    assert_eq!(chains[0]["org"], "Hospital A");
    // The create, then one access entry per audited read (record, two histories, patient).
    assert_eq!(chains[0]["height"], 4);
    let (_, text) = call(
        &app,
        "GET",
        &format!("/v1/chains/{chain}/blocks?from=1&limit=2"),
        None,
        true,
    )
    .await;
    let blocks = json_of(&text);
    assert_eq!(blocks.as_array().unwrap().len(), 2);
    assert_eq!(blocks[0]["entries"][0]["kind"], "access");

    let (status, text) = call(&app, "POST", "/v1/verify", None, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&text)["violations"], json!([]));
    let (_, text) = call(&app, "GET", "/v1/verify/reports", None, true).await;
    assert_eq!(json_of(&text).as_array().unwrap().len(), 1);
    let (_, text) = call(&app, "GET", "/v1/evidence", None, true).await;
    assert_eq!(json_of(&text), json!({"evidence": [], "next": null}));
    let (_, text) = call(&app, "GET", "/v1/status", None, true).await;
    assert_eq!(json_of(&text)["role"], "provider");
    let (status, text) = call(&app, "GET", "/metrics", None, false).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(&format!("medchain_chain_height{{chain=\"{chain}\"}} 4")),
        "{text}"
    );
    assert!(text.contains("route=\"/v1/records/{id}\""), "{text}");
    assert!(
        !text.contains(&record),
        "a concrete path leaked into metric labels"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_4xx() {
    let app = app(Role::Provider);
    /// method, path, body, authenticated, expected status, text the error must contain.
    type Case = (
        &'static str,
        &'static str,
        Option<Value>,
        bool,
        StatusCode,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/v1/chains",
            None,
            false,
            StatusCode::UNAUTHORIZED,
            "missing credentials",
        ),
        (
            "POST",
            "/v1/records",
            Some(json!({"kind": "create"})),
            true,
            StatusCode::BAD_REQUEST,
            "invalid request body",
        ),
        (
            "POST",
            "/v1/records",
            Some(json!({"kind": "create", "patient": "MRN-1", "payload": {"x": 1}, "actor": "a"})),
            true,
            StatusCode::BAD_REQUEST,
            "resourceType",
        ),
        (
            "GET",
            "/v1/records/nothex",
            None,
            true,
            StatusCode::BAD_REQUEST,
            "32 hex",
        ),
        (
            "GET",
            "/v1/records/00112233445566778899aabbccddeeff",
            None,
            true,
            StatusCode::NOT_FOUND,
            "not known",
        ),
        (
            "GET",
            "/v1/records/00112233445566778899aabbccddeeff/history?format=pdf",
            None,
            true,
            StatusCode::BAD_REQUEST,
            "format",
        ),
        (
            "GET",
            "/v1/chains/zz/blocks",
            None,
            true,
            StatusCode::BAD_REQUEST,
            "chain ID",
        ),
        (
            "GET",
            "/v1/peers",
            None,
            true,
            StatusCode::NOT_IMPLEMENTED,
            "network layer",
        ),
        (
            "GET",
            "/v1/nothing",
            None,
            true,
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
    ];
    for (method, uri, body, auth, status, needle) in cases {
        let (got, text) = call(&app, method, uri, body, auth).await;
        assert_eq!(got, status, "{method} {uri}: {text}");
        assert!(
            json_of(&text)["error"].as_str().unwrap().contains(needle),
            "{method} {uri}: {text}"
        );
    }
    // A wrong token, and a read without an actor.
    let request = Request::builder()
        .uri("/v1/chains")
        .header("authorization", "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let request = Request::builder()
        .uri("/v1/records/00112233445566778899aabbccddeeff")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // An oversized body is refused before it is parsed.
    let huge = "x".repeat(MAX_BODY_BYTES + 1);
    let request = Request::builder()
        .method("POST")
        .uri("/v1/records")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(huge))
        .unwrap();
    let status = app.clone().oneshot(request).await.unwrap().status();
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    // Open endpoints.
    let (status, _) = call(&app, "GET", "/health", None, false).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&app, "GET", "/v1/openapi.json", None, false).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn auditor_refuses_writes_with_403() {
    let app = app(Role::Auditor);
    let body = json!({"kind": "create", "patient": "MRN-1", "payload": {"resourceType": "Patient"}, "actor": "a"});
    let (status, text) = call(&app, "POST", "/v1/records", Some(body), true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(text.contains("auditor node"), "{text}");
}

#[tokio::test]
async fn batch_import_answers_each_record_and_a_bad_one_fails_alone() {
    let app = app(Role::Provider);
    let good = |n: u32| json!({"kind": "create", "patient": format!("MRN-{n}"), "payload": {"resourceType": "Observation", "n": n}, "actor": "import-7"});
    // A record that breaks its rules, or is no record write at all, fails alone.
    let malformed = json!({"kind": "create", "patient": "MRN-9", "actor": "import-7"});
    let body = json!({"records": [good(1), malformed, {"kind": "sideways"}, good(3)]});
    let (status, text) = call(&app, "POST", "/v1/records/batch", Some(body), true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json_of(&text);
    assert_eq!(
        (answer["written"].as_u64(), answer["failed"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        answer["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("create needs a payload")
    );
    let statuses: Vec<u64> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 400, 201], "answers line up: {text}");
    // One that fails when written (a derive from an entry of our own chain that is not earlier
    // than it) fails alone.
    let (_, text) = call(&app, "POST", "/v1/records", Some(good(0)), true).await;
    let chain = json_of(&text)["entry"]["chain"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"kind": "derive", "parents": [format!("{chain}/999/0")], "patient": "MRN-9", "payload": {"resourceType": "Observation"}, "actor": "import-7"});
    let body = json!({"records": [good(1), bad, good(2)]});
    let (status, text) = call(&app, "POST", "/v1/records/batch", Some(body), true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json_of(&text);
    assert_eq!(
        (answer["written"].as_u64(), answer["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], 201);
    assert!(
        matches!(results[1]["status"].as_u64(), Some(400..=499)),
        "{text}"
    );
    assert_eq!(results[2]["status"], 201);
    // Written in order, readable, and never echoing the patient identifier.
    assert!(!text.contains("MRN-"), "{text}");
    let first = results[0]["entry"]["index"].as_u64().unwrap();
    let second = results[2]["entry"]["index"].as_u64().unwrap();
    assert!(results[0]["entry"]["height"] == results[2]["entry"]["height"] && first < second);
    let record = results[2]["record"].as_str().unwrap();
    let (status, text) = call(&app, "GET", &format!("/v1/records/{record}"), None, true).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["payload"]["n"], 2);

    let (status, text) = call(
        &app,
        "POST",
        "/v1/records/batch",
        Some(json!({"records": []})),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    let many: Vec<Value> = (0..1025).map(good).collect();
    let (status, text) = call(
        &app,
        "POST",
        "/v1/records/batch",
        Some(json!({"records": many})),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("1 to 1024"), "{text}");
    let auditor = super::tests::app(Role::Auditor);
    let (status, _) = call(
        &auditor,
        "POST",
        "/v1/records/batch",
        Some(json!({"records": [good(3)]})),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Metric labels come from fixed sets: methods and paths a client invents mint no series.
#[tokio::test]
async fn metric_labels_come_from_fixed_sets() {
    let app = app(Role::Provider);
    for method in ["FROB", "BREW", "X-ANY"] {
        let (status, _) = call(&app, method, "/v1/chains", None, true).await;
        assert!(status.is_client_error(), "{method}: {status}");
    }
    let (_, _) = call(&app, "GET", "/no/such/path/MRN-0042", None, true).await;
    let (_, metrics) = call(&app, "GET", "/metrics", None, false).await;
    assert!(
        !metrics.contains("FROB") && !metrics.contains("BREW"),
        "{metrics}"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(!metrics.contains("MRN-0042"), "{metrics}");
}
