//! The node's integration tests run the `medchain` binary cargo built for them (its path is
//! known only to this package's tests) through the test kit's daemon harness.
#![allow(dead_code, unused_imports)] // each test binary uses part of it

use std::path::Path;

use medchain_protocol::PayloadHash;

pub use medchain_testkit::daemon::{Ca, Node, Setup, http_to, p, spawn, start, wait_bounded};

/// The `medchain` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_medchain");

/// Runs `medchain ARGS`; panics unless it succeeds; answers what it printed.
pub fn medchain(args: &[&str]) -> String {
    medchain_testkit::daemon::medchain(Path::new(BIN), args)
}

/// Runs `medchain ARGS`, whatever its exit status.
pub fn run(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .output()
        .expect("medchain runs")
}

/// The arguments of `medchain ca verify` of `cert` against `ca` as a `role`'s.
pub fn verify_args<'a>(ca: &'a Path, cert: &'a Path, role: &'a str) -> [&'a str; 8] {
    [
        "ca",
        "verify",
        "--ca",
        p(ca),
        "--cert",
        p(cert),
        "--role",
        role,
    ]
}

/// `medchain ca request` for Hospital A's existing keys (a renewal) into `out`; what it printed.
pub fn request_for_keys(out: &Path, key: &Path, encryption_key: &Path) -> String {
    medchain(&[
        "ca",
        "request",
        "--name",
        "Hospital A",
        "--out",
        p(out),
        "--key",
        p(key),
        "--encryption-key",
        p(encryption_key),
    ])
}

/// `medchain ca issue --csr REQUEST/member.csr` by the CA in `ca` as a provider of Hospital A
/// into `out`, with `more` arguments; what it printed.
pub fn issue_request(ca: &Path, request: &Path, out: &Path, more: &[&str]) -> String {
    let csr = request.join("member.csr");
    let mut args = vec![
        "ca",
        "issue",
        "--ca",
        p(ca),
        "--csr",
        p(&csr),
        "--role",
        "provider",
        "--org",
        "Hospital A",
        "--out",
        p(out),
    ];
    args.extend_from_slice(more);
    medchain(&args)
}

/// One provider in its own consortium.
pub fn setup() -> Setup {
    medchain_testkit::daemon::setup(BIN)
}

/// A record whose payload is too large to travel inline with its block (over 64 KiB): peers
/// fetch it by hash.
pub fn write_large(node: &Node, token: &str) -> (String, PayloadHash) {
    let note = "x".repeat(200 * 1024);
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-1","payload":{{"resourceType":"Observation","note":"{note}"}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{}", &text[..text.len().min(300)]);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let record = json["record"].as_str().unwrap().to_owned();
    let chain = json["entry"]["chain"].as_str().unwrap();
    let (_, blocks) = node.http(
        "GET",
        &format!("/v1/chains/{chain}/blocks?from=0&limit=4"),
        token,
        None,
    );
    let blocks: serde_json::Value = serde_json::from_str(&blocks).unwrap();
    let hash = blocks[0]["entries"][0]["payload"]["hash"].as_str().unwrap();
    (record, hash.parse().unwrap())
}

/// Waits (up to 30 s) until `node` holds the payload of `record`.
pub fn wait_payload_held(node: &Node, token: &str, record: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !node
        .http("GET", &format!("/v1/records/{record}/history"), token, None)
        .1
        .contains("\"payload_held\":true")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the payload of {record} never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Rewrites the stored copy of block `height` of `chain` in the (stopped) node's store with the
/// documented attack-simulation subcommand, `medchain maintenance tamper-block`.
pub fn tamper_block(setup: &Setup, chain: &str, height: u64) {
    medchain(&[
        "maintenance",
        "tamper-block",
        "--data-dir",
        p(&setup.data),
        "--chain",
        chain,
        "--height",
        &height.to_string(),
    ]);
}
