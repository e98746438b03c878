//! Scenario 3c: a proof of a record's latest version, exported from a node that did not write
//! it, checks offline (`medchain proof verify`: no node, no network), names its signer and the
//! other hospitals whose later blocks commit to it, and fails once any byte of it is changed.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use medchain_protocol::identity::{Consortium, pem_to_der_cert};
use medchain_protocol::proof;
use medchain_testnet::{Node, Testnet, wait_for};

use super::{check, path_str, say, shown};

/// Exports the proof of `record` (written by `signer_org`) from `from` and checks it offline.
pub fn offline_proof(net: &Testnet, from: &Node, record: &str, signer_org: &str) -> Result<()> {
    say(format!(
        "3c. {} exports a proof of record {record}'s latest version; it is checked offline.",
        from.name
    ));
    let ca_pem = net.root.join("ca").join("ca.pem");
    let consortium = Consortium::new(pem_to_der_cert(&std::fs::read_to_string(&ca_pem)?)?, vec![])
        .context("the testnet's CA certificate is not usable")?;
    // Other hospitals' blocks written after the record's name its chain's head: wait for the
    // node to hold one.
    let mut bytes = Vec::new();
    wait_for("a proof with a witness", Duration::from_secs(60), || {
        let answer = net.get(from, &format!("/v1/records/{record}/proof"))?;
        let witnessed = answer.status == 200
            && proof::verify(&answer.body, &consortium).is_ok_and(|p| !p.witnesses.is_empty());
        if witnessed {
            bytes = answer.body;
        }
        Ok::<_, medchain_testnet::TestnetError>(witnessed)
    })?;
    let file = net.out_dir()?.join("proof.json");
    std::fs::write(&file, &bytes).context("cannot write the proof")?;
    let (code, said) = verify_offline(net, &file, &ca_pem)?;
    shown("medchain proof verify", &said);
    check(
        code == Some(0)
            && said.starts_with("VALID")
            && said.contains(&format!("signed by         {signer_org}")),
        format!("the proof is valid offline and names {signer_org} as its signer"),
    )?;
    check(
        said.contains("witnessed by"),
        "it names another hospital's later block committing to it",
    )?;

    // One changed byte, in the entry's bytes: the CLI says invalid and why, exit 1.
    let at = find(&bytes, b"\"entry\": \"")? + 12;
    let mut changed = bytes.clone();
    changed[at] = if changed[at] == b'0' { b'1' } else { b'0' };
    let tampered = net.out_dir()?.join("proof-tampered.json");
    std::fs::write(&tampered, &changed).context("cannot write the changed proof")?;
    let (code, said) = verify_offline(net, &tampered, &ca_pem)?;
    shown("medchain proof verify (one byte changed)", &said);
    check(
        code == Some(1) && said.starts_with("INVALID"),
        "with one byte of the entry changed, it is invalid (exit 1)",
    )?;
    // Every other byte, each changed alone, in process (a process per byte would take minutes).
    let still_valid = (0..bytes.len())
        .filter(|&at| {
            let mut changed = bytes.clone();
            changed[at] ^= 0x01;
            proof::verify(&changed, &consortium).is_ok()
        })
        .count();
    check(
        still_valid == 0,
        format!("no single changed byte of its {} verifies", bytes.len()),
    )
}

/// Runs `medchain proof verify FILE --ca CA`: its exit code and what it printed.
fn verify_offline(
    net: &Testnet,
    file: &std::path::Path,
    ca: &std::path::Path,
) -> Result<(Option<i32>, String)> {
    let output = Command::new(&net.medchain)
        .args(["proof", "verify", path_str(file)?, "--ca", path_str(ca)?])
        .output()
        .context("cannot run medchain proof verify")?;
    let said = [&output.stdout, &output.stderr]
        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
        .join("\n");
    Ok((output.status.code(), said.trim().to_owned()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Result<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .context("the proof has no entry field")
}
