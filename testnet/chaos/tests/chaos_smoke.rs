//! The short versions of the reliability harnesses (`medchain-chaos --quick`, docs/reliability.md)
//! in the test command: kill -9 under load, raw damage trials, restart
//! during rebuild and catch-up, and (as root, with iproute2) a partition in network namespaces
//! with SIGSTOP/SIGCONT. Each must end with every acknowledged record on every node, no
//! equivocation, no panic and every store verifying clean.
//!
//! They run the release binaries when `MEDCHAIN_CHAOS_BIN_DIR` names their directory (the test
//! command, scripts/test.sh, builds them and sets it): the harnesses verify every store after
//! every step, and a debug node verified about 400 entries/s under the
//! harness's load here (a release node verifies over 89,000/s), which turns minutes into a
//! quarter of an hour. Without it they run the debug binaries of this build, with the same
//! limits, which may then be too short on a slow machine.
//!
//! They run one at a time (two cores: clusters side by side would only slow each other into
//! timeouts), each bounded in time: the harness has its own deadline, and past the test's limit
//! it gets SIGTERM (it then removes every node and namespace it started) before SIGKILL. A
//! failed harness's nodes' data and logs are kept under /tmp and named in the failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One harness at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// `medchain-chaos` and `medchain`: from `MEDCHAIN_CHAOS_BIN_DIR` if set, else this build's.
fn binaries() -> (PathBuf, PathBuf) {
    match std::env::var_os("MEDCHAIN_CHAOS_BIN_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let pair = (dir.join("medchain-chaos"), dir.join("medchain"));
            assert!(
                pair.0.is_file() && pair.1.is_file(),
                "MEDCHAIN_CHAOS_BIN_DIR={} holds no medchain-chaos and medchain (cargo build --release -p medchain-node -p medchain-chaos)",
                dir.display()
            );
            pair
        }
        None => {
            let chaos = PathBuf::from(env!("CARGO_BIN_EXE_medchain-chaos"));
            let dir =
                medchain_testkit::daemon::build_binaries(env!("CARGO"), &chaos, &["medchain-node"]);
            (chaos, dir.join("medchain"))
        }
    }
}

/// Runs `medchain-chaos --quick --only HARNESS EXTRA...`; panics with its output unless it
/// passed with nothing lost, no equivocation and no panic.
fn run_quick(harness: &str, extra: &[&str], limit: Duration) {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let work = PathBuf::from(format!(
        "/tmp/medchain-chaos-smoke-{harness}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let out = work.join("chaos.out");
    // The harness's own deadline comes first, so it cleans up on its own.
    let deadline_mins = (limit.as_secs() / 60).saturating_sub(1).max(1).to_string();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (chaos, medchain) = binaries();
    let mut child = Command::new(&chaos)
        .current_dir(&repo)
        .args(["--quick", "--only", harness])
        .arg("--medchain")
        .arg(&medchain)
        .arg("--work")
        .arg(&work)
        .args(["--deadline-mins", &deadline_mins])
        .args(extra)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > limit {
            // SIGTERM first: the harness then stops every node and namespace it started.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(20) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success());
    assert!(
        passed,
        "medchain-chaos --quick --only {harness} {} after {:.0} s (nodes' data and logs kept in {}):\n{text}",
        if status.is_none() {
            "timed out"
        } else {
            "failed"
        },
        started.elapsed().as_secs_f64(),
        work.display()
    );
    for line in ["0 lost", "0 equivocations"] {
        assert!(text.lines().any(|l| l == line), "no `{line}` line:\n{text}");
    }
    assert!(
        text.lines().any(|l| l.starts_with("0 panics")),
        "no `0 panics` line:\n{text}"
    );
    println!("{text}");
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn kill_9_under_write_load_loses_nothing() {
    run_quick("kill", &["--kills", "3"], Duration::from_secs(300));
}

#[test]
fn raw_damage_to_store_files_is_repaired_from_peers() {
    run_quick("damage", &["--trials", "4"], Duration::from_secs(420));
}

#[test]
fn restart_during_rebuild_and_catch_up_never_equivocates() {
    run_quick("restart", &["--cycles", "2"], Duration::from_secs(420));
}

/// Network namespaces need root and iproute2. CI has both (.ci/run installs iproute2 and sets
/// MEDCHAIN_REQUIRE_NETNS=1, so there a missing prerequisite fails instead of skipping).
#[test]
fn a_partition_heals_and_a_paused_node_catches_up() {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip").arg("-V").output().is_ok();
    // Root without CAP_SYS_ADMIN (a default container) cannot create namespaces: try one.
    let probe = format!("mcchaos-probe-{}", std::process::id());
    let netns = root
        && ip
        && Command::new("ip")
            .args(["netns", "add", &probe])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if netns {
        let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    }
    if !netns {
        assert!(
            std::env::var("MEDCHAIN_REQUIRE_NETNS").as_deref() != Ok("1"),
            "the partition harness needs root, iproute2 and the right to create network namespaces (root: {root}, ip: {ip}, `ip netns add` worked: {netns})"
        );
        eprintln!("skipped: the partition harness needs root, iproute2 and network namespaces");
        return;
    }
    run_quick(
        "partition",
        &["--partition-secs", "10"],
        Duration::from_secs(420),
    );
}
