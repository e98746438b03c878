//! Scenario 1 (Figure 3): an outsider with its own CA, a revoked provider and an auditor try to
//! publish; each block is refused with its reason and held by no node.

use std::time::Duration;

use anyhow::{Context, Result};
use medchain_protocol::BlockHash;

use super::{check, expect_refused, path_str, providers, record_body, say, short, shown};
use crate::forge::{Signer, now_ms, wire};
use medchain_testnet::{Testnet, log_lines, log_mark, wait_for};

/// Scenario 1: an outsider with its own CA, a revoked provider and an auditor try to publish.
pub fn outsiders(net: &Testnet) -> Result<()> {
    let p = providers(net);
    let (h1, h2) = (p[0], p[1]);
    let out = net.out_dir()?;
    let ca = net.root.join("ca");

    say(
        "1a. An outsider creates its own CA, named exactly like the consortium's, and a provider certificate.",
    );
    let outsider = out.join("outsider");
    let _ = std::fs::remove_dir_all(&outsider);
    net.medchain(&[
        "ca",
        "init",
        "--name",
        "Local Testnet Consortium",
        "--out",
        path_str(&outsider.join("ca"))?,
    ])?;
    net.medchain(&[
        "ca",
        "issue",
        "--ca",
        path_str(&outsider.join("ca"))?,
        "--role",
        "provider",
        "--org",
        "Outsider Clinic",
        "--out",
        path_str(&outsider.join("member"))?,
    ])?;
    let verdict = std::process::Command::new(&net.medchain)
        .args([
            "ca",
            "verify",
            "--ca",
            path_str(&ca)?,
            "--cert",
            path_str(&outsider.join("member/member.pem"))?,
        ])
        .output()
        .context("cannot run medchain ca verify")?;
    shown(
        "medchain ca verify (consortium CA)",
        String::from_utf8_lossy(&verdict.stdout).trim(),
    );
    let signer = Signer::from_member_dir(&outsider.join("member"))?;
    let (block, payload) = signer.block(0, BlockHash::ZERO, now_ms(), "outsider-clerk");
    let chain = signer.chain().to_hex();
    say(format!(
        "It signs block {} (its chain {}, height 0) with its key and sends it to {}.",
        short(&block.hash().to_hex()),
        short(&chain),
        h1.name
    ));
    expect_refused(
        net,
        h1,
        wire(block, vec![payload]),
        "unknown_issuer",
        &chain,
        0,
    )?;
    for node in net.nodes.iter().filter(|n| n.name != h1.name) {
        check(
            log_lines(node, 0, &chain).is_empty(),
            format!(
                "{} never saw the block (it was forwarded to no one)",
                node.name
            ),
        )?;
    }

    say("1b. A provider of the consortium publishes, then the CA revokes it and it tries again.");
    let revoked = out.join("revoked-provider");
    let _ = std::fs::remove_dir_all(&revoked);
    net.medchain(&[
        "ca",
        "issue",
        "--ca",
        path_str(&ca)?,
        "--role",
        "provider",
        "--org",
        "Hospital 9",
        "--out",
        path_str(&revoked)?,
    ])?;
    let signer = Signer::from_member_dir(&revoked)?;
    let chain = signer.chain().to_hex();
    let (first, payload) = signer.block(0, BlockHash::ZERO, now_ms(), "dr-9");
    let answer = net.post_bytes(h1, "/v1/blocks", &wire(first.clone(), vec![payload]))?;
    shown(
        &format!("{} answers {}", h1.name, answer.status),
        answer.json().to_string(),
    );
    check(
        answer.status == 201,
        "Hospital 9's first block is stored while its certificate is valid",
    )?;
    wait_for(
        "every node to hold Hospital 9's first block",
        Duration::from_secs(30),
        || -> Result<bool> {
            Ok(net.nodes.iter().all(|n| {
                net.heads(n)
                    .is_ok_and(|h| h.iter().any(|l| l.starts_with(&chain)))
            }))
        },
    )?;
    check(true, "every node holds Hospital 9's block 0")?;
    std::thread::sleep(Duration::from_millis(1100));
    let marks: Vec<u64> = net.nodes.iter().map(log_mark).collect();
    let revoke = net.medchain(&[
        "ca",
        "revoke",
        "--ca",
        path_str(&ca)?,
        "--cert",
        path_str(&revoked.join("member.pem"))?,
    ])?;
    shown("medchain ca revoke", revoke.trim());
    wait_for(
        "every node to reload the revocation list",
        Duration::from_secs(30),
        || -> Result<bool> {
            Ok(net
                .nodes
                .iter()
                .zip(&marks)
                .all(|(n, m)| !log_lines(n, *m, "revocation list reloaded").is_empty()))
        },
    )?;
    check(true, "every node reloaded the revocation list (no restart)")?;
    let (second, payload) = signer.block(1, first.hash(), now_ms(), "dr-9");
    say(format!(
        "Hospital 9 signs block {} (height 1) and sends it to {}.",
        short(&second.hash().to_hex()),
        h2.name
    ));
    expect_refused(net, h2, wire(second, vec![payload]), "revoked", &chain, 1)?;
    for node in &net.nodes {
        let heads = net.heads(node)?;
        check(
            heads.iter().any(|l| l.starts_with(&format!("{chain} 0 "))),
            format!(
                "{} keeps Hospital 9's block 0: history signed before the revocation stays",
                node.name
            ),
        )?;
    }

    say(
        "1c. An auditor tries to publish: through its own node's API, then with a block signed by its key.",
    );
    let auditor = net
        .nodes
        .iter()
        .find(|n| n.role == "auditor")
        .context("no auditor")?;
    let answer = net.post_json(
        auditor,
        "/v1/records",
        &record_body("create", "DEMO-PATIENT-1", "auditor-staff", "audit note"),
    )?;
    shown(
        &format!("{} answers {}", auditor.name, answer.status),
        answer.json().to_string(),
    );
    check(
        answer.status == 403,
        format!("{} refuses to write: auditors read only", auditor.name),
    )?;
    let signer = Signer::from_member_dir(&auditor.member_dir)?;
    let (block, payload) = signer.block(0, BlockHash::ZERO, now_ms(), "auditor-staff");
    expect_refused(
        net,
        h1,
        wire(block, vec![payload]),
        "wrong_role",
        &signer.chain().to_hex(),
        0,
    )
}
