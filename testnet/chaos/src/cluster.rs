//! A consortium of medchain nodes that the harness creates and owns: the CA, the members and
//! their configurations written with the `medchain` CLI in the layout `scripts/testnet.sh` uses
//! (so `MEDCHAIN_TESTNET_DIR=DIR scripts/testnet.sh status` reads a kept run), and the node
//! processes, which are the harness's own children: it kills them with SIGKILL, stops them with
//! SIGTERM, pauses them with SIGSTOP, and notices when one exits on its own.
//!
//! On loopback every node gets free ports on 127.0.0.1; in namespaces (the partition harness)
//! each node listens on its namespace's address and runs under `ip netns exec`. Every process
//! still running is killed when the cluster is dropped (and by the reaper on a signal).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::netns::Namespaces;
use crate::reaper;
use medchain_testnet::{Node, Testnet, run_medchain};

/// What to create.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Provider nodes (hospital-1..N).
    pub providers: usize,
    /// Auditor nodes (auditor-1..M).
    pub auditors: usize,
    /// Seconds between scheduled integrity scans (0 = at start and on demand only).
    pub verifier_interval: u64,
}

impl Spec {
    /// `providers` and `auditors`, scanning at start and on demand only.
    pub fn new(providers: usize, auditors: usize) -> Self {
        Self {
            providers,
            auditors,
            verifier_interval: 0,
        }
    }
}

/// How long a node may take from its start command to an answering API (a start-up scan and,
/// after damage, moving the store aside come first).
const READY_LIMIT: Duration = Duration::from_secs(180);
/// How long SIGTERM may take before the node is killed instead.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// The running consortium.
pub struct Cluster {
    /// The nodes as the shared testnet reader sees them (HTTP with their tokens, logs).
    pub net: Testnet,
    /// The state directory.
    pub root: PathBuf,
    /// Each provider's chain ID, by node name.
    pub chains: BTreeMap<String, String>,
    /// Unexpected exits seen so far: node, exit status, the last lines of its log.
    pub exits: Vec<String>,
    medchain: PathBuf,
    processes: BTreeMap<String, Child>,
    namespace_of: BTreeMap<String, String>,
    // Dropped after the processes (see `Drop`): a namespace outlives nothing running in it.
    namespaces: Option<Namespaces>,
}

/// A TCP port on 127.0.0.1 that nothing listens on, below the kernel's ephemeral range (so no
/// outgoing connection takes it between now and the node's start).
fn free_port(taken: &mut Vec<u16>, seed: u64) -> Result<u16> {
    for attempt in 0..2000u64 {
        let port = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104_729) % 12_000) as u16;
        if taken.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.push(port);
            return Ok(port);
        }
    }
    bail!("no free port found on 127.0.0.1")
}

/// The value after `label` on the line of `ca issue`'s output that starts with it.
fn printed(output: &str, label: &str) -> Result<String> {
    output
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
        .with_context(|| format!("`ca issue` printed no {label}"))
}

impl Cluster {
    /// Writes a fresh consortium under `root` (removing what was there) and starts every node,
    /// waiting until each API answers. With `namespaces`, node i runs in namespace i.
    pub fn create(
        root: &Path,
        medchain: &Path,
        spec: Spec,
        namespaces: Option<Namespaces>,
        seed: u64,
    ) -> Result<Self> {
        if root.exists() {
            std::fs::remove_dir_all(root)
                .with_context(|| format!("cannot remove {}", root.display()))?;
        }
        std::fs::create_dir_all(root.join("nodes"))?;
        let ca = root.join("ca");
        let text = |p: &Path| p.to_str().map(str::to_owned).context("a path is not UTF-8");
        run_medchain(
            medchain,
            &[
                "ca",
                "init",
                "--name",
                "Chaos Consortium",
                "--out",
                &text(&ca)?,
            ],
        )?;
        let mut names: Vec<(String, &str, String)> = (1..=spec.providers)
            .map(|i| (format!("hospital-{i}"), "provider", format!("Hospital {i}")))
            .collect();
        names.extend(
            (1..=spec.auditors)
                .map(|i| (format!("auditor-{i}"), "auditor", format!("Auditor {i}"))),
        );
        let (mut bootstrap, mut ports, mut chains): (Vec<String>, _, _) =
            (Vec::new(), Vec::new(), BTreeMap::new());
        let mut namespace_of = BTreeMap::new();
        for (i, (name, role, org)) in names.iter().enumerate() {
            let dir = root.join("nodes").join(name);
            std::fs::create_dir_all(&dir)?;
            let issued = run_medchain(
                medchain,
                &[
                    "ca",
                    "issue",
                    "--ca",
                    &text(&ca)?,
                    "--role",
                    role,
                    "--org",
                    org,
                    "--out",
                    &text(&dir.join("member"))?,
                ],
            )?;
            let peer = printed(&issued, "peer id")?;
            if *role == "provider" {
                chains.insert(name.clone(), printed(&issued, "chain id")?);
            }
            let (api, p2p) = match &namespaces {
                Some(ns) => {
                    let address = ns.address(i);
                    namespace_of.insert(name.clone(), ns.names[i].clone());
                    (
                        format!("{address}:8080"),
                        format!("/ip4/{address}/tcp/7000"),
                    )
                }
                None => (
                    format!("127.0.0.1:{}", free_port(&mut ports, seed + i as u64)?),
                    format!(
                        "/ip4/127.0.0.1/tcp/{}",
                        free_port(&mut ports, seed + 100 + i as u64)?
                    ),
                ),
            };
            let interval = spec.verifier_interval.to_string();
            let data = text(&dir.join("data"))?;
            let member = text(&dir.join("member"))?;
            let mut args = vec![
                "init",
                "--role",
                role,
                "--ca",
                ca.to_str().context("a path is not UTF-8")?,
                "--member",
                &member,
                "--data-dir",
                &data,
                "--network",
                "medchain-chaos",
                "--api-listen",
                &api,
                // Plain HTTP: the load and the checks of a chaos run are about the network and
                // the disk (addresses in namespaces vary); the testnet serves TLS.
                "--api-plain-http",
                "--p2p-listen",
                &p2p,
                "--verifier-interval",
                &interval,
            ];
            // Every node dials every node made before it: a full mesh, as the testnet script.
            for peer_addr in &bootstrap {
                args.extend(["--bootstrap", peer_addr.as_str()]);
            }
            run_medchain(medchain, &args)?;
            std::fs::write(dir.join("role"), format!("{role}\n"))?;
            std::fs::write(dir.join("api"), format!("{api}\n"))?;
            std::fs::write(dir.join("api_url"), format!("http://{api}\n"))?;
            std::fs::write(dir.join("p2p"), format!("{p2p}/p2p/{peer}\n"))?;
            bootstrap.push(format!("{p2p}/p2p/{peer}"));
        }
        let script = Path::new("scripts/testnet.sh");
        let mut net = Testnet::load(root, script, medchain)?;
        net.set_timeout(Duration::from_secs(20));
        let mut cluster = Self {
            net,
            root: root.to_path_buf(),
            chains,
            exits: Vec::new(),
            medchain: medchain.to_path_buf(),
            processes: BTreeMap::new(),
            namespace_of,
            namespaces,
        };
        let all: Vec<String> = cluster.names();
        for name in &all {
            cluster.start(name)?;
        }
        Ok(cluster)
    }

    /// Every node's name, providers first.
    pub fn names(&self) -> Vec<String> {
        self.net.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The providers' names.
    pub fn providers(&self) -> Vec<String> {
        self.net.providers().map(|n| n.name.clone()).collect()
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&Node> {
        Ok(self.net.node(name)?)
    }

    /// The namespaces, when the cluster runs in them.
    pub fn namespaces(&mut self) -> Option<&mut Namespaces> {
        self.namespaces.as_mut()
    }

    /// Whether the harness believes `name` is running (started and not stopped or killed).
    pub fn running(&self, name: &str) -> bool {
        self.processes.contains_key(name)
    }

    /// Starts `name` without waiting for anything.
    pub fn spawn(&mut self, name: &str) -> Result<()> {
        if self.processes.contains_key(name) {
            bail!("{name} is already running");
        }
        let node = self.net.node(name)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .with_context(|| format!("cannot open {}", node.log.display()))?;
        let config = node.data_dir.join("medchain.toml");
        let mut command = match self.namespace_of.get(name) {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.medchain);
                c
            }
            None => Command::new(&self.medchain),
        };
        command
            .args(["--log-format", "json", "run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        reaper::add_pid(child.id());
        std::fs::write(&node.pid_file, format!("{}\n", child.id()))?;
        self.processes.insert(name.to_owned(), child);
        Ok(())
    }

    /// Starts `name` and waits until its API answers; the time that took.
    pub fn start(&mut self, name: &str) -> Result<Duration> {
        let started = Instant::now();
        self.spawn(name)?;
        self.wait_ready(name, started)?;
        Ok(started.elapsed())
    }

    /// Waits until `name`'s API answers (it listens only after the start-up scan).
    pub fn wait_ready(&mut self, name: &str, since: Instant) -> Result<()> {
        loop {
            let answered = {
                let node = self.net.node(name)?;
                self.net
                    .get(node, "/v1/status")
                    .is_ok_and(|a| a.status == 200)
            };
            if answered {
                return Ok(());
            }
            if self.reap(name).is_some() {
                bail!(
                    "{name} exited during its start; the end of its log:\n{}",
                    self.log_tail(name, 15)
                );
            }
            if since.elapsed() > READY_LIMIT {
                bail!(
                    "{name} did not answer within {READY_LIMIT:?} of its start; the end of its log:\n{}",
                    self.log_tail(name, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let mut child = self
            .processes
            .remove(name)
            .with_context(|| format!("{name} is not running"))?;
        // If it had exited on its own, that is an unexpected exit, not our kill.
        if let Ok(Some(status)) = child.try_wait() {
            self.note_exit(name, &status.to_string());
        }
        let _ = child.kill();
        let _ = child.wait();
        reaper::remove_pid(child.id());
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 30 s (noted as a failure to stop).
    pub fn stop(&mut self, name: &str) -> Result<()> {
        let pid = self.pid(name)?;
        signal(pid, "TERM")?;
        let started = Instant::now();
        while started.elapsed() < STOP_LIMIT {
            if let Some(child) = self.processes.get_mut(name)
                && let Ok(Some(status)) = child.try_wait()
            {
                self.processes.remove(name);
                reaper::remove_pid(pid);
                if !status.success() {
                    self.note_exit(name, &format!("{status} after SIGTERM"));
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.exits.push(format!(
            "{name} did not stop within {STOP_LIMIT:?} of SIGTERM"
        ));
        self.kill(name)
    }

    /// SIGSTOP (`pause = true`) or SIGCONT.
    pub fn pause(&mut self, name: &str, pause: bool) -> Result<()> {
        signal(self.pid(name)?, if pause { "STOP" } else { "CONT" })
    }

    fn pid(&self, name: &str) -> Result<u32> {
        self.processes
            .get(name)
            .map(Child::id)
            .with_context(|| format!("{name} is not running"))
    }

    /// If `name` has exited on its own, records it and answers its status.
    fn reap(&mut self, name: &str) -> Option<String> {
        let child = self.processes.get_mut(name)?;
        let status = child.try_wait().ok().flatten()?;
        let pid = child.id();
        self.processes.remove(name);
        reaper::remove_pid(pid);
        self.note_exit(name, &status.to_string());
        Some(status.to_string())
    }

    fn note_exit(&mut self, name: &str, status: &str) {
        let tail = self.log_tail(name, 8);
        self.exits.push(format!(
            "{name} exited on its own ({status}); its log ends:\n{tail}"
        ));
    }

    /// Records every node that exited without being told to; answers how many did so far.
    pub fn check_exits(&mut self) -> usize {
        for name in self.names() {
            self.reap(&name);
        }
        self.exits.len()
    }

    /// The last `lines` lines of `name`'s log.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let Ok(node) = self.net.node(name) else {
            return String::new();
        };
        let text = std::fs::read_to_string(&node.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Sends `kill -SIGNAL pid` (the harness's own child only).
fn signal(pid: u32, name: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.processes) {
            // A node left stopped by SIGSTOP dies of SIGKILL all the same.
            let _ = child.kill();
            let _ = child.wait();
            reaper::remove_pid(child.id());
        }
        // `namespaces` drops after this, with nothing left running in them.
    }
}
