//! The paper's scenarios, each a sequence of actions on the running testnet and checks of what
//! the nodes then report. Every check prints what it saw; the first failed check ends the
//! scenario with an error saying what was expected.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use medchain_testnet::{Node, Testnet, log_lines, log_mark, wait_for};

mod access;
mod backup_drill;
mod confidential;
mod insider;
mod offline_proof;
mod outsiders;
mod provenance;
mod tampered_store;

pub use backup_drill::backup_drill;
pub use confidential::confidential;
pub use insider::insider;
pub use outsiders::outsiders;
pub use provenance::provenance;
pub use tampered_store::tampered_store;

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
    wait_for(
        "the drop to be logged",
        Duration::from_secs(5),
        || -> Result<bool> {
            logged = log_lines(node, mark, chain);
            Ok(logged
                .iter()
                .any(|l| l["fields"]["message"] == "drop block"))
        },
    )?;
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
    wait_for(
        "every node to hold the same chains",
        limit,
        || -> Result<bool> {
            let all: Vec<Vec<String>> = net
                .nodes
                .iter()
                .map(|n| net.heads(n))
                .collect::<Result<_, _>>()?;
            heads = all[0].clone();
            Ok(all.iter().all(|h| *h == heads))
        },
    )?;
    Ok(heads)
}
