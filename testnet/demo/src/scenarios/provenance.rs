//! Scenario 3 (Figure 5): a record created and amended at one hospital, combined with another
//! hospital's into a derived record at a third; its history as text, DOT and SVG; and an
//! offline proof of the first record (scenario 3c).

use anyhow::{Context, Result};
use serde_json::json;

use super::{check, providers, record_body, say, write};
use medchain_testnet::Testnet;

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
    )?;
    let auditor = net.nodes.iter().find(|n| n.role == "auditor").unwrap_or(c);
    super::offline_proof::offline_proof(net, auditor, &ra, "Hospital 1")
}
