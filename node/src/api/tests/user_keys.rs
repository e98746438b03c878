//! The limits on the identity provider's keys (`api::auth::users`): made-up key IDs do not make
//! the node fetch the JWKS again and again, and keys fetched before are used past their cache
//! time only while the provider is briefly unreachable; after that users are refused (503) until
//! it answers again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::Algorithm;

use super::users::{SigningKey, app_checking, as_user, claims, provider, users_of};

#[tokio::test]
async fn made_up_key_ids_do_not_make_the_node_fetch_the_keys_again() {
    let idp = provider().await;
    // The real limit: one fetch for unknown keys per `MIN_REFETCH` (10 s).
    let app = app_checking(users_of(&idp));
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let reader = claims("a", "medchain.read");
    let (status, _, text) =
        as_user(&app, "GET", "/v1/chains", &key.token(&reader), None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    for n in 0..20 {
        let forged = key.token_naming(&format!("made-up-{n}"), &reader);
        let (status, challenge, text) =
            as_user(&app, "GET", "/v1/chains", &forged, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert!(text.contains("not signed with a key"), "{text}");
    }
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        1,
        "made-up key IDs within 10 s of a fetch must not reach the provider"
    );
    // The real key still works, from the cache.
    let (status, _, _) = as_user(&app, "GET", "/v1/chains", &key.token(&reader), None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stale_keys_serve_for_a_bounded_time_then_the_node_fails_closed_until_the_provider_answers()
{
    let idp = provider().await;
    let (ttl, max_stale) = (Duration::from_millis(500), Duration::from_secs(3));
    let app = app_checking(
        users_of(&idp)
            .with_min_refetch(Duration::ZERO)
            .with_cache_times(ttl, max_stale),
    );
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let token = key.token(&claims("a", "medchain.read"));
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The provider fails; once the keys are past their cache time the node tries it, and keeps
    // using the keys it holds.
    idp.down.store(true, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        started.elapsed() < ttl + max_stale,
        "too slow a machine to test the stale window"
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "it must have tried the provider"
    );

    // Past the stale limit no one is checked with those keys: 503, saying why.
    tokio::time::sleep(ttl + max_stale).await;
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("signing keys"), "{text}");
    assert!(
        text.contains("503"),
        "the provider's answer is named: {text}"
    );

    // The provider answers again: users are taken again at once.
    idp.down.store(false, Ordering::SeqCst);
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn requests_with_a_key_held_do_not_wait_for_a_slow_fetch() {
    let idp = provider().await;
    let ttl = Duration::from_millis(300);
    let app = app_checking(
        users_of(&idp)
            .with_min_refetch(Duration::ZERO)
            .with_cache_times(ttl, Duration::from_secs(60)),
    );
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let token = key.token(&claims("a", "medchain.read"));
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // The keys pass their cache time and the provider hangs for 4 s, then fails.
    idp.delay_ms.store(4_000, Ordering::SeqCst);
    idp.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let first = tokio::spawn({
        let (app, token) = (app.clone(), token.clone());
        async move {
            as_user(&app, "GET", "/v1/chains", &token, None, None)
                .await
                .0
        }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while idp.fetches.load(Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node never fetched again"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Meanwhile another user's request is answered from the keys held, without waiting.
    let asked = tokio::time::Instant::now();
    let (status, _, text) = as_user(&app, "GET", "/v1/chains", &token, None, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "it waited {:?} for the provider",
        asked.elapsed()
    );
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "no second fetch at once"
    );
    // The request that fetched is answered with the stale keys once the provider fails.
    assert_eq!(first.await.unwrap(), StatusCode::OK);
}
