//! The identity provider the users' tests sign in at: its JWKS served over HTTP on loopback
//! (with the keys it publishes, how often it was asked, and whether it fails or answers slowly),
//! and its signing keys (EdDSA, ES256, RS256) to make tokens with.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use crate::api::auth::UserTokens;
use crate::config::AuthSection;

pub(super) const ISSUER: &str = "https://idp.test/realms/staff";
pub(super) const AUDIENCE: &str = "medchain-node";
pub(super) const RSA_KEY: &[u8] = include_bytes!("fixtures/idp-rs256.pkcs1.der");
const ED_KEY_1: &[u8] = include_bytes!("fixtures/idp-ed25519-1.pk8.der");
const ED_KEY_2: &[u8] = include_bytes!("fixtures/idp-ed25519-2.pk8.der");

/// The identity provider's JWKS endpoint, with the keys it publishes, how often it was asked,
/// whether it is failing (answering 503), and how long it takes to answer (milliseconds).
pub(super) struct Provider {
    pub(super) url: String,
    keys: Arc<Mutex<JwkSet>>,
    pub(super) fetches: Arc<AtomicUsize>,
    pub(super) down: Arc<AtomicBool>,
    pub(super) delay_ms: Arc<AtomicU64>,
    pub(super) server: tokio::task::JoinHandle<()>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(super) async fn provider() -> Provider {
    let keys = Arc::new(Mutex::new(JwkSet { keys: vec![] }));
    let fetches = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (served, counted, failing, slow) = (
        keys.clone(),
        fetches.clone(),
        down.clone(),
        delay_ms.clone(),
    );
    let app = Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (served, counted, failing) = (served.clone(), counted.clone(), failing.clone());
            let delay = Duration::from_millis(slow.load(Ordering::SeqCst));
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                if failing.load(Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                axum::Json(served.lock().unwrap().clone()).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Provider {
        url,
        keys,
        fetches,
        down,
        delay_ms,
        server,
    }
}

/// A signing key of the provider, published under `kid`.
pub(super) struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    pub(super) fn new(kid: &str, alg: Algorithm) -> Self {
        let rng = SystemRandom::new();
        let key = match alg {
            // PKCS#8 v1, as OpenSSL writes it (the RustCrypto backend does not read ring's v2).
            Algorithm::EdDSA if kid.ends_with('2') => EncodingKey::from_ed_der(ED_KEY_2),
            Algorithm::EdDSA => EncodingKey::from_ed_der(ED_KEY_1),
            Algorithm::ES256 => EncodingKey::from_ec_der(
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .unwrap()
                    .as_ref(),
            ),
            Algorithm::RS256 => EncodingKey::from_rsa_der(RSA_KEY),
            other => panic!("no test key for {other:?}"),
        };
        Self {
            kid: kid.to_owned(),
            alg,
            key,
        }
    }

    pub(super) fn publish(&self, provider: &Provider) {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        provider.keys.lock().unwrap().keys.push(jwk);
    }

    /// The provider stops publishing this key.
    pub(super) fn withdraw(&self, provider: &Provider) {
        let kid = Some(self.kid.clone());
        provider
            .keys
            .lock()
            .unwrap()
            .keys
            .retain(|jwk| jwk.common.key_id != kid);
    }

    pub(super) fn token(&self, claims: &Value) -> String {
        self.token_naming(&self.kid, claims)
    }

    /// A token signed with this key whose header names `kid` (another key's, or a made-up one).
    pub(super) fn token_naming(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

pub(super) fn claims(sub: &str, scope: &str) -> Value {
    let now = medchain_testkit::clock::now_s();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": now + 600, "iat": now, "scope": scope})
}

/// The checker of a node whose users sign in at `provider` (keys cached 300 s).
pub(super) fn users_of(provider: &Provider) -> UserTokens {
    let section = AuthSection {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: provider.url.clone(),
        actor_claim: "sub".into(),
        algorithms: ["RS256", "ES256", "EdDSA"].map(String::from).to_vec(),
        jwks_ca: None,
        jwks_cache_secs: 300,
        sign_in: None,
    };
    UserTokens::new(&section).unwrap()
}
