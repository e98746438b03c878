//! A's side as the rogue test sees it: HTTP on loopback usable from any thread (common::Node::http
//! needs the node itself), A's metrics, memory and log, and starting and stopping A.

use super::*;

pub(crate) fn http(
    api: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, String) {
    http_to(api, Duration::from_secs(30), method, path, token, body)
}

/// Writes one small record; its ID, or the refusal.
pub(crate) fn write(api: &str, token: &str, patient: &str, n: u64) -> Result<String, String> {
    let body = format!(
        r#"{{"kind":"create","patient":"{patient}","payload":{{"resourceType":"Observation","n":{n}}},"actor":"dr-1"}}"#
    );
    let (status, text) = http(api, "POST", "/v1/records", token, Some(&body));
    if status != 201 {
        return Err(format!("{status} {text}"));
    }
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    Ok(json["record"].as_str().unwrap().to_owned())
}

/// Waits (bounded: 60 s) until a node's writes are not paused (a new node's are until its
/// peers have answered that none of them holds its chain).
pub(crate) fn wait_writable(api: &str, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = http(api, "GET", "/v1/status", token, None);
        if status == 200 && text.contains("\"writes_paused\":null") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "writes still paused after 60 s: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `api` holds `record` with its sealed payload (only its author reads it; every node
/// holds it).
pub(crate) fn held(api: &str, token: &str, record: &str) -> bool {
    let path = format!("/v1/records/{record}/history");
    let (status, text) = http(api, "GET", &path, token, None);
    status == 200
        && text.contains("\"payload_held\":true")
        && !text.contains("\"payload_held\":false")
}

/// The chains a node holds, as (org, chain, height).
pub(crate) fn chains(api: &str, token: &str) -> Vec<(String, ChainId, u64)> {
    let (status, text) = http(api, "GET", "/v1/chains", token, None);
    assert_eq!(status, 200, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["org"].as_str().unwrap_or_default().to_owned(),
                c["chain"].as_str().unwrap().parse().unwrap(),
                c["height"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

pub(crate) fn chain_of_org(api: &str, token: &str, org: &str) -> (ChainId, u64) {
    chains(api, token)
        .into_iter()
        .find(|(o, _, _)| o == org)
        .map(|(_, chain, height)| (chain, height))
        .unwrap_or_else(|| panic!("{org} holds no chain yet"))
}

/// A's metrics: the series (sample lines), `medchain_buffered_blocks`, and every chain label.
pub(crate) struct Scrape {
    pub(crate) series: usize,
    pub(crate) buffered: i64,
    pub(crate) heap_allocated: i64,
    pub(crate) chain_labels: HashSet<String>,
}

pub(crate) fn scrape(api: &str, token: &str) -> Scrape {
    let (status, text) = http(api, "GET", "/metrics", token, None);
    assert_eq!(status, 200, "{text}");
    let samples = || {
        text.lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
    };
    let gauge = |name: &str| {
        samples()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |v| v as i64)
    };
    let buffered = gauge("medchain_buffered_blocks");
    let heap_allocated = gauge("medchain_heap_allocated_bytes");
    let mut chain_labels = HashSet::new();
    for line in samples() {
        let mut rest = line;
        while let Some(at) = rest.find("chain=\"") {
            rest = &rest[at + 7..];
            if let Some(end) = rest.find('"') {
                chain_labels.insert(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    Scrape {
        series: samples().count(),
        buffered,
        heap_allocated,
        chain_labels,
    }
}

pub(crate) fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts the daemon like `common::start`, with debug logs of its sync requests (each one
/// that fails is logged with its peer, so what A tried to send the rogue can be counted).
pub(crate) fn start_verbose(setup: &Setup) -> Node {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BIN)
        .args(["--log-format", "json", "run", "--config", p(&setup.config)])
        .env("RUST_LOG", A_LOG_FILTER)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    // With MEDCHAIN_ROGUE_LOG set, A's log is also written as it comes (kept if the test fails).
    let mut tee = std::env::var("MEDCHAIN_ROGUE_LOG")
        .ok()
        .and_then(|path| std::fs::File::create(format!("{path}.live")).ok());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(file) = tee.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut node = Node {
        child,
        api: String::new(),
        p2p: String::new(),
        lines,
        seen: Vec::new(),
    };
    node.wait_ready();
    node
}

/// Sends SIGTERM, waits (bounded) for the exit status, and returns it with every log line the
/// node wrote (those already read and the rest up to its end).
pub(crate) fn stop(node: &mut Node) -> (i32, Vec<String>) {
    node.terminate_with_log()
}

/// From A's log: its sync requests to `peer` that failed, by error, and the requests of
/// `peer` its network layer answered `Busy` (two in progress already).
pub(crate) fn requests_in_log(lines: &[String], peer: &str) -> (HashMap<String, u64>, u64) {
    let mut failed: HashMap<String, u64> = HashMap::new();
    let mut busy = 0;
    for line in lines {
        let Ok(json) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let fields = &json["fields"];
        if fields["peer"].as_str() != Some(peer) {
            continue;
        }
        match fields["message"].as_str() {
            Some("sync request failed") => {
                let error = fields["error"].as_str().unwrap_or_default().to_owned();
                *failed.entry(error).or_default() += 1;
            }
            Some("too many requests with the node; busy") => busy += 1,
            _ => {}
        }
    }
    (failed, busy)
}
