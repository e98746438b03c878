//! The limits on the identity provider's keys (`api::auth::jwks`): made-up key IDs do not make
//! the node fetch the JWKS again and again; a key the provider withdrew is refused once the keys
//! are past their cache time; a fetch stores what it brings even when the request that started
//! it is gone, and the next starts an interval after it ended; once the provider fails, keys
//! fetched before serve without waiting for it, for a bounded time, after which users are
//! refused (503) until it answers again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use jsonwebtoken::Algorithm;
use tokio::time::Instant;

use super::idp::{Provider, SigningKey, claims, provider, users_of};
use super::users::{app_checking, as_user};

/// The status of a read with `token`.
async fn read_with(app: &Router, token: &str) -> (StatusCode, String) {
    let (status, _, text) = as_user(app, "GET", "/v1/chains", token, None, None).await;
    (status, text)
}

/// A read with `token` expected to answer `expected`: how long it took, and the answer.
async fn timed_read(app: &Router, token: &str, expected: StatusCode) -> (Duration, String) {
    let asked = Instant::now();
    let (status, text) = read_with(app, token).await;
    assert_eq!(status, expected, "{text}");
    (asked.elapsed(), text)
}

/// Waits until the provider has been asked `n` times.
async fn until_fetched(idp: &Provider, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while idp.fetches.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "the node never fetched the keys a {n}th time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn made_up_key_ids_do_not_make_the_node_fetch_the_keys_again() {
    let idp = provider().await;
    // The real limit: a fetch at most every `MIN_REFETCH` (10 s).
    let app = app_checking(users_of(&idp));
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let reader = claims("a", "medchain.read");
    let (status, text) = read_with(&app, &key.token(&reader)).await;
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
    let (status, _) = read_with(&app, &key.token(&reader)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_withdrawn_key_is_refused_once_the_keys_are_past_their_cache_time() {
    let idp = provider().await;
    let ttl = Duration::from_millis(300);
    let app = app_checking(
        users_of(&idp)
            .with_min_refetch(Duration::ZERO)
            .with_cache_times(ttl, Duration::from_secs(60)),
    );
    let (withdrawn, kept) = (
        SigningKey::new("2026-11", Algorithm::EdDSA),
        SigningKey::new("2026-12", Algorithm::ES256),
    );
    withdrawn.publish(&idp);
    kept.publish(&idp);
    let reader = claims("a", "medchain.read");
    let (status, text) = read_with(&app, &withdrawn.token(&reader)).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // The provider withdraws a key (compromised, say). Past their cache time, the keys held
    // are not used while a fetch runs and the provider answers: the call waits for it.
    withdrawn.withdraw(&idp);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    idp.delay_ms.store(2_000, Ordering::SeqCst);
    let fetching = tokio::spawn({
        let (app, token) = (app.clone(), kept.token(&reader));
        async move { read_with(&app, &token).await }
    });
    until_fetched(&idp, 2).await;
    let (status, text) = read_with(&app, &withdrawn.token(&reader)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    let (status, text) = fetching.await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2, "one fetch for both");
}

#[tokio::test]
async fn the_next_fetch_waits_for_the_interval_after_the_last_ended() {
    let idp = provider().await;
    let min_refetch = Duration::from_secs(2);
    let app = app_checking(users_of(&idp).with_min_refetch(min_refetch));
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let reader = claims("a", "medchain.read");
    let (status, text) = read_with(&app, &key.token(&reader)).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // A fetch for an unknown key that takes longer than the interval.
    tokio::time::sleep(min_refetch + Duration::from_millis(100)).await;
    idp.delay_ms.store(3_000, Ordering::SeqCst);
    let (status, _) = read_with(&app, &key.token_naming("made-up-1", &reader)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    // Right after it ended (but more than the interval after it began) another unknown key
    // draws no fetch.
    let (status, _) = read_with(&app, &key.token_naming("made-up-2", &reader)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    // Once the interval has passed since it ended, one does.
    tokio::time::sleep(min_refetch + Duration::from_millis(100)).await;
    let (status, _) = read_with(&app, &key.token_naming("made-up-3", &reader)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_fetch_stores_its_keys_when_the_request_that_started_it_is_gone() {
    let idp = provider().await;
    let app = app_checking(users_of(&idp).with_min_refetch(Duration::ZERO));
    let old = SigningKey::new("2026-11", Algorithm::EdDSA);
    old.publish(&idp);
    let reader = claims("a", "medchain.read");
    let (status, text) = read_with(&app, &old.token(&reader)).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // The provider rotates and answers slowly; the first caller with the new key gives up.
    let new = SigningKey::new("2026-12", Algorithm::EdDSA);
    new.publish(&idp);
    idp.delay_ms.store(1_000, Ordering::SeqCst);
    let token = new.token(&reader);
    let gone = tokio::spawn({
        let (app, token) = (app.clone(), token.clone());
        async move { read_with(&app, &token).await }
    });
    until_fetched(&idp, 2).await;
    gone.abort();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // What the fetch brought is held: the next caller is taken without another fetch.
    let (status, text) = read_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
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
    let fetched = Instant::now();
    let (status, text) = read_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1);

    // The provider fails; once the keys are past their cache time the node tries it, and keeps
    // using the keys it holds.
    idp.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let (status, text) = read_with(&app, &token).await;
    assert!(
        fetched.elapsed() < ttl + max_stale,
        "too slow a machine to test the stale window"
    );
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        idp.fetches.load(Ordering::SeqCst),
        2,
        "it must have tried the provider"
    );

    // Past the stale limit no one is checked with those keys: 503, saying why.
    tokio::time::sleep(ttl + max_stale).await;
    let (status, text) = read_with(&app, &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("signing keys"), "{text}");
    assert!(
        text.contains("503"),
        "the provider's answer is named: {text}"
    );

    // The provider answers again: users are taken again at once.
    idp.down.store(false, Ordering::SeqCst);
    let (status, text) = read_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn once_the_provider_fails_calls_do_not_wait_for_it_and_an_unknown_key_is_a_503() {
    let idp = provider().await;
    let (ttl, min_refetch) = (Duration::from_millis(300), Duration::from_millis(1_500));
    let app = app_checking(
        users_of(&idp)
            .with_min_refetch(min_refetch)
            .with_cache_times(ttl, Duration::from_secs(60)),
    );
    let key = SigningKey::new("2026-11", Algorithm::EdDSA);
    key.publish(&idp);
    let token = key.token(&claims("a", "medchain.read"));
    let (status, text) = read_with(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // The keys pass their cache time and the provider hangs for 2 s, then fails. Until a fetch
    // has failed the node cannot know: the first call waits for it, then uses the keys held.
    idp.delay_ms.store(2_000, Ordering::SeqCst);
    idp.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(min_refetch + Duration::from_millis(100)).await;
    let (took, _) = timed_read(&app, &token, StatusCode::OK).await;
    assert!(took >= Duration::from_millis(1_500), "{took:?}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);
    // Within the interval after that failure: the keys held at once, and a key they lack is
    // a 503 at once, with no fetch.
    let unknown = SigningKey::new("2026-12", Algorithm::EdDSA);
    let unknown_token = unknown.token(&claims("a", "medchain.read"));
    let (known, _) = timed_read(&app, &token, StatusCode::OK).await;
    let (lacking, _) = timed_read(&app, &unknown_token, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        known + lacking < Duration::from_secs(1),
        "{known:?} {lacking:?}"
    );
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // From then on a call starts the next fetch (at most one per interval) and is answered at
    // once from the keys held.
    tokio::time::sleep(min_refetch + Duration::from_millis(100)).await;
    let (took, _) = timed_read(&app, &token, StatusCode::OK).await;
    assert!(
        took < Duration::from_secs(1),
        "it waited {took:?} for the provider"
    );
    until_fetched(&idp, 3).await;

    // A token naming a key the node lacks waits for that fetch, which fails: the provider
    // cannot be asked, so 503 (try again), not 401 (the token is bad).
    let (took, text) = timed_read(&app, &unknown_token, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(text.contains("signing keys"), "{text}");
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 3, "one fetch at a time");
}
