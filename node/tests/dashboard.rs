//! The auditor dashboard end to end, in headless Chromium: two providers on loopback, the second
//! with users signing in at an identity provider the test serves (authorization endpoint, token
//! endpoint checking PKCE, JWKS). The second's copy of the first's chain is tampered with while
//! it is stopped, and the first is stopped too; the second restarts, finds the damage, and waits
//! for a peer. In the browser (node/tests/dashboard_browser.cjs) an auditor signs in at the
//! provider and sees the violation and the quarantine awaiting repair; the test then starts the
//! first provider again, and the browser sees the repair, the chains, peers, reports,
//! certificates and the revocation list's 30-day warning, draws a record's history tree, finds
//! its session read-only, signs out, and signs in again with the API token. The auditor's reads
//! are recorded under the provider's subject.
//!
//! Without Chromium, Node.js and playwright-core (scripts/install-browser-tools.sh) the test
//! skips, saying so, unless `MEDCHAIN_REQUIRE_BROWSER=1` (CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use base64::Engine;
use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const CLIENT_ID: &str = "medchain-dashboard";
const AUDIENCE: &str = "medchain-node";
const USER: &str = "auditor-alice";
const IDP_KEY: &[u8] = include_bytes!("../src/api/tests/fixtures/idp-ed25519-1.pk8.der");

/// playwright-core's directory and Chromium, or `None` (skip) when they are not installed.
fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let tools = std::env::var_os("MEDCHAIN_BROWSER_TOOLS").map(PathBuf::from);
    let chromium = std::env::var_os("MEDCHAIN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let node = Command::new("node").arg("--version").output();
    match tools {
        Some(tools)
            if tools.join("node_modules/playwright-core").is_dir()
                && chromium.exists()
                && node.is_ok_and(|o| o.status.success()) =>
        {
            Some((tools, chromium))
        }
        _ if std::env::var("MEDCHAIN_REQUIRE_BROWSER").as_deref() == Ok("1") => panic!(
            "the browser test needs node, MEDCHAIN_BROWSER_TOOLS (scripts/install-browser-tools.sh) and Chromium at MEDCHAIN_CHROMIUM or /usr/bin/chromium"
        ),
        _ => {
            eprintln!(
                "skipped: set MEDCHAIN_BROWSER_TOOLS (scripts/install-browser-tools.sh) and install chromium to run it"
            );
            None
        }
    }
}

/// The identity provider: codes issued with their PKCE challenge and redirect URI.
#[derive(Clone)]
struct Idp {
    issuer: String,
    redirect: Arc<Mutex<String>>,
    codes: Arc<Mutex<HashMap<String, String>>>,
    key: Arc<EncodingKey>,
}

async fn authorize(
    State(idp): State<Idp>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let redirect = idp.redirect.lock().unwrap().clone();
    let asked = |name: &str| query.get(name).map(String::as_str);
    let well_formed = asked("response_type") == Some("code")
        && asked("client_id") == Some(CLIENT_ID)
        && asked("redirect_uri") == Some(redirect.as_str())
        && asked("code_challenge_method") == Some("S256")
        && asked("scope").is_some_and(|s| s.split(' ').any(|s| s == "medchain.read"));
    let (Some(challenge), Some(state), true) =
        (asked("code_challenge"), asked("state"), well_formed)
    else {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "malformed authorization request",
        )
            .into_response();
    };
    let code = format!("code-{}", idp.codes.lock().unwrap().len() + 1);
    idp.codes
        .lock()
        .unwrap()
        .insert(code.clone(), challenge.to_owned());
    Redirect::to(&format!("{redirect}?code={code}&state={state}")).into_response()
}

async fn token(
    State(idp): State<Idp>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::response::Response {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let challenge = idp.codes.lock().unwrap().remove(field("code"));
    let verifier = field("code_verifier");
    let proven = challenge.is_some_and(|c| {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest) == c
    });
    let redirect = idp.redirect.lock().unwrap().clone();
    if !proven
        || field("grant_type") != "authorization_code"
        || field("client_id") != CLIENT_ID
        || field("redirect_uri") != redirect
    {
        let refusal = json!({"error": "invalid_grant", "error_description": "code, verifier or client do not match"});
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
    }
    let now = medchain_testkit::clock::now_s();
    let claims = json!({"iss": idp.issuer, "aud": AUDIENCE, "sub": USER, "exp": now + 600, "iat": now, "scope": "openid medchain.read"});
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("idp-1".into());
    let access = jsonwebtoken::encode(&header, &claims, &idp.key).unwrap();
    axum::Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 600}))
        .into_response()
}

/// Serves the provider on loopback from a runtime of its own; answers its base URL.
fn serve_idp(runtime: &tokio::runtime::Runtime, redirect: &str) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    // By name, not address: another site than the node's (127.0.0.1), as a real provider is,
    // so the cookies' SameSite rules are exercised as they will be.
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let key = EncodingKey::from_ed_der(IDP_KEY);
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::EdDSA).unwrap();
    jwk.common.key_id = Some("idp-1".into());
    let jwks = JwkSet { keys: vec![jwk] };
    let idp = Idp {
        issuer: base.clone(),
        redirect: Arc::new(Mutex::new(redirect.to_owned())),
        codes: Arc::default(),
        key: Arc::new(key),
    };
    let app = axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        )
        .with_state(idp);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// A child process killed however the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces `from` with `to` in the configuration file `path` (which must hold it).
fn edit_config(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

fn write(node: &Node, token: &str, n: u32) -> Value {
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-UI","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Waits (bounded) until `node` holds `chain` up to `height`.
fn holds(node: &Node, token: &str, chain: &str, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, text) = node.http("GET", "/v1/chains", token, None);
        let chains: Value = serde_json::from_str(&text).unwrap_or_default();
        let held = chains.as_array().is_some_and(|list| {
            list.iter()
                .any(|c| c["chain"] == chain && c["height"].as_u64() >= Some(height))
        });
        if held {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{chain} up to {height} never arrived: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_auditor_sees_a_tampered_store_found_and_repaired_in_the_dashboard() {
    let Some((tools, chromium)) = browser_tools() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ca = Ca::new(BIN);

    // A: a fixed p2p port, so B finds it again after its restart.
    let a_setup = ca.node("a", "provider", "Hospital A", &[]);
    let a_p2p_port = free_port();
    edit_config(
        &a_setup.config,
        "/ip4/127.0.0.1/tcp/0",
        &format!("/ip4/127.0.0.1/tcp/{a_p2p_port}"),
    );
    let a = start(&a_setup);

    // B: users sign in at the provider; its API at a fixed port, the provider's redirect URI.
    let b_setup = ca.node("b", "provider", "Hospital B", std::slice::from_ref(&a.p2p));
    let b_port = free_port();
    let b_url = format!("http://127.0.0.1:{b_port}");
    let redirect = format!("{b_url}/ui/callback");
    let idp = serve_idp(&runtime, &redirect);
    edit_config(
        &b_setup.config,
        "127.0.0.1:0",
        &format!("127.0.0.1:{b_port}"),
    );
    let mut config = std::fs::read_to_string(&b_setup.config).unwrap();
    config.push_str(&format!(
        "\n[auth]\nissuer = \"{idp}\"\naudience = \"{AUDIENCE}\"\njwks_url = \"{idp}/jwks\"\n\n\
         [auth.sign_in]\nauthorization_url = \"{idp}/authorize\"\ntoken_url = \"{idp}/token\"\n\
         client_id = \"{CLIENT_ID}\"\nredirect_url = \"{redirect}\"\n"
    ));
    std::fs::write(&b_setup.config, config).unwrap();
    let b = start(&b_setup);
    a.writable(&a_setup.token);
    b.writable(&b_setup.token);

    let written: Vec<Value> = (0..4).map(|n| write(&a, &a_setup.token, n)).collect();
    let chain = written[0]["entry"]["chain"].as_str().unwrap().to_owned();
    let record = written[0]["record"].as_str().unwrap().to_owned();
    let top = written[3]["entry"]["height"].as_u64().unwrap();
    holds(&b, &b_setup.token, &chain, top);

    // B's copy of A's chain is rewritten at height 2 while B is down; A goes down too, so the
    // damage waits for a peer in the dashboard.
    assert_eq!(b.terminate(), 0);
    tamper_block(&b_setup, &chain, 2);
    assert_eq!(a.terminate(), 0);
    let mut b = spawn(&b_setup);
    b.wait_for("integrity violation detected", Duration::from_secs(30));
    b.wait_ready();

    let screenshots = tempfile::tempdir().unwrap();
    let mut browser = Killed(
        Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/dashboard_browser.cjs"
            ))
            .env("MEDCHAIN_BROWSER_TOOLS", &tools)
            .env("DASHBOARD_CHROMIUM", &chromium)
            .env("DASHBOARD_URL", &b_url)
            .env("DASHBOARD_CHAIN", &chain)
            .env("DASHBOARD_HEIGHT", "2")
            .env("DASHBOARD_RECORD", &record)
            .env("DASHBOARD_TOP", top.to_string())
            .env("DASHBOARD_TOKEN", &b_setup.token)
            .env("DASHBOARD_USER", USER)
            .env("DASHBOARD_SCREENSHOTS", screenshots.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = BufReader::new(browser.0.stdout.take().unwrap());
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    let shown = heard.recv_timeout(Duration::from_secs(180));
    let a = if shown.as_deref() == Ok("VIOLATION_SHOWN") {
        Some(start(&a_setup))
    } else {
        None
    };
    let finished = wait_bounded(&mut browser.0, Duration::from_secs(300));
    let kept = screenshots.keep();
    assert!(
        finished && a.is_some(),
        "the browser's checks failed (said {shown:?}; screenshots in {})",
        kept.display()
    );
    let _ = std::fs::remove_dir_all(kept);

    // The history the auditor drew was an audited read, recorded under their subject.
    let (status, accesses) = b.http(
        "GET",
        &format!("/v1/records/{record}/accesses"),
        &b_setup.token,
        None,
    );
    assert_eq!(status, 200, "{accesses}");
    assert!(accesses.contains(USER), "{accesses}");
    drop((a, b, runtime));
}
