//! Nothing the harness starts outlives it: every node process and network namespace it creates
//! is registered here, and removed again when the harness stops it itself. On SIGINT, SIGTERM or
//! the overall deadline, whatever is still registered is killed (SIGKILL) or deleted, and the
//! process exits. Guards (`Drop`) cover errors and panics; this covers signals and hangs.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What is alive right now.
#[derive(Default)]
struct Registry {
    pids: BTreeSet<u32>,
    namespaces: BTreeSet<String>,
    links: BTreeSet<String>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: BTreeSet::new(),
    namespaces: BTreeSet::new(),
    links: BTreeSet::new(),
});

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A panic elsewhere while holding the lock leaves plain sets: still usable for cleanup.
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set once the cleanup has begun: a process started after that is killed at once (the main
/// thread may be in the middle of starting a node when the signal arrives).
static STOPPING: AtomicBool = AtomicBool::new(false);

fn kill_now(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .output();
}

/// A node process was started.
pub fn add_pid(pid: u32) {
    if STOPPING.load(Ordering::SeqCst) {
        kill_now(pid);
        return;
    }
    registry().pids.insert(pid);
}

/// A node process was reaped.
pub fn remove_pid(pid: u32) {
    registry().pids.remove(&pid);
}

/// A network namespace was created.
pub fn add_namespace(name: &str) {
    registry().namespaces.insert(name.to_owned());
}

/// A network namespace was deleted.
pub fn remove_namespace(name: &str) {
    registry().namespaces.remove(name);
}

/// A link in the root namespace (the bridge) was created.
pub fn add_link(name: &str) {
    registry().links.insert(name.to_owned());
}

/// A link in the root namespace was deleted.
pub fn remove_link(name: &str) {
    registry().links.remove(name);
}

/// Kills every registered process and deletes every registered namespace and link.
pub fn clean_up_everything() {
    STOPPING.store(true, Ordering::SeqCst);
    let (pids, namespaces, links) = {
        let mut r = registry();
        (
            std::mem::take(&mut r.pids),
            std::mem::take(&mut r.namespaces),
            std::mem::take(&mut r.links),
        )
    };
    for pid in pids {
        kill_now(pid);
    }
    // Processes go before their namespaces: a namespace with a process in it lingers.
    std::thread::sleep(Duration::from_millis(200));
    for ns in namespaces {
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    }
    for link in links {
        let _ = Command::new("ip").args(["link", "del", &link]).output();
    }
}

/// Cleans up and exits on SIGINT or SIGTERM, and when `deadline` passes (a hung harness must
/// not hold the machine: every harness is bounded in time).
pub fn install(deadline: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!(
            "chaos: the overall deadline of {} s passed: stopping every process started and exiting",
            deadline.as_secs()
        );
        clean_up_everything();
        std::process::exit(3);
    });
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            eprintln!("chaos: cannot listen for signals; Ctrl-C will leave nodes running");
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            eprintln!("chaos: interrupted: stopping every process started and exiting");
            clean_up_everything();
            std::process::exit(130);
        });
    });
}
