//! Users signed in at an identity provider (`idp`, served by the test, signing tokens with its
//! keys: EdDSA, ES256, RS256). A valid token acts as its
//! subject with its scopes; expired, foreign, wrongly signed, wrong-audience and disallowed-
//! algorithm tokens are refused with RFC 6750 challenges; keys are fetched once and again on
//! rotation; an unreachable provider is a 503 (the limits on fetching and on stale keys are in
//! `user_keys`). The API token keeps working for machine clients, recorded as acting on behalf
//! of the user they name.

use std::sync::atomic::Ordering;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::idp::{Provider, RSA_KEY, SigningKey, claims, provider, users_of};
use super::*;
use crate::api::auth::{Authenticator, UserTokens};

/// A provider's API, its keys fetched again at once for an unknown key ID.
fn app_with_users(provider: &Provider) -> Router {
    app_checking(users_of(provider).with_min_refetch(Duration::ZERO))
}

/// A provider's API whose users' tokens `users` checks.
pub(super) fn app_checking(users: UserTokens) -> Router {
    let auth = Authenticator::new(TOKEN.into(), Some(users), false, None, None).unwrap();
    app_with_auth(&consortium(), Role::Provider, auth)
}

/// Calls `uri` with `token` and, if given, an actor header: status, challenge, body.
pub(super) async fn as_user(
    app: &Router,
    method: &str,
    uri: &str,
    token: &str,
    actor: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if let Some(actor) = actor {
        request = request.header(ACTOR_HEADER, actor);
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
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn record_body() -> Value {
    json!({"kind": "create", "patient": "MRN-31", "payload": {"resourceType": "Observation"}})
}

#[tokio::test]
async fn a_user_acts_as_themselves_within_their_scopes() {
    let idp = provider().await;
    let app = app_with_users(&idp);
    let ed = SigningKey::new("ed-1", Algorithm::EdDSA);
    ed.publish(&idp);
    let writer = ed.token(&claims("dr-alice", "openid medchain.read medchain.write"));

    let (status, _, text) = as_user(
        &app,
        "POST",
        "/v1/records",
        &writer,
        None,
        Some(record_body()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let record = json_of(&text)["record"].as_str().unwrap().to_owned();
    let (status, _, text) = as_user(
        &app,
        "GET",
        &format!("/v1/records/{record}"),
        &writer,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json_of(&text)["latest"]["actor"], "dr-alice");
    // The read is recorded under the user's own name, never under one a client supplies.
    let uri = format!("/v1/records/{record}/accesses");
    let (_, _, text) = as_user(&app, "GET", &uri, &writer, None, None).await;
    assert_eq!(json_of(&text)["accesses"][0]["actor"], "dr-alice", "{text}");
    let (status, _, _) = as_user(
        &app,
        "GET",
        &format!("/v1/records/{record}"),
        &writer,
        Some("dr-bob"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A reader may not write; the challenge names the scope needed.
    let reader = ed.token(&claims("nurse-carol", "medchain.read"));
    let (status, challenge, text) = as_user(
        &app,
        "POST",
        "/v1/records",
        &reader,
        None,
        Some(record_body()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(challenge.contains("insufficient_scope") && challenge.contains("medchain.write"));
    let (status, _, _) = as_user(
        &app,
        "POST",
        &format!("/v1/records/{record}/erase"),
        &writer,
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "erasing needs medchain.erase"
    );
    let (status, _, _) = as_user(&app, "POST", "/v1/verify", &writer, None, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the verifier needs medchain.admin"
    );

    // With the scopes, the same routes answer (the scope is found by the route's pattern).
    let all = ed.token(&claims(
        "dr-alice",
        "medchain.read medchain.write medchain.grant medchain.erase medchain.admin",
    ));
    let grant = json!({"to": "Hospital Z"});
    let grants = format!("/v1/records/{record}/grants");
    let (status, _, text) = as_user(&app, "POST", &grants, &all, None, Some(grant)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an unknown organisation, past the scope: {text}"
    );
    let (status, _, text) = as_user(&app, "POST", "/v1/verify", &all, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // A user may not pass for a machine client's record.
    let posing = ed.token(&claims(
        "machine client on behalf of dr-bob",
        "medchain.read",
    ));
    let (status, _, _) = as_user(&app, "GET", "/v1/chains", &posing, None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // One fetch of the keys served every request so far.
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The API token: a machine client, on behalf of the user it names.
    let (status, _, text) = as_user(&app, "GET", &uri, TOKEN, Some("dr-alice"), None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (_, _, text) = as_user(
        &app,
        "GET",
        &format!("/v1/records/{record}"),
        TOKEN,
        Some("dr-dave"),
        None,
    )
    .await;
    assert_eq!(json_of(&text)["latest"]["actor"], "dr-alice");
    let (_, _, text) = as_user(&app, "GET", &uri, TOKEN, Some("x"), None).await;
    let page = json_of(&text);
    let actors: Vec<&str> = page["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors.contains(&"machine client on behalf of dr-dave"),
        "{actors:?}"
    );
    let (status, _, _) = as_user(
        &app,
        "GET",
        &format!("/v1/records/{record}"),
        TOKEN,
        None,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a machine client must name the user"
    );

    // Erasing, with the scope.
    let erase = format!("/v1/records/{record}/erase");
    let (status, _, text) = as_user(&app, "POST", &erase, &all, None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
}

#[tokio::test]
async fn tokens_that_do_not_hold_are_refused_with_a_challenge() {
    let idp = provider().await;
    let app = app_with_users(&idp);
    let es = SigningKey::new("es-1", Algorithm::ES256);
    es.publish(&idp);
    let rs = SigningKey::new("rs-1", Algorithm::RS256);
    rs.publish(&idp);
    let now = medchain_testkit::clock::now_s();
    let good = claims("dr-alice", "medchain.read");
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    // Both algorithms work.
    for token in [es.token(&good), rs.token(&good)] {
        let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
    }
    let unpublished = SigningKey::new("es-1", Algorithm::ES256);
    let hs = EncodingKey::from_secret(b"a secret the node does not hold").unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("es-1".into());
    let mut missing_exp = good.clone();
    missing_exp.as_object_mut().unwrap().remove("exp");
    // A token claiming another algorithm for a published key's ID: the key says which it is.
    let mut confused = Header::new(Algorithm::RS256);
    confused.kid = Some("es-1".into());
    let confused =
        jsonwebtoken::encode(&confused, &good, &EncodingKey::from_rsa_der(RSA_KEY)).unwrap();
    let refused = [
        ("another algorithm for a key", confused),
        ("expired", es.token(&with("exp", json!(now - 3600)))),
        ("not yet valid", es.token(&with("nbf", json!(now + 3600)))),
        (
            "another audience",
            es.token(&with("aud", json!("another-app"))),
        ),
        (
            "another issuer",
            es.token(&with("iss", json!("https://evil.test"))),
        ),
        ("no expiry", es.token(&missing_exp)),
        ("no subject", es.token(&with("sub", json!(null)))),
        (
            "a key the provider does not publish",
            unpublished.token(&good),
        ),
        (
            "HMAC",
            jsonwebtoken::encode(&hs_header, &good, &hs).unwrap(),
        ),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (what, token) in refused {
        let (status, challenge, text) =
            as_user(&app, "GET", "/v1/chains", &token, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {text}");
        assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
        assert!(json_of(&text)["error"].is_string(), "{what}: {text}");
    }
}

#[tokio::test]
async fn rotated_keys_are_fetched_and_an_unreachable_provider_fails_closed() {
    let idp = provider().await;
    let app = app_with_users(&idp);
    let old = SigningKey::new("2026-11", Algorithm::EdDSA);
    old.publish(&idp);
    let (status, _, _) = as_user(
        &app,
        "GET",
        "/v1/chains",
        &old.token(&claims("a", "medchain.read")),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The provider rotates: a token signed with the new key makes the node fetch again.
    let new = SigningKey::new("2026-12", Algorithm::EdDSA);
    new.publish(&idp);
    let (status, _, text) = as_user(
        &app,
        "GET",
        "/v1/chains",
        &new.token(&claims("a", "medchain.read")),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // A node whose provider never answered cannot check anyone: 503, saying why.
    let gone = provider().await;
    let down = app_with_users(&gone);
    gone.server.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _, text) = as_user(
        &down,
        "GET",
        "/v1/chains",
        &new.token(&claims("a", "medchain.read")),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("signing keys"), "{text}");
    // The API token does not depend on the provider.
    let (status, _, _) = as_user(&down, "GET", "/v1/chains", TOKEN, None, None).await;
    assert_eq!(status, StatusCode::OK);
}
