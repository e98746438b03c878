//! `medchain` daemons run as an operator runs them: a consortium on disk made with the CLI,
//! nodes started as processes with JSON logs, HTTP calls on loopback, bounded waits, and
//! cleanup on drop. The binary is given (cargo names it only to the node package's own tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs the `medchain` binary at `bin` with `args`; panics unless it succeeds; answers what it
/// printed.
pub fn medchain(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "medchain {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `path` as text (test paths are UTF-8).
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A node set up on disk.
pub struct Setup {
    _tmp: Option<tempfile::TempDir>,
    /// The `medchain` binary it runs.
    pub bin: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    /// Its data directory.
    pub data: PathBuf,
    /// Its API token.
    pub token: String,
}

/// A consortium CA in a temporary directory.
pub struct Ca {
    /// The `medchain` binary.
    pub bin: PathBuf,
    /// The temporary directory holding the CA and its members' nodes.
    pub tmp: tempfile::TempDir,
    /// The CA's directory.
    pub dir: PathBuf,
}

impl Ca {
    /// A consortium CA made by `medchain ca init` (the binary at `bin`).
    pub fn new(bin: impl AsRef<Path>) -> Self {
        let bin = bin.as_ref().to_path_buf();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        medchain(
            &bin,
            &["ca", "init", "--name", "Test Consortium", "--out", p(&dir)],
        );
        Self { bin, tmp, dir }
    }

    /// Issues a member of `role` and `org` with `medchain ca issue` into NAME-member under the
    /// temporary directory; answers that directory.
    pub fn member(&self, name: &str, role: &str, org: &str) -> PathBuf {
        let member = self.tmp.path().join(format!("{name}-member"));
        medchain(
            &self.bin,
            &[
                "ca",
                "issue",
                "--ca",
                p(&self.dir),
                "--role",
                role,
                "--org",
                org,
                "--out",
                p(&member),
            ],
        );
        member
    }

    /// Issues a member and writes its node configuration (ephemeral ports, bootstrap peers), its
    /// API on plain HTTP (the daemon tests speak plain HTTP on loopback).
    pub fn node(&self, name: &str, role: &str, org: &str, bootstrap: &[String]) -> Setup {
        self.node_with(name, role, org, bootstrap, &["--api-plain-http"])
    }

    /// As [`Ca::node`], with `api` as the API's TLS arguments of `medchain init`.
    pub fn node_with(
        &self,
        name: &str,
        role: &str,
        org: &str,
        bootstrap: &[String],
        api: &[&str],
    ) -> Setup {
        let member = self.member(name, role, org);
        let data = self.tmp.path().join(name);
        let mut args = vec![
            "init".to_owned(),
            "--role".into(),
            role.into(),
            "--ca".into(),
            p(&self.dir).into(),
            "--member".into(),
            p(&member).into(),
            "--data-dir".into(),
            p(&data).into(),
            "--api-listen".into(),
            "127.0.0.1:0".into(),
            "--verifier-interval".into(),
            "0".into(),
            "--p2p-listen".into(),
            "/ip4/127.0.0.1/tcp/0".into(),
        ];
        for peer in bootstrap {
            args.push("--bootstrap".into());
            args.push(peer.clone());
        }
        args.extend(api.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        medchain(&self.bin, &args);
        let token = std::fs::read_to_string(data.join("api.token"))
            .unwrap()
            .trim()
            .to_owned();
        Setup {
            _tmp: None,
            bin: self.bin.clone(),
            config: data.join("medchain.toml"),
            data,
            token,
        }
    }
}

/// One provider in its own consortium (the binary at `bin`).
pub fn setup(bin: impl AsRef<Path>) -> Setup {
    let ca = Ca::new(bin);
    let mut setup = ca.node("a", "provider", "Hospital A", &[]);
    setup._tmp = Some(ca.tmp);
    setup
}

/// A running node; killed on drop.
pub struct Node {
    /// Its process.
    pub child: Child,
    /// Its API address (after [`Node::wait_ready`]).
    pub api: String,
    /// Its p2p address with its peer ID (after [`Node::wait_ready`]).
    pub p2p: String,
    /// Its log lines as they come.
    pub lines: mpsc::Receiver<String>,
    /// Every log line received so far, so a wait never loses a line another wait read.
    pub seen: Vec<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the daemon with JSON logs; does not wait for anything.
pub fn spawn(setup: &Setup) -> Node {
    let mut child = Command::new(&setup.bin)
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
        p2p: String::new(),
        lines,
        seen: Vec::new(),
    }
}

/// Starts the daemon and waits (bounded) until it serves.
pub fn start(setup: &Setup) -> Node {
    let mut node = spawn(setup);
    node.wait_ready();
    node
}

impl Node {
    /// Waits (bounded) for the "node ready" line and takes the API address from it.
    pub fn wait_ready(&mut self) {
        // "network started", "p2p listening" and "node ready" come in any order.
        let peer_id = self.field_of("network started", "peer_id");
        let address = self.field_of("p2p listening", "address");
        self.api = self.field_of("node ready", "api");
        self.p2p = format!("{address}/p2p/{peer_id}");
    }

    /// A field of the first log line whose message is `message` (waiting for it, bounded).
    fn field_of(&mut self, message: &str, field: &str) -> String {
        let line = self.wait_for(message, Duration::from_secs(30));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        json["fields"][field].as_str().unwrap().to_owned()
    }

    /// Waits (bounded) for a log line containing `needle` (or finds one already received).
    pub fn wait_for(&mut self, needle: &str, limit: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let tail = self.seen[self.seen.len().saturating_sub(40)..].join("\n");
                    panic!("no log line with {needle:?} within {limit:?}; last lines:\n{tail}")
                }
            }
        }
    }

    /// One HTTP/1.1 request on loopback with the token and an actor header.
    pub fn http(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
        http_to(
            &self.api,
            Duration::from_secs(10),
            method,
            path,
            token,
            body,
        )
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(mut self) -> i32 {
        self.stop()
    }

    /// Sends SIGTERM, waits (bounded: 15 s) for the exit status, and returns it with every log
    /// line the node wrote (those already read and the rest up to its end).
    pub fn terminate_with_log(&mut self) -> (i32, Vec<String>) {
        let code = self.stop();
        let mut lines = std::mem::take(&mut self.seen);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (code, lines)
    }

    fn stop(&mut self) -> i32 {
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

/// Waits for `child` up to `limit`; on time-out (or if it cannot be waited for) kills it.
/// Whether it exited successfully.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() <= limit => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

impl Node {
    /// Waits (bounded: 60 s) until this node's writes are no longer paused: its peers have
    /// confirmed its chain's head (for a new node: that none of them holds its chain).
    pub fn writable(&self, token: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, text) = self.http("GET", "/v1/status", token, None);
            if status == 200 && text.contains("\"writes_paused\":null") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "writes still paused after 60 s: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A node with no peer can never have its head confirmed: the operator lifts the pause by
    /// hand (as docs/operations.md's runbook says a single node's operator must).
    pub fn resume_alone(&self, token: &str) {
        let body =
            r#"{"actor":"test-operator","reason":"a single node: no peer to confirm its head"}"#;
        let (status, text) = self.http("POST", "/v1/admin/writes/resume", token, Some(body));
        assert_eq!(status, 200, "{text}");
    }
}

/// One HTTP/1.1 request to `api` on loopback with the token and an actor header, waiting at
/// most `limit` for the answer (usable from any thread, without the node itself).
pub fn http_to(
    api: &str,
    limit: Duration,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(api).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nX-Medchain-Actor: nurse-7\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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

/// Builds the workspace's `packages` with `cargo` (the test's own `env!("CARGO")`) in the
/// profile of `tool` (a test's `env!("CARGO_BIN_EXE_...")`) and answers the directory their
/// binaries share with it. Cargo builds only a package's own binaries for its tests; a tool's
/// end-to-end test also needs the node's (and the testnet script the demo's), built from the
/// same sources: a binary left over from an older build would test the wrong code. When the
/// whole workspace was just built this costs a moment.
pub fn build_binaries(cargo: &str, tool: &Path, packages: &[&str]) -> PathBuf {
    let dir = tool.parent().unwrap().to_path_buf();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--locked", "--quiet", "--bins"]);
    if dir.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    let status = command.status().unwrap();
    assert!(status.success(), "cargo build of {packages:?} failed");
    for package in packages {
        let binary = match *package {
            "medchain-node" => "medchain",
            other => other,
        };
        assert!(
            dir.join(binary).is_file(),
            "{binary} is not beside {}",
            tool.display()
        );
    }
    dir
}
