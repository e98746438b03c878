//! The API over TLS: `medchain init` insists on TLS or an explicit opt-out and checks the
//! certificate and key at set-up; the daemon serves https with a certificate from a local API
//! CA (`medchain tls`), which clients trusting that CA reach, and no other; plain HTTP gets no
//! answer; clients that open connections and say nothing hold up no one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn medchain_output(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn agent(ca: Option<&Path>) -> ureq::Agent {
    let ring = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = ureq::tls::TlsConfig::builder().unversioned_rustls_crypto_provider(ring);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        let roots: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item.unwrap() {
                ureq::tls::PemItem::Certificate(cert) => Some(cert),
                _ => None,
            })
            .collect();
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&roots));
    }
    ureq::Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

#[test]
fn the_api_serves_https_to_clients_that_trust_its_ca_and_nothing_in_plain() {
    let ca = Ca::new(BIN);
    let dir = ca.tmp.path();
    let (api_ca, tls, other) = (dir.join("api-ca"), dir.join("tls"), dir.join("other"));
    medchain(&["tls", "ca", "--out", p(&api_ca)]);
    medchain(&[
        "tls",
        "issue",
        "--ca",
        p(&api_ca),
        "--host",
        "127.0.0.1",
        "--host",
        "localhost",
        "--out",
        p(&tls),
    ]);
    medchain(&[
        "tls",
        "issue",
        "--ca",
        p(&api_ca),
        "--host",
        "localhost",
        "--out",
        p(&other),
    ]);
    let (cert, key) = (tls.join("api.pem"), tls.join("api.key"));
    let ca_pem = api_ca.join("api-ca.pem");

    // `init` wants TLS or an explicit opt-out, and a key that fits the certificate.
    let init = |data: &str, api: &[&str]| {
        let member = ca.member(data, "provider", data);
        let data_dir = dir.join(data);
        let base = [
            "init",
            "--role",
            "provider",
            "--ca",
            p(&ca.dir),
            "--member",
            p(&member),
            "--data-dir",
            p(&data_dir),
        ];
        medchain_output(&[&base[..], api].concat())
    };
    let neither = init("neither", &[]);
    assert!(!neither.status.success());
    let said = String::from_utf8_lossy(&neither.stderr);
    assert!(
        said.contains("--api-tls-cert") && said.contains("--api-plain-http"),
        "{said}"
    );
    let mismatched = init(
        "mismatched",
        &[
            "--api-tls-cert",
            p(&cert),
            "--api-tls-key",
            p(&other.join("api.key")),
        ],
    );
    assert!(!mismatched.status.success());
    let said = String::from_utf8_lossy(&mismatched.stderr);
    assert!(said.contains("does not fit"), "{said}");

    let setup = ca.node_with(
        "a",
        "provider",
        "Hospital A",
        &[],
        &[
            "--api-tls-cert",
            p(&cert),
            "--api-tls-key",
            p(&key),
            "--api-tls-ca",
            p(&ca_pem),
        ],
    );
    let node = start(&setup);
    let base = format!("https://{}", node.api);
    let status = |agent: &ureq::Agent| {
        agent
            .get(format!("{base}/v1/status"))
            .header("Authorization", &format!("Bearer {}", setup.token))
            .call()
            .map(|r| r.status().as_u16())
    };
    // Three clients that connect and say nothing, and one that speaks plain HTTP.
    let idle: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&node.api).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(status(&agent(Some(&ca_pem))).unwrap(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held up by idle connections"
    );
    assert!(
        status(&agent(None)).is_err(),
        "the web PKI does not know the local CA"
    );
    let mut plain = std::net::TcpStream::connect(&node.api).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    drop(idle);

    // The CLI through --api needs --api-ca (through a configuration, its api.tls_ca: the
    // testnet script waits for its nodes that way).
    let token = setup.data.join("api.token");
    let direct = |extra: &[&str]| {
        let args = [
            &["status", "--api", &base, "--token-file", p(&token)][..],
            extra,
        ]
        .concat();
        medchain_output(&args)
    };
    assert!(direct(&["--api-ca", p(&ca_pem)]).status.success());
    assert_eq!(direct(&[]).status.code(), Some(2));
    assert_eq!(node.terminate(), 0);
}
