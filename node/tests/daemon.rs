//! The daemon as an operator runs it: `ca init`, `ca issue`, `init`, `run`, then HTTP on loopback,
//! SIGTERM, kill -9, and a store tampered with while the node was stopped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_medchain");

fn medchain(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "medchain {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A provider set up on disk.
struct Setup {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
    token: String,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, member, data) = (
        tmp.path().join("ca"),
        tmp.path().join("a"),
        tmp.path().join("data"),
    );
    medchain(&["ca", "init", "--name", "Test Consortium", "--out", p(&ca)]);
    medchain(&[
        "ca",
        "issue",
        "--ca",
        p(&ca),
        "--role",
        "provider",
        "--org",
        "Hospital A",
        "--out",
        p(&member),
    ]);
    medchain(&[
        "init",
        "--role",
        "provider",
        "--ca",
        p(&ca),
        "--member",
        p(&member),
        "--data-dir",
        p(&data),
        "--api-listen",
        "127.0.0.1:0",
        "--verifier-interval",
        "0",
    ]);
    let token = std::fs::read_to_string(data.join("api.token"))
        .unwrap()
        .trim()
        .to_owned();
    Setup {
        config: data.join("medchain.toml"),
        data,
        token,
        _tmp: tmp,
    }
}

/// A running node; killed on drop.
struct Node {
    child: Child,
    api: String,
    lines: mpsc::Receiver<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon with JSON logs; does not wait for anything.
fn spawn(setup: &Setup) -> Node {
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "run", "--config", p(&setup.config)])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Node {
        child,
        api: String::new(),
        lines,
    }
}

/// Starts the daemon and waits (bounded) until it serves.
fn start(setup: &Setup) -> Node {
    let mut node = spawn(setup);
    node.wait_ready();
    node
}

impl Node {
    /// Waits (bounded) for the "node ready" line and takes the API address from it.
    fn wait_ready(&mut self) {
        let ready = self.wait_for("node ready", Duration::from_secs(30));
        let json: serde_json::Value = serde_json::from_str(&ready).unwrap();
        self.api = json["fields"]["api"].as_str().unwrap().to_owned();
    }

    /// Waits (bounded) for a log line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within {limit:?}"),
            }
        }
    }

    fn http(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.api).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nX-Medchain-Actor: nurse-7\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "node did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn write_record(node: &Node, token: &str, n: u32) -> String {
    let body = format!(
        r#"{{"kind":"create","patient":"MRN-{n}","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = node.http("POST", "/v1/records", token, Some(&body));
    assert_eq!(status, 201, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["record"].as_str().unwrap().to_owned()
}

#[test]
fn serves_records_and_stops_cleanly_on_sigterm() {
    let s = setup();
    let node = start(&s);
    let record = write_record(&node, &s.token, 1);
    let (status, text) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"resourceType\":\"Observation\""), "{text}");
    let (status, _) = node.http("GET", "/v1/chains", "wrong-token", None);
    assert_eq!(status, 401);
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some("{not json"));
    assert_eq!(status, 400, "{text}");
    assert_eq!(node.terminate(), 0);
}

#[test]
fn acknowledged_records_survive_kill_9() {
    let s = setup();
    let mut node = start(&s);
    let records: Vec<String> = (0..5).map(|n| write_record(&node, &s.token, n)).collect();
    node.child.kill().unwrap(); // SIGKILL right after the acknowledgements
    node.child.wait().unwrap();
    drop(node);
    let node = start(&s);
    for record in &records {
        let (status, text) = node.http("GET", &format!("/v1/records/{record}"), &s.token, None);
        assert_eq!(status, 200, "record {record} lost after kill -9: {text}");
    }
    assert_eq!(node.terminate(), 0);
}

#[test]
fn tampering_while_stopped_is_found_at_start() {
    let s = setup();
    let node = start(&s);
    for n in 0..4 {
        write_record(&node, &s.token, n);
    }
    assert_eq!(node.terminate(), 0);

    // The attacker edits the repository while the node is down: height 2 of the only chain.
    {
        let store = medchain_store::Store::open(&s.data.join("store")).unwrap();
        let head = store.heads().unwrap()[0];
        let hash = store.block_hash_at(&head.chain, 2).unwrap().unwrap();
        let mut bytes = store.raw_block_bytes(&hash).unwrap().unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        medchain_store::tamper::overwrite_block_bytes(&store, &hash, &bytes).unwrap();
    }

    let (node, erase) = start_expecting_violation(&s);
    assert!(erase.contains("\"from_height\":2"), "{erase}");
    // Our own chain is quarantined: writing now would equivocate, so writes wait.
    let body = r#"{"kind":"create","patient":"MRN-9","payload":{"resourceType":"Observation"},"actor":"dr-1"}"#;
    let (status, text) = node.http("POST", "/v1/records", &s.token, Some(body));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("being repaired"), "{text}");
    let (_, reports) = node.http("GET", "/v1/verify/reports", &s.token, None);
    assert!(reports.contains("\"height\":2"), "{reports}");
}

/// Starts a node whose start-up scan must report a violation before it is ready; returns it
/// with the "erase completed" log line.
fn start_expecting_violation(s: &Setup) -> (Node, String) {
    let mut node = spawn(s);
    let violation = node.wait_for("integrity violation detected", Duration::from_secs(30));
    assert!(violation.contains("\"height\":2"), "{violation}");
    assert!(
        violation.contains("entries_root_mismatch") || violation.contains("undecodable"),
        "{violation}"
    );
    let erase = node.wait_for("erase completed", Duration::from_secs(10));
    node.wait_ready();
    (node, erase)
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_client_commands_talk_to_the_node() {
    let s = setup();
    let node = start(&s);
    // The node listens on an ephemeral port, so the client is told the address directly
    // (with a fixed api.listen, `--config FILE` alone is enough).
    let api = format!("http://{}", node.api);
    let token = s.data.join("api.token");
    let conn = ["--api", api.as_str(), "--token-file", p(&token)];
    let payload = s.data.join("obs.json");
    std::fs::write(
        &payload,
        r#"{"resourceType":"Observation","status":"final"}"#,
    )
    .unwrap();
    let (code, out, err) = cli(&[
        "record",
        "add",
        conn[0],
        conn[1],
        conn[2],
        conn[3],
        "--patient",
        "MRN-77",
        "--payload",
        p(&payload),
        "--actor",
        "dr-1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let written: serde_json::Value = serde_json::from_str(&out).unwrap();
    let record = written["record"].as_str().unwrap();

    let (code, out, _) = cli(&[
        "record", "get", record, conn[0], conn[1], conn[2], conn[3], "--actor", "nurse-1",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("\"status\": \"final\""), "{out}");
    let (code, out, _) = cli(&[
        "record", "history", record, conn[0], conn[1], conn[2], conn[3], "--actor", "nurse-1",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("record {record} at Hospital A")),
        "{out}"
    );
    let (code, out, _) = cli(&["chain", "list", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0);
    assert!(out.contains("\"org\": \"Hospital A\""), "{out}");
    let (code, out, _) = cli(&["chain", "verify", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&["status", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 0);
    assert!(out.contains("\"role\": \"provider\""), "{out}");
    // Refusals come back with the node's reason and status 1.
    let (code, _, err) = cli(&["peers", conn[0], conn[1], conn[2], conn[3]]);
    assert_eq!(code, 1);
    assert!(err.contains("refused (501)"), "{err}");
    let (code, _, err) = cli(&[
        "record",
        "add",
        conn[0],
        conn[1],
        conn[2],
        conn[3],
        "--kind",
        "amend",
        "--patient",
        "MRN-77",
        "--payload",
        p(&payload),
        "--actor",
        "dr-1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("refused (400)"), "{err}");
    assert!(!err.contains("MRN-77"), "{err}");
    let (code, _, err) = cli(&["status"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(node.terminate(), 0);
}
