//! Linux network namespaces of our own, one per node, for the partition harness: a bridge in the
//! root namespace, a veth pair per node (one end in its namespace with its own address), and
//! partitions made with blackhole routes inside the namespaces (iproute2 only: no iptables).
//!
//! Addresses come from 198.18.0.0/15, the range set aside for network tests (RFC 2544): nothing
//! outside this machine is ever addressed, and the namespaces have no route but their own /24.
//! The harness itself stays in the root namespace and reaches every node through the bridge,
//! so a partition cuts nodes from each other, never from the harness. Everything created is
//! deleted on drop (and by the reaper on a signal).

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::reaper;

/// The namespaces of one run.
pub struct Namespaces {
    /// Namespace names, one per node.
    pub names: Vec<String>,
    bridge: String,
    subnet: u8,
    /// Blackhole routes in force: (namespace index, address blocked).
    blocked: Vec<(usize, Ipv4Addr)>,
}

/// Runs `ip ARGS`, failing with its error output.
pub fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Whether this process may create namespaces (root with `ip` installed).
pub fn available() -> Result<()> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id`")?;
    if String::from_utf8_lossy(&output.stdout).trim() != "0" {
        bail!("network namespaces need root");
    }
    Command::new("ip")
        .arg("-V")
        .output()
        .context("`ip` is missing (apt-get install iproute2)")?;
    Ok(())
}

impl Namespaces {
    /// Creates `count` namespaces on a fresh bridge. Names carry our PID, so concurrent runs do
    /// not collide and leftovers of a killed run can be told apart (scripts/chaos.sh removes
    /// those whose PID is gone).
    pub fn create(count: usize, subnet_hint: u64) -> Result<Self> {
        available()?;
        let pid = std::process::id();
        let subnet = free_subnet(subnet_hint)?;
        let bridge = format!("mcc{}b", pid % 100_000);
        let mut made = Self {
            names: Vec::new(),
            bridge: bridge.clone(),
            subnet,
            blocked: Vec::new(),
        };
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        reaper::add_link(&bridge);
        let gateway = format!("{}/24", made.host_address());
        ip(&["addr", "add", &gateway, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..count {
            let ns = format!("mcchaos-{pid}-{i}");
            ip(&["netns", "add", &ns])?;
            reaper::add_namespace(&ns);
            made.names.push(ns.clone());
            // Interface names are at most 15 bytes.
            let (host_end, node_end) = (
                format!("mcc{}h{i}", pid % 100_000),
                format!("mcc{}n{i}", pid % 100_000),
            );
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &node_end,
            ])?;
            ip(&["link", "set", &node_end, "netns", &ns])?;
            ip(&["link", "set", &host_end, "master", &bridge])?;
            ip(&["link", "set", &host_end, "up"])?;
            let address = format!("{}/24", made.address(i));
            ip(&["-n", &ns, "addr", "add", &address, "dev", &node_end])?;
            ip(&["-n", &ns, "link", "set", &node_end, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(made)
    }

    /// The address of node `i`.
    pub fn address(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, u8::try_from(i + 1).unwrap_or(250))
    }

    /// The root namespace's address on the bridge.
    fn host_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, 254)
    }

    /// Cuts every node of `side_a` from every node of `side_b`, both ways (packets to the other
    /// side are dropped where they are sent, as a failed link would lose them).
    pub fn partition(&mut self, side_a: &[usize], side_b: &[usize]) -> Result<()> {
        let mut pairs = Vec::new();
        for &a in side_a {
            for &b in side_b {
                pairs.extend([(a, b), (b, a)]);
            }
        }
        for (from, to) in pairs {
            let target = format!("{}/32", self.address(to));
            ip(&[
                "-n",
                &self.names[from],
                "route",
                "add",
                "blackhole",
                &target,
            ])?;
            self.blocked.push((from, self.address(to)));
        }
        Ok(())
    }

    /// Removes every blackhole route: the partition heals.
    pub fn heal(&mut self) -> Result<()> {
        for (from, to) in std::mem::take(&mut self.blocked) {
            let target = format!("{to}/32");
            ip(&[
                "-n",
                &self.names[from],
                "route",
                "del",
                "blackhole",
                &target,
            ])?;
        }
        Ok(())
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = ip(&["netns", "del", ns]);
            reaper::remove_namespace(ns);
        }
        let _ = ip(&["link", "del", &self.bridge]);
        reaper::remove_link(&self.bridge);
    }
}

/// A /24 of 198.18.0.0/15 that no interface of this machine uses yet.
fn free_subnet(hint: u64) -> Result<u8> {
    let output = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .context("cannot run `ip`")?;
    let used = String::from_utf8_lossy(&output.stdout).into_owned();
    for step in 0..254u64 {
        let third = u8::try_from(1 + (hint + step) % 253).unwrap_or(1);
        if !used.contains(&format!("198.18.{third}.")) {
            return Ok(third);
        }
    }
    bail!("no free /24 left in 198.18.0.0/16")
}
