//! The health of every store at the end of a step, through the nodes' HTTP APIs: every store
//! verifies clean (`POST /v1/verify`: no violation, no payload missing or damaged), no node holds
//! equivocation evidence (`GET /v1/evidence`, every page), every node is ready and every
//! provider's writes have resumed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;

/// `name`'s verifier report (`POST /v1/verify`); an error unless it answered 200.
pub fn verify(cluster: &Cluster, name: &str) -> anyhow::Result<Value> {
    let node = cluster.node(name)?;
    // A scan of a large store under load takes longer than other calls may.
    let answer = cluster
        .net
        .post_json_within(node, "/v1/verify", &Value::Null, VERIFY_LIMIT)?;
    if answer.status != 200 {
        anyhow::bail!(
            "POST /v1/verify answered {} {}",
            answer.status,
            answer.text()
        );
    }
    Ok(answer.json())
}

/// How long one verifier run may take (a full scan; about 500,000 records took up to 18 s at
/// start, and longer under the harness's write load).
const VERIFY_LIMIT: Duration = Duration::from_secs(180);

/// How long a store may take to verify clean: a scan that finds damage quarantines it and has
/// it fetched again (or, when repairs in place do not hold, the store moved aside and rebuilt),
/// and payloads still being fetched by hash arrive.
const CLEAN_LIMIT: Duration = Duration::from_secs(90);

/// Runs the verifier on every running node (again, while it repairs what a run found, for up to
/// [`CLEAN_LIMIT`]); answers one line per store that is not clean by then.
pub fn verify_all(cluster: &Cluster) -> Vec<String> {
    let mut unclean = Vec::new();
    for name in cluster.names().into_iter().filter(|n| cluster.running(n)) {
        let started = Instant::now();
        loop {
            // (worth asking again, what is wrong): a node busy, repairing what its scan found
            // or still fetching payloads gets another chance; a malformed report does not.
            let problem = match verify(cluster, &name) {
                Err(e) => Some((true, format!("{name}: {e:#}"))),
                Ok(report) => clean_report(&name, &report),
            };
            let Some((worth_retrying, text)) = problem else {
                break;
            };
            if !worth_retrying || started.elapsed() > CLEAN_LIMIT {
                unclean.push(text);
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    unclean
}

/// `None` when a verifier report is clean; else (worth retrying, what is wrong).
fn clean_report(name: &str, report: &Value) -> Option<(bool, String)> {
    let list = |key: &str| report[key].as_array().map_or(0, Vec::len);
    let keys = ["violations", "missing_payloads", "damaged_payloads"];
    if keys.iter().any(|k| !report[*k].is_array()) {
        return Some((
            false,
            format!("{name}: a verifier report without {keys:?}: {report}"),
        ));
    }
    if list("violations") > 0 {
        let first: Vec<String> = report["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .take(3)
            .map(Value::to_string)
            .collect();
        return Some((
            true,
            format!(
                "{name}: the verifier found {} violations: {}",
                list("violations"),
                first.join("; ")
            ),
        ));
    }
    let payloads = list("missing_payloads") + list("damaged_payloads");
    if payloads > 0 || report["awaiting_repair"].as_u64().unwrap_or(0) > 0 {
        return Some((
            true,
            format!(
                "{name}: {payloads} payloads missing or damaged, {} heights awaiting repair",
                report["awaiting_repair"]
            ),
        ));
    }
    None
}

/// Every (chain, height) some running node holds equivocation evidence for, with who holds it.
pub fn evidence_all(cluster: &Cluster) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in cluster.names().into_iter().filter(|n| cluster.running(n)) {
        let Ok(node) = cluster.node(&name) else {
            continue;
        };
        let mut after: Option<String> = None;
        // Bounded: 100 pages of 1000 is far more evidence than any run can make.
        for _ in 0..100 {
            let path = match &after {
                None => "/v1/evidence?limit=1000".to_owned(),
                Some(a) => format!("/v1/evidence?limit=1000&after={a}"),
            };
            let Ok(page) = cluster.net.get_json(node, &path) else {
                found
                    .entry(format!("(evidence of {name} unreadable)"))
                    .or_default()
                    .push(name.clone());
                break;
            };
            for item in page["evidence"].as_array().into_iter().flatten() {
                let at = format!(
                    "{}/{}",
                    item["chain"].as_str().unwrap_or("?"),
                    item["height"]
                );
                found.entry(at).or_default().push(name.clone());
            }
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
    }
    found
}

/// Waits (at most `limit`) until every running node is ready and no provider's writes are
/// paused; answers what is still wrong at the limit, and how long it took.
pub fn settle(cluster: &Cluster, limit: Duration) -> (Duration, Vec<String>) {
    let started = Instant::now();
    loop {
        let mut wrong = Vec::new();
        for name in cluster.names().into_iter().filter(|n| cluster.running(n)) {
            let Ok(node) = cluster.node(&name) else {
                continue;
            };
            match cluster.net.get(node, "/ready") {
                Ok(a) if a.status == 200 => {}
                Ok(a) => wrong.push(format!("{name} not ready: {} {}", a.status, a.text())),
                Err(e) => wrong.push(format!("{name} not ready: {e:#}")),
            }
            if node.role == "provider" {
                match cluster.net.get_json(node, "/v1/status") {
                    Ok(s) if s["writes_paused"].is_null() => {}
                    Ok(s) => wrong.push(format!(
                        "{name}: writes stay paused: {}",
                        s["writes_paused"]
                    )),
                    Err(e) => wrong.push(format!("{name}: status: {e:#}")),
                }
            }
        }
        if wrong.is_empty() || started.elapsed() > limit {
            return (started.elapsed(), wrong);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
