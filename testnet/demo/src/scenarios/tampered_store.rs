//! Scenario 2 (Figure 4): a stopped provider's repository is altered on disk, by the maintenance
//! tool and by raw byte corruption; on restart it finds the damage and restores from peers.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{check, converge, path_str, providers, record_body, say, short, shown, write};
use crate::forge::decode;
use medchain_testnet::{Node, Testnet, log_lines, log_mark, wait_for};

/// Scenario 2: a provider's repository is altered while it is stopped; it finds and repairs it.
pub fn tampered_store(net: &Testnet) -> Result<()> {
    let p = providers(net);
    let (h1, h2) = (p[0], p[1]);
    say(format!(
        "2a. {} writes three records; every node holds them.",
        h1.name
    ));
    let mut written = Vec::new();
    for i in 1..=3 {
        written.push(write(
            net,
            h1,
            &record_body(
                "create",
                "DEMO-PATIENT-2",
                "dr-demo",
                &format!("lab result {i}"),
            ),
        )?);
    }
    let chain = written[1]["entry"]["chain"]
        .as_str()
        .context("no chain in the answer")?
        .to_owned();
    let height = written[1]["entry"]["height"]
        .as_u64()
        .context("no height in the answer")?;
    let record = written[1]["record"]
        .as_str()
        .context("no record")?
        .to_owned();
    converge(net, Duration::from_secs(30))?;
    let original = net
        .get(h1, &format!("/v1/chains/{chain}/blocks/{height}/wire"))?
        .body;
    // Only the author holds the record's data key; every other node holds its sealed payload.
    let original_payload = net.get_json(h1, &format!("/v1/records/{record}"))?["payload"].clone();
    check(
        !original.is_empty(),
        format!(
            "block {height} of {}'s chain {} is on every node",
            h1.name,
            short(&chain)
        ),
    )?;

    say(format!(
        "2b. {} is stopped and its stored copy of that block is rewritten on disk.",
        h2.name
    ));
    net.script(&["stop", &h2.name])?;
    let data = path_str(&h2.data_dir)?;
    let tampered = net.medchain(&[
        "maintenance",
        "tamper-block",
        "--data-dir",
        data,
        "--chain",
        &chain,
        "--height",
        &height.to_string(),
    ])?;
    shown("medchain maintenance tamper-block", tampered.trim());
    restart_and_repair(net, h2, &chain, height, &original, Some(height))?;

    say(format!(
        "2c. {} is stopped again and bytes of its store files are corrupted directly.",
        h2.name
    ));
    net.script(&["stop", &h2.name])?;
    let corrupted =
        corrupt_store_files(&h2.data_dir.join("store"), &decode(&original)?.signature.0)?;
    shown("raw corruption", corrupted);
    restart_and_repair(net, h2, &chain, height, &original, None)?;

    let refused = net.get(h2, &format!("/v1/records/{record}"))?;
    check(
        refused.status == 403,
        format!(
            "{} holds the record's sealed payload again, and no key to read it (answers {})",
            h2.name, refused.status
        ),
    )?;
    let payload = net.get_json(h1, &format!("/v1/records/{record}"))?["payload"].clone();
    check(
        payload == original_payload,
        format!(
            "{} (its author) reads the record's payload exactly as before",
            h1.name
        ),
    )?;
    let heads = converge(net, Duration::from_secs(60))?;
    say("Chains held by every node (chain height head-hash):");
    for line in heads {
        say(format!("    {line}"));
    }
    check(true, "every node holds identical chains")
}

/// Starts `node` after its store was damaged and waits until it is repaired and identical to
/// its peers. `expect_height`: the violation the verifier must report.
fn restart_and_repair(
    net: &Testnet,
    node: &Node,
    chain: &str,
    height: u64,
    original: &[u8],
    expect_height: Option<u64>,
) -> Result<()> {
    let mark = log_mark(node);
    net.script(&["start", &node.name])?;
    let findings: Vec<Value> = log_lines(node, mark, "")
        .into_iter()
        .filter(|l| l["level"] == "ERROR" || l["level"] == "WARN")
        .collect();
    for line in &findings {
        let f = &line["fields"];
        let mut text = format!(
            "{} {}",
            line["level"].as_str().unwrap_or(""),
            f["message"].as_str().unwrap_or("")
        );
        for key in [
            "chain",
            "height",
            "from_height",
            "to_height",
            "kind",
            "detail",
            "reason",
            "kept",
        ] {
            if let Some(v) = f.get(key) {
                let v = v.as_str().map_or_else(
                    || v.to_string(),
                    |s| {
                        if key == "chain" {
                            short(s).to_owned()
                        } else {
                            s.to_owned()
                        }
                    },
                );
                text.push_str(&format!(" {key}={v}"));
            }
        }
        shown(&format!("{} log", node.name), text);
    }
    match expect_height {
        Some(h) => check(
            findings.iter().any(|l| {
                l["fields"]["message"] == "integrity violation detected"
                    && l["fields"]["chain"] == chain
                    && l["fields"]["height"] == h
            }),
            format!(
                "the verifier reports the violation at chain {} height {h}",
                short(chain)
            ),
        )?,
        None => check(
            !findings.is_empty(),
            "the node reports the damage at start (violation found, or store refused and rebuilt)",
        )?,
    }
    let path = format!("/v1/chains/{chain}/blocks/{height}/wire");
    wait_for(
        "the block to be restored from peers",
        Duration::from_secs(60),
        || -> Result<bool> { Ok(net.get(node, &path)?.body == original) },
    )?;
    check(
        true,
        format!(
            "{} holds block {height} byte-identical to its peers again",
            node.name
        ),
    )?;
    converge(net, Duration::from_secs(60))?;
    let report = net.post_json(node, "/v1/verify", &json!({}))?.json();
    check(
        report["violations"].as_array().is_some_and(Vec::is_empty),
        format!(
            "a fresh scan of {} is clean ({} blocks, {} entries)",
            node.name, report["blocks"], report["entries"]
        ),
    )?;
    // A restarted node signs nothing until its peers confirm its own chain's head: signing a
    // height they hold would fork it (the pause is in its status and its log).
    wait_for(
        "writes to resume once peers confirm the node's head",
        Duration::from_secs(60),
        || -> Result<bool> { Ok(net.get_json(node, "/v1/status")?["writes_paused"].is_null()) },
    )?;
    let paused = !log_lines(node, mark, "writes paused until").is_empty();
    let resumed = !log_lines(node, mark, "writes resume").is_empty();
    check(
        !paused || resumed,
        if paused {
            format!(
                "{} paused its writes at start and resumed them once its peers confirmed its head",
                node.name
            )
        } else {
            format!(
                "{} writes (it never had a chain of its own, so nothing of it can be signed twice)",
                node.name
            )
        },
    )
}

/// Flips one byte inside every stored copy of `needle` (a block's signature) in the store's
/// files; if none is found (the store may hold it compressed or split), flips a byte in the
/// middle of the largest file.
fn corrupt_store_files(store: &Path, needle: &[u8]) -> Result<String> {
    let mut files = Vec::new();
    collect_files(store, &mut files)?;
    let mut report = Vec::new();
    for file in &files {
        let mut bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut hits = 0;
        let mut at = 0;
        while let Some(pos) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
            let offset = at + pos + needle.len() / 2;
            bytes[offset] ^= 0xff;
            hits += 1;
            at = offset + 1;
            report.push(format!("flipped byte {offset} of {}", file.display()));
        }
        if hits > 0 {
            std::fs::write(file, &bytes)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
    }
    if report.is_empty() {
        let largest = files
            .iter()
            .max_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .context("the store has no files")?;
        let mut bytes = std::fs::read(largest)?;
        let offset = bytes.len() / 2;
        for b in bytes.iter_mut().skip(offset).take(16) {
            *b ^= 0xff;
        }
        std::fs::write(largest, &bytes)?;
        report.push(format!(
            "flipped 16 bytes at offset {offset} of {}",
            largest.display()
        ));
    }
    Ok(report.join("\n"))
}

fn collect_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
