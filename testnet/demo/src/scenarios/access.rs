//! Who reads a sealed record is its author's decision: a grant opens it to one other member
//! (the key travels over the network, wrapped to that member alone), a revoke closes it again
//! (the grantee's node deletes its key), and an erase destroys it for everyone while every
//! chain still verifies.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde_json::json;

use super::{check, say, shown};
use medchain_testnet::{Node, Testnet};

/// The organisation the testnet's CA named in a node's certificate ("hospital-2" is
/// "Hospital 2", "auditor-1" is "Auditor 1").
pub(super) fn org(node: &Node) -> String {
    let mut name = node.name.replacen('-', " ", 1);
    if let Some(first) = name.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    name
}

/// Polls `GET /v1/records/{record}` on `node` until it answers `status` (bounded).
pub(super) fn until_status(
    net: &Testnet,
    node: &Node,
    record: &str,
    status: u16,
) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let answer = net.get(node, &format!("/v1/records/{record}"))?;
        if answer.status == status {
            return Ok(answer.text());
        }
        if Instant::now() > deadline {
            bail!(
                "{} still answers {} for record {record}, not {status}",
                node.name,
                answer.status
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Grant, revoke and erase of `record` (written by `author`, its payload holding `marker`).
pub fn grant_revoke_erase(net: &Testnet, author: &Node, record: &str, marker: &str) -> Result<()> {
    let others: Vec<&Node> = net.nodes.iter().filter(|n| n.name != author.name).collect();
    let Some(grantee) = others.iter().copied().find(|n| n.role == "provider") else {
        say("(one provider only: grants are shown with two or more)");
        return Ok(());
    };
    let grants = format!("/v1/records/{record}/grants");
    say(format!(
        "4c. {} grants {} ({}) read access to the record: an entry on its own chain.",
        author.name,
        grantee.name,
        org(grantee)
    ));
    let body = json!({"to": org(grantee), "actor": "demo-privacy-officer"});
    let granted = net.post_json(author, &grants, &body)?;
    shown(
        &format!("{} answers {}", author.name, granted.status),
        granted.text(),
    );
    check(granted.status == 201, "the grant is written")?;
    let text = until_status(net, grantee, record, 200)?;
    check(
        text.contains(marker),
        format!(
            "{} fetched the key from {} and reads the payload",
            grantee.name, author.name
        ),
    )?;
    for node in others.iter().filter(|n| n.name != grantee.name) {
        let refused = net.get(node, &format!("/v1/records/{record}"))?;
        check(
            refused.status == 403,
            format!("{} still cannot read it (no grant names it)", node.name),
        )?;
    }

    say(format!("4d. {} revokes the grant.", author.name));
    let path = format!("{grants}/{}", org(grantee).replace(' ', "%20"));
    let revoked = net.delete(author, &path)?;
    check(revoked.status == 200, "the revoke is written")?;
    until_status(net, grantee, record, 403)?;
    check(
        true,
        format!("{} deleted its key and is refused again", grantee.name),
    )?;

    say(format!(
        "4e. {} erases the record: every node destroys its keys and the sealed payload.",
        author.name
    ));
    let erased = net.post_json(
        author,
        &format!("/v1/records/{record}/erase"),
        &json!({"actor": "demo-privacy-officer"}),
    )?;
    check(erased.status == 201, "the erase is written")?;
    for node in &net.nodes {
        until_status(net, node, record, 410)?;
        check(true, format!("{} answers 410: erased", node.name))?;
    }
    for node in &net.nodes {
        let report = net
            .post_json_within(node, "/v1/verify", &json!({}), Duration::from_secs(120))?
            .json();
        let clean = report["violations"].as_array().is_some_and(Vec::is_empty)
            && report["missing_payloads"]
                .as_array()
                .is_some_and(Vec::is_empty);
        check(
            clean,
            format!(
                "{}'s chains still verify end to end, the erased payload absent by design",
                node.name
            ),
        )?;
    }
    Ok(())
}
