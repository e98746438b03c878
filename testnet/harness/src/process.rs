//! Processes and time as the tools meet them: bounded waits for a condition over the nodes'
//! APIs, reading a node's JSON log from a mark on, and running the
//! `medchain` binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Node, Result, TestnetError};

/// Polls `condition` every 250 ms until it holds or `limit` passes. A condition that fails
/// (a node not answering yet) counts as not holding; its error is of the caller's kind.
pub fn wait_for<E>(
    what: &str,
    limit: Duration,
    mut condition: impl FnMut() -> Result<bool, E>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if condition().unwrap_or(false) {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(TestnetError::TimedOut {
                what: what.to_owned(),
                limit,
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// JSON log lines of `node` that mention `needle`, from byte `from` of its log on.
pub fn log_lines(node: &Node, from: u64, needle: &str) -> Vec<Value> {
    let text = std::fs::read(&node.log).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[start..])
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The current length of `node`'s log (to read only what comes after).
pub fn log_mark(node: &Node) -> u64 {
    std::fs::metadata(&node.log).map(|m| m.len()).unwrap_or(0)
}

/// Runs the `medchain` binary at `path` with `args` and returns its standard output; fails on a
/// non-zero exit, with its standard error.
pub fn run_medchain(path: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(path)
        .args(args)
        .output()
        .map_err(|source| TestnetError::Spawn {
            program: path.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        // What it printed says why, as much as its errors (a restore's counts, for one).
        let said = [&output.stdout, &output.stderr]
            .map(|bytes| String::from_utf8_lossy(bytes).trim().to_owned())
            .join("\n");
        return Err(TestnetError::Failed {
            command: format!("medchain {}", args.join(" ")),
            stderr: said.trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
