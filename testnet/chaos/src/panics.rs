//! Panics in the nodes, read from their logs (a panic's message goes to stderr, which the
//! harness sends to each node's log). One kind is contained by design and counted apart: sled
//! 0.34 panics on some damaged files while opening them, the store opens under `catch_unwind`,
//! and the node reports the store unopenable and rebuilds it (`crates/store/src/open.rs`). Such
//! a panic is contained only when the same log says the store could not be opened because
//! "sled panicked"; every other panic counts.

use crate::cluster::Cluster;

/// Panics found in the logs of a cluster's nodes.
#[derive(Debug, Default, Clone)]
pub struct Panics {
    /// Panics that count (each a bug until shown otherwise), with node and message.
    pub counted: Vec<String>,
    /// sled's panics while opening a damaged store, caught and turned into a rebuild.
    pub contained: usize,
}

/// Scans every node's log.
pub fn scan(cluster: &Cluster) -> Panics {
    let mut found = Panics::default();
    for name in cluster.names() {
        let Ok(node) = cluster.node(&name) else {
            continue;
        };
        // Lossy: a log with bytes that are not UTF-8 must still be searched, not read as empty.
        let text = match std::fs::read(&node.log) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                found.counted.push(format!(
                    "{name}: log {} unreadable: {e}",
                    node.log.display()
                ));
                continue;
            }
        };
        let lines: Vec<&str> = text.lines().collect();
        let caught_opening = lines
            .iter()
            .filter(|l| l.contains("store cannot be opened") && l.contains("sled panicked"))
            .count();
        let mut in_sled = 0;
        for (i, line) in lines.iter().enumerate() {
            // std's "thread 'NAME' (ID) panicked at FILE:LINE:COL:", not only at the start of
            // a line: other output may share it.
            if !(line.contains("thread '") && line.contains(" panicked at ")) {
                continue;
            }
            if line.contains("/sled-0.34") && in_sled < caught_opening {
                in_sled += 1;
                continue;
            }
            let message = lines.get(i + 1).copied().unwrap_or_default();
            found.counted.push(format!("{name}: {line} {message}"));
        }
        found.contained += in_sled;
    }
    found
}
