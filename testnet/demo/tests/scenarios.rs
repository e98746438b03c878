//! The paper's scenarios end to end, as a user runs them: `scripts/testnet.sh up` starts a
//! consortium of 3 providers and 1 auditor as separate processes, `scripts/testnet.sh demo` runs
//! Table 1 and Figure 1 against it, and this test then asks the nodes itself what they hold.
//! Bounded in time; the testnet is always taken down (by the PIDs the script wrote).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use medchain_testkit::daemon::{build_binaries, wait_bounded};
use medchain_testnet::Testnet;
use serde_json::Value;

const DEMO_LIMIT: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory of this build's `medchain` and `medchain-demo`, built once for this test.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        build_binaries(
            env!("CARGO"),
            Path::new(env!("CARGO_BIN_EXE_medchain-demo")),
            &["medchain-node", "medchain-demo"],
        )
    })
}

/// Runs the testnet script with the test's state directory and debug binaries.
fn script(state: &Path, args: &[&str], limit: Duration) -> (bool, String) {
    let bin_dir = bin_dir();
    // Beside the state directory: `up` recreates that one.
    let out = state.with_extension(format!("{}.out", args[0]));
    let mut child = Command::new(repo().join("scripts/testnet.sh"))
        .args(args)
        .env("MEDCHAIN_TESTNET_DIR", state)
        .env("MEDCHAIN_BIN_DIR", bin_dir)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let ok = wait_bounded(&mut child, limit);
    (ok, std::fs::read_to_string(out).unwrap_or_default())
}

/// Takes the testnet down however the test ends.
struct Down(PathBuf);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = script(&self.0, &["down"], Duration::from_secs(90));
    }
}

#[test]
fn testnet_demo_passes_every_scenario() {
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("net");
    let _down = Down(state.clone());

    let (ok, out) = script(&state, &["up"], Duration::from_secs(180));
    assert!(ok, "testnet up failed:\n{out}");
    serves_https_only(&state);
    let (ok, out) = script(&state, &["demo"], DEMO_LIMIT);
    println!("{out}");
    assert!(ok, "the demo failed:\n{out}");
    for title in [
        "--- PASSED: Scenario 1 (Figure 3)",
        "--- PASSED: Scenario 2 (Figure 4)",
        "--- PASSED: Scenario 3 (Figure 5)",
        "--- PASSED: Figure 1",
        "--- PASSED: Confidentiality",
        "--- PASSED: The key backup drill",
        "ok: the proof is valid offline and names Hospital 1 as its signer",
        "ok: with one byte of the entry changed, it is invalid (exit 1)",
        "all scenarios passed",
    ] {
        assert!(out.contains(title), "missing {title:?} in:\n{out}");
    }

    // What the nodes themselves now report.
    let bin_dir = bin_dir();
    let net = Testnet::load(
        &state,
        &repo().join("scripts/testnet.sh"),
        &bin_dir.join("medchain"),
    )
    .unwrap();
    assert_eq!(net.nodes.len(), 4);
    let get = |node, path| net.get_json(node, path).unwrap();
    let heads: Vec<Value> = net.nodes.iter().map(|n| get(n, "/v1/chains")).collect();
    for node in &net.nodes {
        let (name, api) = (&node.name, node);
        // Figure 1: every node holds the equivocation evidence against Hospital 1.
        let evidence = get(api, "/v1/evidence");
        let evidence = evidence["evidence"].as_array().unwrap();
        assert_eq!(evidence.len(), 1, "{name}: {evidence:?}");
        assert_eq!(evidence[0]["org"], "Hospital 1");
        // Scenario 1: the outsider's and the auditor's chains are held nowhere; Hospital 9's
        // pre-revocation block is, and nothing after it.
        let chains = get(api, "/v1/chains");
        let orgs: Vec<&str> = chains
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["org"].as_str())
            .collect();
        assert!(!orgs.contains(&"Outsider Clinic"), "{name}: {orgs:?}");
        assert!(!orgs.contains(&"Auditor 1"), "{name}: {orgs:?}");
        let nine = chains
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["org"] == "Hospital 9")
            .unwrap_or_else(|| panic!("{name} lacks Hospital 9's chain"));
        assert_eq!(nine["height"], 0);
    }
    // Scenario 2: the repaired node holds exactly what the others hold.
    assert!(
        heads.windows(2).all(|w| {
            let strip = |v: &Value| {
                let mut v: Vec<(String, String)> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| (c["chain"].to_string(), c["hash"].to_string()))
                    .collect();
                v.sort();
                v
            };
            strip(&w[0]) == strip(&w[1])
        }),
        "heads differ: {heads:?}"
    );
    // Hospital 2 reported both attacks in its log: the rewritten block at its chain and height,
    // then the corrupted store files (its store was refused, kept aside and rebuilt from peers;
    // the verifier reports kept in the old store went aside with it).
    let log = std::fs::read_to_string(state.join("nodes/hospital-2/node.log")).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "integrity violation detected"
                && l["fields"]["kind"] == "entries_root_mismatch"),
        "hospital-2 never reported the tampered block"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("chain restored from peers"))),
        "hospital-2 never confirmed a restore"
    );
    let aside = std::fs::read_dir(state.join("nodes/hospital-2/data"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("store.unopenable-")
        });
    let second_violation = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "integrity violation detected")
        .count()
        > 1;
    assert!(
        aside || second_violation,
        "the raw corruption of hospital-2's store files went unnoticed"
    );
    // Scenario 3: the history files were written.
    let svg = std::fs::read_to_string(state.join("demo/figure5.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Hospital 3"));
    assert!(state.join("demo/figure5.dot").exists());
}

/// Every node's API is https, with the testnet's API CA: the CLI reaches it trusting that CA,
/// fails to trusting only the web PKI, and plain HTTP gets no answer.
fn serves_https_only(state: &Path) {
    let (ok, out) = script(state, &["status", "--json"], Duration::from_secs(30));
    assert!(ok, "{out}");
    let nodes: Value = serde_json::from_str(&out).unwrap();
    let node = &nodes.as_array().unwrap()[0];
    let api = node["api"].as_str().unwrap();
    let ca = Path::new(node["api_ca"].as_str().unwrap());
    assert!(api.starts_with("https://127.0.0.1:"), "{node}");
    assert!(ca.is_absolute() && ca.is_file(), "{node}");
    let token = Path::new(node["data_dir"].as_str().unwrap()).join("api.token");
    let status = |extra: &[&str]| {
        Command::new(bin_dir().join("medchain"))
            .args(["status", "--api", api, "--token-file"])
            .arg(&token)
            .args(extra)
            .output()
            .unwrap()
    };
    let trusted = status(&["--api-ca", ca.to_str().unwrap()]);
    assert!(trusted.status.success(), "{trusted:?}");
    let untrusted = status(&[]);
    assert_eq!(untrusted.status.code(), Some(2), "{untrusted:?}");
    // Plain HTTP on the TLS port: the handshake fails and no HTTP answer comes back.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(api.trim_start_matches("https://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
}
