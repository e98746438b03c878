//! The paper's scenarios, each a sequence of actions on the running testnet and checks of what
//! the nodes then report. Every check prints what it saw; the first failed check ends the
//! scenario with an error saying what was expected.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use medchain_protocol::BlockHash;
use serde_json::{Value, json};

use crate::forge::{Signer, decode, now_ms, resign_modified, wire};
use crate::testnet::{Node, Testnet, log_lines, log_mark, wait_for};

/// A scenario.
pub type Scenario = fn(&Testnet) -> Result<()>;

fn say(text: impl AsRef<str>) {
    println!("  {}", text.as_ref());
}

fn shown(who: &str, text: impl AsRef<str>) {
    for (i, line) in text.as_ref().lines().enumerate() {
        if i == 0 {
            println!("      {who}: {line}");
        } else {
            println!("      {:width$}  {line}", "", width = who.len());
        }
    }
}

fn check(condition: bool, what: impl AsRef<str>) -> Result<()> {
    if !condition {
        bail!("expected: {}", what.as_ref());
    }
    println!("  ok: {}", what.as_ref());
    Ok(())
}

fn providers(net: &Testnet) -> Vec<&Node> {
    net.nodes.iter().filter(|n| n.role == "provider").collect()
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("the testnet path is not UTF-8")
}

/// Sends `wire` to `node` and checks it is refused with `reason`, logged as a dropped block,
/// and held by no node.
fn expect_refused(
    net: &Testnet,
    node: &Node,
    bytes: Vec<u8>,
    reason: &str,
    chain: &str,
    height: u64,
) -> Result<()> {
    let mark = log_mark(node);
    let answer = net.post_bytes(node, "/v1/blocks", &bytes)?;
    let body = answer.json();
    shown(
        &format!("{} answers {}", node.name, answer.status),
        body.to_string(),
    );
    check(
        answer.status == 422 && body["reason"] == reason,
        format!("{} refuses the block: {reason}", node.name),
    )?;
    let mut logged = Vec::new();
    wait_for("the drop to be logged", Duration::from_secs(5), || {
        logged = log_lines(node, mark, chain);
        Ok(logged
            .iter()
            .any(|l| l["fields"]["message"] == "drop block"))
    })?;
    for line in logged
        .iter()
        .filter(|l| l["fields"]["message"] == "drop block")
    {
        let f = &line["fields"];
        shown(
            &format!("{} log", node.name),
            format!(
                "{} {}: chain={} height={} source={} reason={} detail={}",
                line["level"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or(""),
                short(f["chain"].as_str().unwrap_or("")),
                f["height"],
                f["source"].as_str().unwrap_or(""),
                f["reason"].as_str().unwrap_or(""),
                f["detail"].as_str().unwrap_or("")
            ),
        );
    }
    stored_nowhere(net, chain, height)
}

/// Checks that no node holds a block of `chain` at `from_height` or above, and that no node but
/// the one it was handed to ever heard of it (nothing was forwarded).
fn stored_nowhere(net: &Testnet, chain: &str, from_height: u64) -> Result<()> {
    // Give gossip and anti-entropy time to spread it if anything had let it through.
    std::thread::sleep(Duration::from_millis(1500));
    for node in &net.nodes {
        let blocks = net.get_json(
            node,
            &format!("/v1/chains/{chain}/blocks?from={from_height}&limit=1"),
        )?;
        check(
            blocks.as_array().is_some_and(Vec::is_empty),
            format!(
                "{} holds no block of chain {} from height {from_height}",
                node.name,
                short(chain)
            ),
        )?;
    }
    Ok(())
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

fn record_body(kind: &str, patient: &str, actor: &str, text: &str) -> Value {
    json!({
        "kind": kind,
        "patient": patient,
        "actor": actor,
        "content_type": "application/fhir+json",
        "payload": {"resourceType": "Observation", "status": "final", "code": {"text": text}},
    })
}

/// Writes a record at `node`, answered once every other node holds its block.
fn write(net: &Testnet, node: &Node, body: &Value) -> Result<Value> {
    let peers = net.nodes.len() - 1;
    let answer = net.post_json(
        node,
        &format!("/v1/records?ack=replicated&min={peers}&timeout_ms=30000"),
        body,
    )?;
    if answer.status != 201 {
        bail!(
            "{} refused a write: {} {}",
            node.name,
            answer.status,
            answer.text()
        );
    }
    Ok(answer.json())
}

/// Waits until every node holds the same heads; returns them.
fn converge(net: &Testnet, limit: Duration) -> Result<Vec<String>> {
    let mut heads = Vec::new();
    wait_for("every node to hold the same chains", limit, || {
        let all: Vec<Vec<String>> = net
            .nodes
            .iter()
            .map(|n| net.heads(n))
            .collect::<Result<_>>()?;
        heads = all[0].clone();
        Ok(all.iter().all(|h| *h == heads))
    })?;
    Ok(heads)
}

/// Scenario 1: an outsider with its own CA, a revoked provider and an auditor try to publish.
pub fn outsiders(net: &Testnet) -> Result<()> {
    let h1 = net.node("hospital-1");
    let h2 = net.node("hospital-2");
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
        || {
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
        || {
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
    let original_payload = net.get_json(p[2], &format!("/v1/records/{record}"))?["payload"].clone();
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

    let payload = net.get_json(h2, &format!("/v1/records/{record}"))?["payload"].clone();
    check(
        payload == original_payload,
        format!("{} serves the record's payload exactly as before", h2.name),
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
        || Ok(net.get(node, &path)?.body == original),
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

/// Scenario 3: a record created and amended at A, combined with B's into a derived record at C.
pub fn provenance(net: &Testnet) -> Result<()> {
    let p = providers(net);
    let (a, b, c) = (p[0], p[1], p[2]);
    say(format!(
        "3a. {} creates a record and amends it; {} creates one.",
        a.name, b.name
    ));
    let created = write(
        net,
        a,
        &record_body("create", "DEMO-PATIENT-3", "dr-a", "blood panel"),
    )?;
    let ra = created["record"].as_str().context("no record")?.to_owned();
    let mut amend = record_body("amend", "DEMO-PATIENT-3", "dr-a", "blood panel, corrected");
    amend["record"] = json!(ra);
    amend["parents"] = json!([ra]);
    write(net, a, &amend)?;
    let rb = write(
        net,
        b,
        &record_body("create", "DEMO-PATIENT-3", "dr-b", "imaging report"),
    )?["record"]
        .as_str()
        .context("no record")?
        .to_owned();
    say(format!("3b. {} merges both into a derived record.", c.name));
    let mut merge = record_body("merge", "DEMO-PATIENT-3", "dr-c", "discharge summary");
    merge["parents"] = json!([ra, rb]);
    let rc = write(net, c, &merge)?["record"]
        .as_str()
        .context("no record")?
        .to_owned();
    let text = net
        .get(c, &format!("/v1/records/{rc}/history?format=text"))?
        .text();
    let dot = net
        .get(c, &format!("/v1/records/{rc}/history?format=dot"))?
        .text();
    let svg = net
        .get(c, &format!("/v1/records/{rc}/history?format=svg"))?
        .text();
    let out = net.out_dir()?;
    for (name, body) in [
        ("figure5.txt", &text),
        ("figure5.dot", &dot),
        ("figure5.svg", &svg),
    ] {
        std::fs::write(out.join(name), body).with_context(|| format!("cannot write {name}"))?;
    }
    say(format!("History of the derived record {rc} at {}:", c.name));
    for line in text.lines() {
        say(format!("    {line}"));
    }
    say(format!(
        "Written: {}/figure5.txt, figure5.dot, figure5.svg",
        out.display()
    ));
    check(
        text.starts_with(&format!("record {rc} at Hospital 3")),
        "the tree starts at the derived record at Hospital 3",
    )?;
    check(
        text.contains(&format!("<- {} by merge", &ra[..8.min(ra.len())]))
            || text.contains(&format!("record {ra} at Hospital 1")),
        "it was derived from Hospital 1's record",
    )?;
    check(
        text.contains(&format!("record {ra} at Hospital 1")) && text.contains("amend "),
        "Hospital 1's record shows its create and amend",
    )?;
    check(
        text.contains(&format!("record {rb} at Hospital 2")),
        "Hospital 2's record is a source",
    )?;
    check(
        dot.starts_with("digraph history") && dot.matches("[label=\"merge\"]").count() == 2,
        "DOT has both merge edges",
    )?;
    check(
        svg.starts_with("<svg")
            && svg.matches("<line ").count() == 2
            && svg.trim_end().ends_with("</svg>"),
        "SVG draws three records and two edges",
    )
}

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
        || {
            Ok(net.nodes.iter().all(|n| {
                net.get_json(n, "/v1/evidence").is_ok_and(|e| {
                    e.as_array().into_iter().flatten().any(|e| {
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
    if let Some(item) = evidence
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
    Ok(())
}
