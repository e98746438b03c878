//! FHIR errors are OperationOutcome in `application/fhir+json`, with the status and headers
//! (`WWW-Authenticate` above all) of the error they stand for; unknown FHIR paths too.

use super::*;

async fn raw(app: &Router, uri: &str, token: Option<&str>) -> axum::response::Response {
    let mut request = Request::builder().uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn fhir_errors_are_operation_outcomes_keeping_status_and_challenge() {
    let app = app(Role::Provider);
    let cases = [
        (
            "/fhir/r4/AuditEvent?entity=00112233445566778899aabbccddeeff",
            None,
            StatusCode::UNAUTHORIZED,
            "security",
        ),
        (
            "/fhir/r4/AuditEvent?entity=nope",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            "/fhir/r4/Patient/1",
            Some(TOKEN),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ];
    for (uri, token, status, code) in cases {
        let response = raw(&app, uri, token).await;
        assert_eq!(response.status(), status, "{uri}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/fhir+json", "{uri}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(
                headers.contains_key("www-authenticate"),
                "{uri}: the challenge is kept"
            );
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let outcome: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{uri}");
        assert_eq!(outcome["issue"][0]["code"], code, "{uri}");
        assert_eq!(outcome["issue"][0]["severity"], "error");
    }
    let metadata = raw(&app, "/fhir/r4/metadata", None).await;
    assert_eq!(metadata.status(), StatusCode::OK);
}
