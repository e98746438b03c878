//! The dashboard's routes without a browser: the page and its headers, the API token sign-in
//! (wrong token, bad name, forged origin), a session that reads and is recorded on its user's
//! behalf but never writes, sign-out, and no provider sign-in when none is configured.
//! (node/tests/dashboard.rs drives the whole of it in Chromium.)

use axum::http::header;

use super::*;

/// One request with `headers`; answers status, headers and body.
async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

const FORM: &str = "application/x-www-form-urlencoded";

/// Signs in with the API token as `name`; answers the `Cookie` header to send.
async fn sign_in(app: &Router, name: &str) -> String {
    let body = format!("token={TOKEN}&actor={name}");
    let (status, headers, _) = send(
        app,
        "POST",
        "/ui/sign-in/token",
        &[
            ("content-type", FORM),
            ("origin", "http://node"),
            ("host", "node"),
        ],
        &body,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    // Plain HTTP, no https URL anywhere: a Secure cookie would never come back.
    assert!(
        cookie.starts_with("medchain_session=") && !cookie.contains("Secure"),
        "{cookie}"
    );
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let app = app(Role::Auditor);
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let (status, headers, body) = send(&app, "GET", path, &[], "").await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(!body.is_empty());
    }
    let (status, headers, _) = send(&app, "GET", "/ui/", &[], "").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/ui");
    let (_, _, session) = send(&app, "GET", "/ui/session", &[], "").await;
    let session = json_of(&session);
    assert_eq!(session["signed_in"], false);
    assert_eq!(session["provider"], false);
    let (status, _, _) = send(&app, "GET", "/ui/sign-in/provider", &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no provider is configured");
}

#[tokio::test]
async fn a_token_session_reads_on_its_users_behalf_and_never_writes() {
    let app = app(Role::Provider);
    let body = json!({"kind": "create", "patient": "MRN-UI", "payload": {"resourceType": "Observation", "v": 1}, "actor": "dr-1"});
    let (status, text) = call(&app, "POST", "/v1/records", Some(body), true).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let record = json_of(&text)["record"].as_str().unwrap().to_owned();

    let cookie = sign_in(&app, "auditor-bob").await;
    let with_cookie = [("cookie", cookie.as_str())];
    let (_, _, session) = send(&app, "GET", "/ui/session", &with_cookie, "").await;
    let session = json_of(&session);
    assert_eq!(session["actor"], "machine client on behalf of auditor-bob");
    let (status, _, _) = send(&app, "GET", "/v1/status", &with_cookie, "").await;
    assert_eq!(status, StatusCode::OK);
    let history = format!("/v1/records/{record}/history");
    let (status, _, _) = send(&app, "GET", &history, &with_cookie, "").await;
    assert_eq!(status, StatusCode::OK);
    let accesses = accesses_of(&app, &record).await;
    assert_eq!(
        accesses["accesses"][0]["actor"], "machine client on behalf of auditor-bob",
        "{accesses}"
    );
    // Reads only: writing, granting or running the verifier with the cookie is refused.
    let write = r#"{"kind":"create","patient":"MRN-UI","payload":{"resourceType":"Observation"},"actor":"auditor-bob"}"#;
    let json_body = [
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    let (status, _, text) = send(&app, "POST", "/v1/records", &json_body, write).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("only reads"), "{text}");
    let (status, _, _) = send(&app, "POST", "/v1/verify", &with_cookie, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A sign-out posted from another site is refused; from the page, it ends the session.
    let foreign = [
        ("cookie", cookie.as_str()),
        ("origin", "https://evil.example"),
        ("host", "node"),
    ];
    let (status, _, _) = send(&app, "POST", "/ui/sign-out", &foreign, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, headers, _) = send(&app, "POST", "/ui/sign-out", &with_cookie, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, headers, text) = send(&app, "GET", "/v1/status", &with_cookie, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn wrong_tokens_bad_names_and_forged_origins_open_no_session() {
    let app = app(Role::Auditor);
    for (body, origin, says) in [
        (
            "token=wrong&actor=auditor-bob",
            "http://node",
            "/ui?failed=token",
        ),
        (
            &*format!("token={TOKEN}&actor=%20bob"),
            "http://node",
            "/ui?failed=name",
        ),
        (&*format!("token={TOKEN}"), "http://node", "/ui?failed=form"),
    ] {
        let headers = [("content-type", FORM), ("origin", origin), ("host", "node")];
        let (status, answer, _) = send(&app, "POST", "/ui/sign-in/token", &headers, body).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(answer[header::LOCATION], says, "{body}");
        assert!(!answer.contains_key(header::SET_COOKIE), "{body}");
    }
    let forged = [("content-type", FORM), ("origin", "null"), ("host", "node")];
    let body = format!("token={TOKEN}&actor=bob");
    let (status, answer, _) = send(&app, "POST", "/ui/sign-in/token", &forged, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!answer.contains_key(header::SET_COOKIE));
    let (status, _, _) = send(
        &app,
        "GET",
        "/v1/status",
        &[("cookie", "medchain_session=made-up")],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A real session's cookie beside a planted one chooses nothing; signing out ends both.
    let cookie = sign_in(&app, "auditor-bob").await;
    let twice = format!("{cookie}; medchain_session=planted");
    let (status, _, text) = send(&app, "GET", "/v1/status", &[("cookie", &twice)], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("more than once"), "{text}");
    let (status, _, _) = send(&app, "POST", "/ui/sign-out", &[("cookie", &twice)], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = send(&app, "GET", "/v1/status", &[("cookie", &cookie)], "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "ended");
}

/// An auditor's API whose dashboard signs users in at a provider; its token endpoint is a closed
/// loopback port, so an exchange fails. The API serves plain HTTP, but the provider sends
/// browsers back to an https URL: a TLS proxy is in front, so cookies are Secure.
fn app_with_provider() -> Router {
    let section = crate::config::SignInSection {
        authorization_url: "https://idp.test/auth?realm=staff".into(),
        token_url: "http://127.0.0.1:9/token".into(),
        client_id: "medchain-dashboard".into(),
        redirect_url: "https://node.test/ui/callback".into(),
        scopes: "openid medchain.read".into(),
        client_secret_file: None,
        session_secs: 3600,
    };
    let provider = crate::api::ui::provider::ProviderSignIn::new(&section, None).unwrap();
    let auth = auth::Authenticator::new(TOKEN.into(), None, false, None, Some(provider)).unwrap();
    app_with_auth(&consortium(), Role::Auditor, auth)
}

/// Comes back to `/ui/callback?QUERY` with `cookie`; answers where it sends the browser, after
/// checking the sign-in cookie is cleared and no session opened.
async fn come_back(app: &Router, query: &str, cookie: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", *c)).collect();
    let uri = format!("/ui/callback?{query}");
    let (status, answer, _) = send(app, "GET", &uri, &headers, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set: Vec<&str> = answer
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|c| c.to_str().unwrap())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Host-medchain_signin=;")),
        "the sign-in cookie is cleared: {set:?}"
    );
    assert!(
        !set.iter().any(|c| c.contains("medchain_session=")),
        "{set:?}"
    );
    answer[header::LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_callback_counts_only_in_the_browser_that_began_the_sign_in() {
    let app = app_with_provider();
    let (status, headers, _) = send(&app, "GET", "/ui/sign-in/provider", &[], "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(location.host_str(), Some("idp.test"));
    let asked: std::collections::HashMap<String, String> =
        location.query_pairs().into_owned().collect();
    assert_eq!(
        asked["realm"], "staff",
        "the provider's own parameters stay"
    );
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], "medchain-dashboard");
    assert_eq!(asked["redirect_uri"], "https://node.test/ui/callback");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43);
    let state = asked["state"].clone();
    let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("SameSite=Lax") && set_cookie.contains("HttpOnly"));
    assert!(
        set_cookie.starts_with("__Host-medchain_signin=") && set_cookie.ends_with("; Secure"),
        "browsers come back over the proxy's TLS: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();

    // A link made from someone else's sign-in: no cookie, or this browser's for another state.
    let code_and_state = format!("code=c&state={state}");
    assert_eq!(
        come_back(&app, &code_and_state, None).await,
        "/ui?failed=again"
    );
    let wrong_state = come_back(&app, "code=c&state=AAAA", Some(&cookie)).await;
    assert_eq!(wrong_state, "/ui?failed=again");
    // The provider's refusal; then this browser's own sign-in, whose exchange fails here.
    let refused = format!("error=access_denied&state={state}");
    let said = come_back(&app, &refused, Some(&cookie)).await;
    assert_eq!(said, "/ui?failed=provider");
    let said = come_back(&app, &code_and_state, Some(&cookie)).await;
    assert_eq!(
        said, "/ui?failed=provider",
        "the exchange reached no token endpoint"
    );
}
