//! The key backup drill (docs/operations.md): a hospital loses its whole data directory. Its
//! chain and sealed payloads come back from its peers, but its data keys lived only in its own
//! store; they come back from the key backups its peers keep for it, opened with the hospital's
//! offline recovery key (`medchain recovery restore`), and its records read again.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::access::{org, until_status};
use super::{check, converge, path_str, providers, record_body, say, shown, write};
use medchain_testnet::{Node, Testnet};

/// Polls `GET /v1/chains` on `node` (bounded) until `org`'s chain is at `height` at least with
/// at least `backups` key backups.
fn until_backups(net: &Testnet, node: &Node, org: &str, height: u64, backups: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let chains = net.get_json(node, "/v1/chains")?;
        let held = chains.as_array().into_iter().flatten().any(|c| {
            c["org"] == org
                && c["height"].as_u64() >= Some(height)
                && c["key_backups"].as_u64() >= Some(backups)
        });
        if held {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} does not hold {org}'s chain to {height} with {backups} key backups",
                node.name
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Scenario: the last provider writes a record, loses its data directory, rebuilds from its
/// peers and restores its keys from their backups with its recovery key.
pub fn backup_drill(net: &Testnet) -> Result<()> {
    let node = *providers(net).last().context("no provider")?;
    let node_dir = node
        .data_dir
        .parent()
        .context("a data directory has no parent")?;
    let recovery_key = node_dir.join("recovery/recovery.key");
    if !recovery_key.exists() {
        bail!(
            "{} has no recovery key ({}): set the testnet up again with scripts/testnet.sh up",
            node.name,
            recovery_key.display()
        );
    }
    let marker = format!("RECOVERED-{}", std::process::id());
    say(format!(
        "5a. {} writes a record ({marker}); its node backs the block's data key up to the \
         hospital's recovery key, and its peers keep the backup.",
        node.name
    ));
    let written = write(
        net,
        node,
        &record_body("create", "DEMO-PATIENT-5", "dr-demo", &marker),
    )?;
    let record = written["record"].as_str().context("no record")?.to_owned();
    converge(net, Duration::from_secs(30))?;
    let own = own_chain(net, node)?;
    let (height, backups) = (
        own["height"].as_u64().unwrap_or(0),
        own["key_backups"].as_u64().unwrap_or(0),
    );
    check(
        backups >= 1,
        format!("{} holds {backups} key backups of its chain", node.name),
    )?;
    for peer in net.nodes.iter().filter(|n| n.name != node.name) {
        until_backups(net, peer, &org(node), height, backups)?;
        check(
            true,
            format!("{} keeps them (it cannot open one)", peer.name),
        )?;
    }

    say(format!(
        "5b. {}'s data directory is lost. Its operator puts back the configuration and the API \
         token (from configuration management) and starts it.",
        node.name
    ));
    // Read before anything is removed: a failure leaves the node as it was.
    let kept = ["medchain.toml", "api.token"]
        .into_iter()
        .map(|file| std::fs::read(node.data_dir.join(file)).map(|bytes| (file, bytes)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot keep the configuration")?;
    net.script(&["stop", &node.name])?;
    std::fs::remove_dir_all(&node.data_dir)
        .with_context(|| format!("cannot remove {}", node.data_dir.display()))?;
    std::fs::create_dir_all(&node.data_dir)?;
    for (file, bytes) in kept {
        std::fs::write(node.data_dir.join(file), bytes)?;
    }
    net.script(&["start", &node.name])?;
    until_backups(net, node, &org(node), height, backups)?;
    check(
        true,
        format!(
            "{} rebuilt its chain and fetched its key backups from its peers",
            node.name
        ),
    )?;
    until_payload_held(net, node, &record)?;
    let refused = net.get(node, &format!("/v1/records/{record}"))?;
    check(
        refused.status == 403,
        format!(
            "{} holds its sealed payload but not its key: it answers {}",
            node.name, refused.status
        ),
    )?;

    say(format!(
        "5c. The recovery key comes out of its safe; with {} stopped, `medchain recovery \
         restore` opens the backups and keeps each key that opens its payload.",
        node.name
    ));
    let config = node.data_dir.join("medchain.toml");
    // A payload of another of its records may still be on its way: the restore then says so
    // and exits 1, and the drill's step 3 is run again (bounded).
    let mut attempts = 0;
    let restored = loop {
        attempts += 1;
        net.script(&["stop", &node.name])?;
        let restored = net.medchain(&[
            "recovery",
            "restore",
            "--config",
            path_str(&config)?,
            "--recovery-key",
            path_str(&recovery_key)?,
        ]);
        // Started again before any error is reported: the testnet stays whole.
        net.script(&["start", &node.name])?;
        match restored {
            Ok(text) => break text,
            Err(e) if attempts < 4 => {
                shown(
                    "medchain recovery restore",
                    format!("{e:#}; fetching, then again"),
                );
                std::thread::sleep(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    };
    shown("medchain recovery restore", restored.trim());
    check(
        restored.contains("data keys restored") && !restored.contains(": 0 data keys restored"),
        "the restore brought data keys back",
    )?;
    let text = until_status(net, node, &record, 200)?;
    check(
        text.contains(&marker),
        format!("{} reads its record again", node.name),
    )?;
    converge(net, Duration::from_secs(60))?;
    Ok(())
}

/// `node`'s listing of its own chain.
fn own_chain(net: &Testnet, node: &Node) -> Result<Value> {
    let chains = net.get_json(node, "/v1/chains")?;
    chains
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["org"] == org(node).as_str())
        .cloned()
        .with_context(|| format!("{} does not list its own chain", node.name))
}

/// Polls (bounded) until `node` holds the sealed payload of `record`'s first version.
fn until_payload_held(net: &Testnet, node: &Node, record: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let history = net.get(node, &format!("/v1/records/{record}/history"))?;
        if history.status == 200
            && history.json()["records"][0]["versions"][0]["payload_held"] == true
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} did not fetch the sealed payload of {record}", node.name);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
