//! Certificates from a member's own request (`medchain ca request`, `medchain ca issue --csr`):
//! the member's keys never leave it, the CA's operator chooses the role and organisation, a
//! renewal with the same keys keeps the chain, and a request that is not signed by its key is
//! refused. Run as a user would: real files, real exit codes, OpenSSL's opinion.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] functions

mod common;

use std::path::Path;
use std::process::Command;

use common::{issue_request, medchain, p, request_for_keys, run, verify_args};

/// `medchain ca verify` of `dir`'s certificate as a provider's; what it printed.
fn verify_provider(ca: &Path, dir: &Path) -> String {
    medchain(&verify_args(ca, &dir.join("member.pem"), "provider"))
}

fn line<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} in {text}"))
}

#[test]
fn a_member_s_request_is_issued_with_the_operator_s_role_and_renewed_on_the_same_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, member, renewal, issued, reissued) = (
        tmp.path().join("ca"),
        tmp.path().join("member"),
        tmp.path().join("renewal"),
        tmp.path().join("issued"),
        tmp.path().join("reissued"),
    );
    medchain(&["ca", "init", "--name", "Test Consortium", "--out", p(&ca)]);

    // The member: keys and a request, naming itself as it likes.
    let asked = medchain(&[
        "ca",
        "request",
        "--name",
        "Hospital A (asks to be an auditor CA)",
        "--out",
        p(&member),
    ]);
    let chain = line(&asked, "chain id").to_owned();
    assert!(member.join("member.key").exists() && member.join("encryption.key").exists());
    // The CA: the role and organisation are its flags'; no key is written on its side.
    let answer = issue_request(&ca, &member, &issued, &[]);
    assert_eq!(line(&answer, "chain id"), chain);
    assert!(!issued.join("member.key").exists() && !issued.join("encryption.key").exists());
    let verified = verify_provider(&ca, &issued);
    assert_eq!(line(&verified, "organisation"), "Hospital A");
    assert_eq!(line(&verified, "chain id"), chain);
    let serial = line(&verified, "serial").to_owned();

    // Renewal: a request for the same keys; a new certificate, the same chain.
    let renewed = request_for_keys(
        &renewal,
        &member.join("member.key"),
        &member.join("encryption.key"),
    );
    assert_eq!(line(&renewed, "chain id"), chain);
    assert!(
        !renewal.join("member.key").exists(),
        "a renewal makes no key"
    );
    issue_request(&ca, &renewal, &reissued, &[]);
    let verified = verify_provider(&ca, &reissued);
    assert_eq!(line(&verified, "chain id"), chain);
    assert_ne!(line(&verified, "serial"), serial);
    // The node loads the issued certificate with the member's own key (the key it binds).
    let key = std::fs::read_to_string(member.join("member.key")).unwrap();
    let der = medchain_protocol::identity::pem_to_der_key(&key).unwrap();
    let public = medchain_protocol::identity::MemberKey::from_pkcs8_der(&der)
        .unwrap()
        .public_key();
    let cert = std::fs::read_to_string(reissued.join("member.pem")).unwrap();
    let cert = medchain_protocol::identity::pem_to_der_cert(&cert).unwrap();
    assert_eq!(
        medchain_protocol::identity::public_key_of(&cert),
        Some(public)
    );
    let encryption = std::fs::read_to_string(member.join("encryption.key")).unwrap();
    let encryption = medchain_protocol::identity::pem_to_der_key(&encryption).unwrap();
    let encryption =
        medchain_protocol::identity::EncryptionKey::from_pkcs8_der(&encryption).unwrap();
    assert_eq!(
        medchain_protocol::identity::encryption_key_of(&cert),
        Some(encryption.public_key())
    );

    // OpenSSL agrees the request is a valid PKCS#10 request signed by its key.
    if let Ok(out) = Command::new("openssl")
        .args([
            "req",
            "-in",
            p(&member.join("member.csr")),
            "-noout",
            "-verify",
        ])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_request_not_signed_by_its_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, member, out) = (
        tmp.path().join("ca"),
        tmp.path().join("m"),
        tmp.path().join("out"),
    );
    medchain(&["ca", "init", "--name", "Test Consortium", "--out", p(&ca)]);
    medchain(&["ca", "request", "--name", "Hospital B", "--out", p(&member)]);
    let pem = std::fs::read_to_string(member.join("member.csr")).unwrap();
    let mut der = medchain_protocol::identity::pem_to_der_csr(&pem).unwrap();
    // The last byte is the signature's.
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let forged = tmp.path().join("forged.csr");
    let body = pem_of(&der);
    std::fs::write(&forged, body).unwrap();
    let answer = run(&[
        "ca",
        "issue",
        "--ca",
        p(&ca),
        "--csr",
        p(&forged),
        "--role",
        "provider",
        "--org",
        "Hospital B",
        "--out",
        p(&out),
    ]);
    assert_eq!(answer.status.code(), Some(2));
    let said = String::from_utf8_lossy(&answer.stderr);
    assert!(said.contains("not signed by the key it names"), "{said}");
    assert!(!out.join("member.pem").exists());
}

/// PEM of a request's DER (64-character base64 lines).
fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}
