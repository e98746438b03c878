//! `scripts/bench.sh` end to end at a tiny size, with the debug binaries: every phase runs
//! against a real testnet and the JSON result holds a measured figure for every row. Keeps the
//! benchmark from rotting; the figures themselves are meaningless at this size (debug build).
//! Bounded in time; the script always takes its testnet down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use medchain_testkit::daemon::{build_binaries, wait_bounded};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(600);

#[test]
fn bench_runs_every_phase_and_writes_its_result() {
    let bin_dir = build_binaries(
        env!("CARGO"),
        Path::new(env!("CARGO_BIN_EXE_medchain-bench")),
        &["medchain-node", "medchain-demo", "medchain-bench"],
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let (state, results) = (dir.path().join("net"), dir.path().join("results"));
    let log = dir.path().join("bench.out");
    let mut child = Command::new(repo.join("scripts/bench.sh"))
        .args([
            "--quick",
            "--seconds",
            "2",
            "--concurrency",
            "4",
            "--batch",
            "16",
        ])
        .args(["--catch-up-records", "3000", "--corrupt-blocks", "3"])
        .env("MEDCHAIN_BENCH_DIR", &state)
        .env("MEDCHAIN_BENCH_RESULTS", &results)
        .env("MEDCHAIN_BIN_DIR", &bin_dir)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ok = wait_bounded(&mut child, LIMIT);
    if !ok {
        // A killed script skips its trap: take its testnet down here.
        let _ = Command::new(repo.join("scripts/testnet.sh"))
            .arg("down")
            .env("MEDCHAIN_TESTNET_DIR", &state)
            .env("MEDCHAIN_BIN_DIR", &bin_dir)
            .output();
    }
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ok, "bench failed or timed out:\n{out}");
    assert!(out.contains("records committed on every node"), "{out}");

    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("latest.json")).unwrap())
            .unwrap();
    let rows = result["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 7, "{result}");
    for row in rows {
        let measured = row["measured"].as_f64().unwrap();
        assert!(measured.is_finite() && measured > 0.0, "{row}");
    }
    assert!(result["throughput"]["records"].as_u64().unwrap() > 0);
    assert!(result["latency"]["requests"].as_u64().unwrap() > 0);
    // The auditor fetched everything written: at least the fill target, by its own count.
    assert!(
        result["catch_up"]["records"].as_u64().unwrap() >= 3000,
        "{result}"
    );
    assert!(
        result["verifier"]["blocks"].as_u64().unwrap() > 0,
        "{result}"
    );
    assert_eq!(result["repair"]["blocks"], 3);
    assert_eq!(result["memory"].as_array().unwrap().len(), 4);
    for p in [
        "ed25519_verifies_per_s",
        "blake3_records_per_s",
        "sled_inserts_per_s",
    ] {
        assert!(result["primitives"][p].as_f64().unwrap() > 0.0, "{p}");
    }
    // The peer side by side: every batch size, both rates, their ratio.
    for batch in [1, 64, 256] {
        let peer = &result["peers"][format!("batch_{batch}")];
        assert_eq!(peer["batch"], batch, "{result}");
        let (medchain, hypercore) = (
            peer["medchain_entries_per_s"].as_f64().unwrap(),
            peer["hypercore_entries_per_s"].as_f64().unwrap(),
        );
        assert!(medchain > 0.0 && hypercore > 0.0, "{peer}");
        let ratio = peer["ratio"].as_f64().unwrap();
        assert!(
            (ratio - medchain / hypercore).abs() < 1e-6 * ratio,
            "{peer}"
        );
    }
    // Nothing of the testnet is left running.
    let status = Command::new(repo.join("scripts/testnet.sh"))
        .args(["status", "--json"])
        .env("MEDCHAIN_TESTNET_DIR", &state)
        .env("MEDCHAIN_BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    let nodes: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["running"] == false),
        "{nodes}"
    );
}
