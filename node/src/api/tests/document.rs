//! The OpenAPI document the router makes from the routes' annotations: every route is in it, and
//! every authenticated operation lists the answers any of them may give. (The running API is held
//! to it by schemathesis in `node/tests/openapi.rs`.)

use super::*;

#[tokio::test]
async fn the_document_lists_every_route_and_the_answers_they_all_may_give() {
    let app = app(Role::Provider);
    let (status, text) = call(&app, "GET", "/v1/openapi.json", None, false).await;
    assert_eq!(status, StatusCode::OK);
    let document = json_of(&text);
    assert_eq!(document["openapi"], "3.1.0");
    // Generated from the routes: each is there, and every /v1 operation lists the answers any
    // of them may give.
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/v1/records/{id}/proof",
        "/v1/quarantines",
        "/v1/peers",
        "/health",
        "/metrics",
        "/v1/openapi.json",
        "/fhir/r4/Provenance",
        "/fhir/r4/AuditEvent",
        "/fhir/r4/metadata",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert_eq!(paths.len(), 29, "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, item) in paths
        .iter()
        .filter(|(p, _)| p.starts_with("/v1/") && *p != "/v1/openapi.json")
    {
        for (method, operation) in item.as_object().unwrap() {
            for status in ["401", "403", "500", "503"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
}
