//! A running local testnet as the demo and the benchmark see it: the nodes `scripts/testnet.sh`
//! wrote under its state directory, their APIs (with their tokens), their logs and PIDs, and
//! stopping/starting them through the script (which alone signals them).
//!
//! The library of the local-network tools: `medchain-demo`, `medchain-bench` and
//! `medchain-chaos` read the testnet through it. Errors are [`TestnetError`]; the tools, being
//! binaries, wrap them in `anyhow`.

mod api_tls;
mod error;
mod process;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

pub use api_tls::agent;
pub use error::TestnetError;
pub use process::{log_lines, log_mark, run_medchain, wait_for};

/// What this library's calls return.
pub type Result<T, E = TestnetError> = std::result::Result<T, E>;

/// One node of the testnet.
pub struct Node {
    /// hospital-N or auditor-N.
    pub name: String,
    /// provider or auditor.
    pub role: String,
    /// https://127.0.0.1:PORT (http:// for a node serving plain HTTP)
    pub api: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its member directory (certificate and key).
    pub member_dir: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Its PID file (written by the script).
    pub pid_file: PathBuf,
    /// Whether it backs its data keys up to a recovery key (`[keys] recovery_public`).
    pub key_backups: bool,
    token: String,
}

impl Node {
    /// The bearer token of its API.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The PID of its running process, if the script recorded one.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (null if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The testnet.
pub struct Testnet {
    /// Its state directory (testnet/run/net by default).
    pub root: PathBuf,
    /// The testnet script.
    pub script: PathBuf,
    /// The medchain binary.
    pub medchain: PathBuf,
    /// Every node, providers first.
    pub nodes: Vec<Node>,
    agent: ureq::Agent,
}

impl Testnet {
    /// Reads the testnet the script wrote under `root`.
    pub fn load(root: &Path, script: &Path, medchain: &Path) -> Result<Self> {
        let mut nodes = Vec::new();
        let mut cas: Vec<PathBuf> = Vec::new();
        let dir = root.join("nodes");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|source| TestnetError::NoTestnet {
                dir: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort_by_key(|n| (n.starts_with("auditor"), n.clone()));
        for name in names {
            let node_dir = dir.join(&name);
            let read = |file: &Path| -> Result<String> {
                Ok(std::fs::read_to_string(node_dir.join(file))
                    .map_err(|source| TestnetError::NodeFile {
                        node: name.clone(),
                        file: file.to_path_buf(),
                        source,
                    })?
                    .trim()
                    .to_owned())
            };
            let data_dir = node_dir.join("data");
            let config: toml::Table =
                read(Path::new("data/medchain.toml"))?
                    .parse()
                    .map_err(|source| TestnetError::Config {
                        node: name.clone(),
                        source,
                    })?;
            let token_file = config
                .get("api")
                .and_then(|a| a.get("token_file"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| TestnetError::NoTokenFile { node: name.clone() })?;
            // The token file's path is absolute (the script wrote it), so `read` can take it.
            let token = read(Path::new(token_file))?;
            let api = config.get("api");
            let plain = api
                .and_then(|a| a.get("plain_http"))
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            if let Some(ca) = api.and_then(|a| a.get("tls_ca")).and_then(|c| c.as_str()) {
                let ca = PathBuf::from(ca);
                if !cas.contains(&ca) {
                    cas.push(ca);
                }
            }
            let scheme = if plain { "http" } else { "https" };
            let key_backups = config
                .get("keys")
                .and_then(|k| k.get("recovery_public"))
                .is_some();
            nodes.push(Node {
                role: read(Path::new("role"))?,
                api: format!("{scheme}://{}", read(Path::new("api"))?),
                data_dir,
                member_dir: node_dir.join("member"),
                log: node_dir.join("node.log"),
                pid_file: node_dir.join("pid"),
                key_backups,
                token,
                name,
            });
        }
        api_tls::trust(&cas)?;
        let agent = agent(Duration::from_secs(60));
        Ok(Self {
            root: root.to_path_buf(),
            script: script.to_path_buf(),
            medchain: medchain.to_path_buf(),
            nodes,
            agent,
        })
    }

    /// Gives up on any HTTP call after `limit` instead of 60 s (medchain-chaos: a node paused
    /// with SIGSTOP or cut off by a partition must not stall the harness for a minute).
    pub fn set_timeout(&mut self, limit: Duration) {
        self.agent = agent(limit);
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| TestnetError::NoNode(name.to_owned()))
    }

    /// Fails unless the testnet has at least `providers` providers and `auditors` auditors.
    pub fn require(&self, providers: usize, auditors: usize) -> Result<()> {
        let count = |role: &str| self.nodes.iter().filter(|n| n.role == role).count();
        if count("provider") < providers || count("auditor") < auditors {
            return Err(TestnetError::TooSmall {
                providers,
                auditors,
            });
        }
        Ok(())
    }

    /// The providers.
    pub fn providers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == "provider")
    }

    /// Where the demo writes its files.
    pub fn out_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("demo");
        std::fs::create_dir_all(&dir).map_err(|source| TestnetError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    /// GET `path` on `node` (reads are audited: the demo acts as "demo-auditor").
    pub fn get(&self, node: &Node, path: &str) -> Result<Answer> {
        let response = self
            .agent
            .get(format!("{}{path}", node.api))
            .header("Authorization", &format!("Bearer {}", node.token))
            .header("X-Medchain-Actor", "demo-auditor")
            .call();
        answer(response, node)
    }

    /// DELETE `path` on `node` (the demo acts as "demo-privacy-officer").
    pub fn delete(&self, node: &Node, path: &str) -> Result<Answer> {
        let response = self
            .agent
            .delete(format!("{}{path}", node.api))
            .header("Authorization", &format!("Bearer {}", node.token))
            .header("X-Medchain-Actor", "demo-privacy-officer")
            .call();
        answer(response, node)
    }

    /// GET `path` as JSON, failing unless 200.
    pub fn get_json(&self, node: &Node, path: &str) -> Result<Value> {
        let answer = self.get(node, path)?;
        if answer.status != 200 {
            return Err(TestnetError::Status {
                node: node.name.clone(),
                request: format!("GET {path}"),
                status: answer.status,
                body: answer.text(),
            });
        }
        Ok(answer.json())
    }

    /// POST a JSON body.
    pub fn post_json(&self, node: &Node, path: &str, body: &Value) -> Result<Answer> {
        self.post_json_limited(node, path, body, None)
    }

    /// POST a JSON body, giving up after `limit` (for a call known to take long, such as a
    /// verifier run over a large store).
    pub fn post_json_within(
        &self,
        node: &Node,
        path: &str,
        body: &Value,
        limit: Duration,
    ) -> Result<Answer> {
        self.post_json_limited(node, path, body, Some(limit))
    }

    /// POST a JSON body, within `limit` or the agent's own time limit.
    fn post_json_limited(
        &self,
        node: &Node,
        path: &str,
        body: &Value,
        limit: Option<Duration>,
    ) -> Result<Answer> {
        let mut request = self.agent.post(format!("{}{path}", node.api));
        if let Some(limit) = limit {
            request = request.config().timeout_global(Some(limit)).build();
        }
        let response = request
            .header("Authorization", &format!("Bearer {}", node.token))
            .send_json(body);
        answer(response, node)
    }

    /// POST bytes (`application/octet-stream`).
    pub fn post_bytes(&self, node: &Node, path: &str, body: &[u8]) -> Result<Answer> {
        let response = self
            .agent
            .post(format!("{}{path}", node.api))
            .header("Authorization", &format!("Bearer {}", node.token))
            .header("Content-Type", "application/octet-stream")
            .send(body);
        answer(response, node)
    }

    /// Runs the testnet script (`stop NAME`, `start NAME`).
    pub fn script(&self, args: &[&str]) -> Result<()> {
        let output = Command::new(&self.script)
            .args(args)
            .output()
            .map_err(|source| TestnetError::Spawn {
                program: self.script.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(TestnetError::Failed {
                command: format!("scripts/testnet.sh {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        println!("  $ scripts/testnet.sh {}: done", args.join(" "));
        Ok(())
    }

    /// Runs `medchain ARGS` and returns its standard output; fails on a non-zero exit.
    pub fn medchain(&self, args: &[&str]) -> Result<String> {
        run_medchain(&self.medchain, args)
    }

    /// The heads every node holds, as sorted `chain height hash` lines.
    pub fn heads(&self, node: &Node) -> Result<Vec<String>> {
        let chains = self.get_json(node, "/v1/chains")?;
        let mut heads: Vec<String> = chains
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{} {} {}",
                    c["chain"].as_str().unwrap_or("?"),
                    c["height"],
                    c["hash"].as_str().unwrap_or("?")
                )
            })
            .collect();
        heads.sort();
        Ok(heads)
    }
}

fn answer(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    node: &Node,
) -> Result<Answer> {
    let mut response = response.map_err(|source| TestnetError::Unreachable {
        node: node.name.clone(),
        api: node.api.clone(),
        source: Box::new(source),
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|source| TestnetError::Answer {
            node: node.name.clone(),
            source: Box::new(source),
        })?;
    Ok(Answer { status, body })
}

/// Where a load client sends requests: one provider's API, with its bearer token.
#[derive(Debug, Clone)]
pub struct Target {
    /// Node name (for messages).
    pub name: String,
    /// `https://ADDRESS:PORT` (`http://` for a node serving plain HTTP).
    pub api: String,
    /// Its bearer token.
    pub token: String,
}

impl Target {
    /// `node`'s API.
    pub fn of(node: &Node) -> Self {
        Self {
            name: node.name.clone(),
            api: node.api.clone(),
            token: node.token().to_owned(),
        }
    }
}
