//! Confidentiality (the paper's closing remark: "it is necessary to apply encryption storage and
//! network"): a record's payload is sealed by the hospital that writes it. Every node holds and
//! verifies the sealed bytes; only the author reads them, and whom it grants access, until it
//! revokes or erases; no node's files hold the plaintext.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{check, converge, providers, record_body, say, shown, write};
use medchain_testnet::Testnet;

/// Scenario: a payload with a unique marker is written at one hospital; the others and the
/// auditor hold it sealed and cannot read it; its text is in no file of any data directory.
pub fn confidential(net: &Testnet) -> Result<()> {
    let h1 = providers(net)[0];
    let marker = format!("CONFIDENTIAL-{}", std::process::id());
    say(format!(
        "4a. {} writes a record whose payload holds the text {marker}.",
        h1.name
    ));
    let written = write(
        net,
        h1,
        &record_body("create", "DEMO-PATIENT-4", "dr-demo", &marker),
    )?;
    let record = written["record"]
        .as_str()
        .context("no record in the answer")?
        .to_owned();
    converge(net, Duration::from_secs(30))?;

    say("4b. Every node holds the record and its sealed payload; only its author reads it.");
    let read = net.get(h1, &format!("/v1/records/{record}"))?;
    check(
        read.status == 200 && read.text().contains(&marker),
        format!("{} (the author) reads the payload", h1.name),
    )?;
    for node in net.nodes.iter().filter(|n| n.name != h1.name) {
        let history = net.get_json(node, &format!("/v1/records/{record}/history"))?;
        let held = history["records"][0]["versions"][0]["payload_held"] == true;
        check(
            held,
            format!("{} holds the sealed payload (and verifies it)", node.name),
        )?;
        let refused = net.get(node, &format!("/v1/records/{record}"))?;
        shown(
            &format!("{} answers {}", node.name, refused.status),
            refused.json()["error"].as_str().unwrap_or_default(),
        );
        check(
            refused.status == 403,
            format!("{} cannot read it: it holds no key", node.name),
        )?;
    }

    super::access::grant_revoke_erase(net, h1, &record, &marker)?;

    say(
        "4f. Every node is stopped in turn; its data directory and its log are searched for the marker.",
    );
    for node in &net.nodes {
        net.script(&["stop", &node.name])?;
        let searched = files_holding(&node.data_dir, marker.as_bytes());
        // Started again before any error is reported: the testnet stays whole.
        net.script(&["start", &node.name])?;
        let mut found = searched?;
        let log = std::fs::read(&node.log).unwrap_or_default();
        if log.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            found.push(node.log.display().to_string());
        }
        check(
            found.is_empty(),
            format!(
                "no file of {}'s data directory, nor its log, holds the plaintext{}",
                node.name,
                if found.is_empty() {
                    String::new()
                } else {
                    format!(" (found in {found:?})")
                }
            ),
        )?;
    }
    converge(net, Duration::from_secs(60))?;
    Ok(())
}

/// The files under `dir` that contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(path.display().to_string());
                }
            }
        }
    }
    Ok(found)
}
