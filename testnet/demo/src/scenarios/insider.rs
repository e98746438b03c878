//! Figure 1: an insider holding a provider's key re-signs a modified copy of one of its blocks;
//! every node keeps the original and holds the evidence.

use std::time::Duration;

use anyhow::{Context, Result};

use super::{check, converge, providers, record_body, say, shown, write};
use crate::forge::{Signer, decode, resign_modified, wire};
use medchain_testnet::{Testnet, wait_for};

/// Figure 1: an insider with hospital-1's key re-signs a modified copy of one of its blocks.
pub fn insider(net: &Testnet) -> Result<()> {
    let p = providers(net);
    let (h1, h3) = (p[0], p[2]);
    let written = write(
        net,
        h1,
        &record_body("create", "DEMO-PATIENT-4", "dr-demo", "prescription"),
    )?;
    let chain = written["entry"]["chain"]
        .as_str()
        .context("no chain")?
        .to_owned();
    let height = written["entry"]["height"].as_u64().context("no height")?;
    converge(net, Duration::from_secs(30))?;
    let original = decode(
        &net.get(h1, &format!("/v1/chains/{chain}/blocks/{height}/wire"))?
            .body,
    )?;
    let insider = Signer::from_member_dir(&h1.member_dir)?;
    let forged = resign_modified(&original, &insider, "dr-mallory")?;
    say(format!(
        "An insider holding {}'s key changes the block at height {height} (actor of the prescription) and re-signs it.",
        h1.name
    ));
    shown("original", original.hash().to_hex());
    shown("forged  ", forged.hash().to_hex());
    let key = insider.key.public_key();
    check(
        forged.verify_signature(&key) && forged.hash() != original.hash(),
        "the forged block carries a valid signature of the chain's key",
    )?;
    let answer = net.post_bytes(h3, "/v1/blocks", &wire(forged.clone(), vec![]))?;
    shown(
        &format!("{} answers {}", h3.name, answer.status),
        answer.json().to_string(),
    );
    check(
        answer.status == 409 && answer.json()["outcome"] == "equivocation",
        "it is refused as equivocation",
    )?;
    let (first, second) = (original.hash().to_hex(), forged.hash().to_hex());
    wait_for(
        "every node to hold the evidence",
        Duration::from_secs(30),
        || -> Result<bool> {
            Ok(net.nodes.iter().all(|n| {
                net.get_json(n, "/v1/evidence").is_ok_and(|e| {
                    e["evidence"].as_array().into_iter().flatten().any(|e| {
                        e["chain"] == chain.as_str()
                            && e["height"] == height
                            && e["second"] == second.as_str()
                    })
                })
            }))
        },
    )?;
    for node in &net.nodes {
        let blocks = net.get_json(
            node,
            &format!("/v1/chains/{chain}/blocks?from={height}&limit=1"),
        )?;
        check(
            blocks[0]["hash"] == first.as_str(),
            format!(
                "{} keeps the original block and holds the evidence",
                node.name
            ),
        )?;
    }
    let auditor = net
        .nodes
        .iter()
        .find(|n| n.role == "auditor")
        .context("no auditor")?;
    let evidence = net.get_json(auditor, "/v1/evidence")?;
    if let Some(item) = evidence["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["second"] == second.as_str())
    {
        shown(
            &format!("GET /v1/evidence on {}", auditor.name),
            serde_json::to_string_pretty(item)?,
        );
    }
    owner_pauses_and_operator_lifts(net, h1)
}

/// The evidence reaches the chain's owner too: its key signed twice, so it pauses its writes
/// (`forked`) until an operator decides. Here the forgery was a drill, so the operator lifts
/// it, recorded with who and why (docs/operations.md, the runbook).
fn owner_pauses_and_operator_lifts(net: &Testnet, owner: &medchain_testnet::Node) -> Result<()> {
    wait_for(
        "the owner to pause its writes",
        Duration::from_secs(30),
        || -> Result<bool> {
            Ok(net.get_json(owner, "/v1/status")?["writes_paused"]["kind"] == "forked")
        },
    )?;
    let status = net.get_json(owner, "/v1/status")?;
    shown(
        &format!("{} GET /v1/status writes_paused", owner.name),
        serde_json::to_string_pretty(&status["writes_paused"])?,
    );
    check(
        true,
        format!(
            "{} pauses its own writes: its key signed two blocks at one height",
            owner.name
        ),
    )?;
    let config = owner.data_dir.join("medchain.toml");
    let config = config
        .to_str()
        .context("a data directory that is not UTF-8")?;
    let answer = net.medchain(&[
        "writes",
        "resume",
        "--config",
        config,
        "--actor",
        "demo-operator",
        "--reason",
        "Figure 1 drill: the forged block was the demo's insider, not a stolen key",
    ])?;
    shown("medchain writes resume", answer.trim());
    check(
        net.get_json(owner, "/v1/status")?["writes_paused"].is_null(),
        format!(
            "an operator lifts the pause, recorded in {}'s signing.json",
            owner.name
        ),
    )
}
