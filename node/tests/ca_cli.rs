//! The `medchain ca` commands, run as a user would: real files, real exit codes, and OpenSSL's
//! opinion of what we write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] functions

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{medchain, p, run, verify_args};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Consortium {
    _tmp: tempfile::TempDir,
    ca: std::path::PathBuf,
    provider: std::path::PathBuf,
    auditor: std::path::PathBuf,
}

fn consortium() -> Consortium {
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca");
    let provider = tmp.path().join("hospital-a");
    let auditor = tmp.path().join("auditor");
    medchain(&["ca", "init", "--name", "Test Consortium", "--out", p(&ca)]);
    let issued = medchain(&[
        "ca",
        "issue",
        "--ca",
        p(&ca),
        "--role",
        "provider",
        "--org",
        "Hospital A",
        "--out",
        p(&provider),
    ]);
    assert!(issued.contains("peer id      12D3KooW"), "{issued}");
    medchain(&[
        "ca",
        "issue",
        "--ca",
        p(&ca),
        "--role",
        "auditor",
        "--org",
        "Auditors",
        "--out",
        p(&auditor),
    ]);
    Consortium {
        _tmp: tmp,
        ca,
        provider,
        auditor,
    }
}

fn verify(ca: &Path, cert: &Path, role: &str) -> Output {
    run(&verify_args(ca, cert, role))
}

#[test]
fn issued_provider_verifies() {
    let c = consortium();
    let out = verify(&c.ca, &c.provider.join("member.pem"), "provider");
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("valid\n"), "{text}");
    assert!(text.contains("organisation Hospital A"), "{text}");
    assert!(text.contains("role         provider"), "{text}");
}

#[test]
fn foreign_ca_is_unknown_issuer() {
    let c = consortium();
    let other = tempfile::tempdir().unwrap();
    let (other_ca, outsider) = (other.path().join("ca"), other.path().join("outsider"));
    // The outsider even copies the consortium's name: the key decides, not the name.
    medchain(&[
        "ca",
        "init",
        "--name",
        "Test Consortium",
        "--out",
        p(&other_ca),
    ]);
    medchain(&[
        "ca",
        "issue",
        "--ca",
        p(&other_ca),
        "--role",
        "provider",
        "--org",
        "Outsider",
        "--out",
        p(&outsider),
    ]);
    let out = verify(&c.ca, &outsider.join("member.pem"), "provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("invalid: unknown issuer"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn auditor_is_wrong_role_for_provider() {
    let c = consortium();
    let out = verify(&c.ca, &c.auditor.join("member.pem"), "provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("invalid: wrong role"),
        "{}",
        stdout(&out)
    );
    assert!(
        verify(&c.ca, &c.auditor.join("member.pem"), "auditor")
            .status
            .success()
    );
}

#[test]
fn revoked_member_is_refused_and_others_are_not() {
    let c = consortium();
    medchain(&[
        "ca",
        "revoke",
        "--ca",
        p(&c.ca),
        "--cert",
        p(&c.provider.join("member.pem")),
    ]);
    let out = verify(&c.ca, &c.provider.join("member.pem"), "provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("invalid: revoked"),
        "{}",
        stdout(&out)
    );
    assert!(
        verify(&c.ca, &c.auditor.join("member.pem"), "auditor")
            .status
            .success()
    );
    // Without the CRL the certificate itself is still well-formed: --crl points at an old list.
    let fresh = tempfile::tempdir().unwrap();
    let empty_crl = fresh.path().join("empty.pem");
    std::fs::write(&empty_crl, "").unwrap();
    let out = run(&[
        "ca",
        "verify",
        "--ca",
        p(&c.ca),
        "--cert",
        p(&c.provider.join("member.pem")),
        "--crl",
        p(&empty_crl),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unreadable CRL is an error, not a pass"
    );
}

#[test]
fn keys_are_private_and_never_overwritten() {
    let c = consortium();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [
            c.ca.join("ca.key"),
            c.provider.join("member.key"),
            c.provider.join("encryption.key"),
        ] {
            let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", key.display());
        }
    }
    // No pseudonym secret is the CA's or shared: `medchain init` makes a provider its own.
    assert!(!c.ca.join("pseudonym.key").exists());
    assert!(!c.provider.join("pseudonym.key").exists());
    let data = c.provider.join("data");
    let init = |data: &std::path::Path| {
        medchain(&[
            "init",
            "--role",
            "provider",
            "--ca",
            p(&c.ca),
            "--member",
            p(&c.provider),
            "--data-dir",
            p(data),
            "--api-plain-http",
        ])
    };
    let said = init(&data);
    assert!(said.contains("this hospital's own"), "{said}");
    let pseudonyms = c.provider.join("pseudonym.key");
    let first = std::fs::read(&pseudonyms).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pseudonyms).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let said = init(&c.provider.join("data-again"));
    assert!(said.contains("existing, kept"), "{said}");
    assert_eq!(std::fs::read(&pseudonyms).unwrap(), first);
    let before = std::fs::read(c.provider.join("member.key")).unwrap();
    let out = run(&[
        "ca",
        "issue",
        "--ca",
        p(&c.ca),
        "--role",
        "provider",
        "--org",
        "Again",
        "--out",
        p(&c.provider),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(
        std::fs::read(c.provider.join("member.key")).unwrap(),
        before
    );
    let again = run(&["ca", "init", "--name", "X", "--out", p(&c.ca)]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let c = consortium();
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = verify(&c.ca, &garbage, "provider");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("invalid: malformed"),
        "{}",
        stdout(&out)
    );
    let missing = run(&[
        "ca",
        "issue",
        "--ca",
        p(tmp.path()),
        "--role",
        "provider",
        "--org",
        "X",
        "--out",
        p(&tmp.path().join("m")),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn openssl_accepts_issued_certificates() {
    let have = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("MEDCHAIN_REQUIRE_OPENSSL").is_none(),
            "openssl is required (MEDCHAIN_REQUIRE_OPENSSL is set) but not runnable"
        );
        eprintln!("note: openssl not installed; skipping the cross-check");
        return;
    }
    let c = consortium();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            p(&c.ca.join("ca.pem")),
            p(&c.provider.join("member.pem")),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-text",
            "-in",
            p(&c.provider.join("member.pem")),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("O = Hospital A"), "{text}");
    assert!(
        text.contains("2.25.115109034002040678192608669639758688727.1"),
        "{text}"
    );
    // The key file is readable by OpenSSL too, and its public key is the certificate's.
    let key_pub = Command::new("openssl")
        .args(["pkey", "-pubout", "-in", p(&c.provider.join("member.key"))])
        .output()
        .unwrap();
    let cert_pub = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-pubkey",
            "-in",
            p(&c.provider.join("member.pem")),
        ])
        .output()
        .unwrap();
    assert!(key_pub.status.success());
    assert_eq!(key_pub.stdout, cert_pub.stdout);
    // The encryption key is an X25519 key OpenSSL reads, and the certificate carries its
    // public half as the subjectAltName's otherName of our type.
    assert!(
        text.contains("othername: 2.25.115109034002040678192608669639758688727.3"),
        "{text}"
    );
    let x25519 = Command::new("openssl")
        .args([
            "pkey",
            "-noout",
            "-text",
            "-in",
            p(&c.provider.join("encryption.key")),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&x25519.stdout).starts_with("X25519 Private-Key"),
        "{}",
        String::from_utf8_lossy(&x25519.stderr)
    );
}
