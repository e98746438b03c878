//! Cross-check with the `openssl` command line tool (skipped when it is not installed).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::identity::{Role, create_root_ca, crl_to_pem, issue_member, revoke};

fn openssl(dir: &Path, args: &[&str]) -> Option<Output> {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => Some(out),
        // CI sets MEDCHAIN_REQUIRE_OPENSSL so that a missing tool fails instead of skipping.
        Err(e) if std::env::var_os("MEDCHAIN_REQUIRE_OPENSSL").is_some() => {
            panic!("`openssl` is required (MEDCHAIN_REQUIRE_OPENSSL is set) but not runnable: {e}")
        }
        Err(e) => {
            println!("note: skipping OpenSSL cross-check, `openssl` not runnable: {e}");
            None
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn openssl_agrees() {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Some(version) = openssl(dir.path(), &["version"]) else {
        return;
    };
    println!("using {}", text(&version).trim());

    let ca = create_root_ca(
        "Medchain Test Consortium",
        now - 3600,
        30,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let good = issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        "St Mary Hospital",
        now - 60,
        7,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let bad = issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Auditor,
        "Audit Office",
        now - 60,
        7,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    let crl = revoke(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        None,
        &bad.cert_der,
        now - 30,
    )
    .unwrap();
    std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(dir.path().join("member.pem"), &good.cert_pem).unwrap();
    std::fs::write(dir.path().join("revoked.pem"), &bad.cert_pem).unwrap();
    std::fs::write(dir.path().join("crl.pem"), crl_to_pem(&crl)).unwrap();
    std::fs::write(dir.path().join("member.key"), good.key_pkcs8_pem.as_bytes()).unwrap();

    let out = openssl(dir.path(), &["verify", "-CAfile", "ca.pem", "member.pem"]).unwrap();
    assert!(out.status.success(), "openssl verify: {}", text(&out));
    assert!(text(&out).contains("member.pem: OK"), "{}", text(&out));

    let out = openssl(
        dir.path(),
        &["x509", "-text", "-noout", "-in", "member.pem"],
    )
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("St Mary Hospital"), "{shown}");
    assert!(shown.contains(Role::Provider.oid_dotted()), "{shown}");
    assert!(shown.contains("ED25519"), "{shown}");
    assert!(shown.contains("CA:FALSE"), "{shown}");

    let out = openssl(
        dir.path(),
        &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"],
    )
    .unwrap();
    assert!(out.status.success(), "openssl crl: {}", text(&out));
    assert!(text(&out).contains("verify OK"), "{}", text(&out));

    // With CRL checking, the revoked member fails and the other one passes.
    let crl_check = [
        "verify",
        "-crl_check",
        "-CRLfile",
        "crl.pem",
        "-CAfile",
        "ca.pem",
    ];
    let out = openssl(dir.path(), &[&crl_check[..], &["revoked.pem"]].concat()).unwrap();
    assert!(
        !out.status.success(),
        "revoked cert accepted: {}",
        text(&out)
    );
    assert!(text(&out).contains("revoked"), "{}", text(&out));
    let out = openssl(dir.path(), &[&crl_check[..], &["member.pem"]].concat()).unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // OpenSSL reads the private key and finds the certificate's public key in it.
    let out = openssl(dir.path(), &["pkey", "-in", "member.key", "-pubout"]).unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out2 = openssl(
        dir.path(),
        &["x509", "-in", "member.pem", "-pubkey", "-noout"],
    )
    .unwrap();
    assert_eq!(out.stdout, out2.stdout);
}
