//! medchain-demo: runs the paper's Table 1 against a running local testnet and prints what every
//! node reports at each step.
//!
//! Scenario 1 (Figure 3): blocks from an outsider's own CA, from a revoked provider and from an
//! auditor are refused with their reasons and stored nowhere. Scenario 2 (Figure 4): a stopped
//! node's store is altered on disk; on restart the verifier finds it, quarantines the range and
//! restores it from peers. Scenario 3 (Figure 5): a record's history across three hospitals, as a
//! text tree, DOT and SVG. Figure 1: an insider re-signs a modified block; every node keeps the
//! original and holds the evidence. Scenario 4 (the paper's closing remark on confidentiality): a
//! payload is sealed by its author; the other nodes hold it and cannot read it; no node's files
//! hold its plaintext.
//!
//! Started by `scripts/testnet.sh demo`; exits 0 only if every check passed.

mod forge;
mod scenarios;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Runs the paper's scenarios against a running testnet.
#[derive(Debug, Parser)]
#[command(name = "medchain-demo", version)]
struct Args {
    /// The testnet's state directory (written by `scripts/testnet.sh up`).
    #[arg(long, default_value = "testnet/run/net")]
    testnet: PathBuf,
    /// The testnet script (used to stop and start a node).
    #[arg(long, default_value = "scripts/testnet.sh")]
    script: PathBuf,
    /// The medchain binary.
    #[arg(long, default_value = "target/release/medchain")]
    medchain: PathBuf,
    /// Run only these scenarios (1, 2, 3, fig1, 4, 5); all by default.
    #[arg(long = "only")]
    only: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let net = match medchain_testnet::Testnet::load(&args.testnet, &args.script, &args.medchain)
        .and_then(|net| net.require(3, 1).map(|()| net))
    {
        Ok(net) => net,
        Err(e) => {
            eprintln!("demo: {e:#}");
            return ExitCode::from(2);
        }
    };
    let all: [(&str, &str, scenarios::Scenario); 6] = [
        (
            "1",
            "Scenario 1 (Figure 3): blocks from outside the consortium",
            scenarios::outsiders,
        ),
        (
            "2",
            "Scenario 2 (Figure 4): a repository altered on disk",
            scenarios::tampered_store,
        ),
        (
            "3",
            "Scenario 3 (Figure 5): provenance across hospitals",
            scenarios::provenance,
        ),
        (
            "fig1",
            "Figure 1: an insider re-signs a modified block",
            scenarios::insider,
        ),
        (
            "4",
            "Confidentiality: payloads sealed, readable by their author only, on no disk in plaintext",
            scenarios::confidential,
        ),
        (
            "5",
            "The key backup drill: a hospital loses its data directory and reads its records again",
            scenarios::backup_drill,
        ),
    ];
    let mut results = Vec::new();
    for (id, title, run) in all {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == id) {
            continue;
        }
        println!("\n=== {title} ===");
        let outcome = run(&net);
        match &outcome {
            Ok(()) => println!("--- PASSED: {title}"),
            Err(e) => println!("--- FAILED: {title}\n    {e:#}"),
        }
        results.push((title, outcome.is_ok()));
    }
    println!("\n=== Summary ===");
    for (title, ok) in &results {
        println!("  {}  {title}", if *ok { "passed" } else { "FAILED" });
    }
    if results.iter().all(|(_, ok)| *ok) {
        println!("all scenarios passed");
        ExitCode::SUCCESS
    } else {
        println!("some scenarios FAILED");
        ExitCode::FAILURE
    }
}
