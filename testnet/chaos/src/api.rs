//! Harness `api`: the HTTP API fuzzed from its own OpenAPI document (`GET /v1/openapi.json`,
//! generated from the node's code) with schemathesis, against a provider of a running consortium,
//! with its bearer token. schemathesis generates valid and invalid requests for every operation
//! (examples, coverage, fuzzing and stateful phases) and checks every answer against the
//! document. Its findings are reported, counted by kind: 5xx answers (ST101), answers that break
//! the document (status, content type, body schema: ST103-ST111), and requests whose acceptance
//! differs from the document (ST201-ST205). A 5xx fails the harness (bad input must get a clear
//! 4xx, and the harness waits until the provider takes writes, so no 503 is expected), as does
//! what fails every harness (a panic, a node that exits, a store that no longer verifies,
//! equivocation evidence); the document's mismatches are findings reported for the API's
//! owners (the hand-written document is replaced by a generated one in issue 17).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::Ctx;
use crate::cluster::{Cluster, Spec};
use crate::load::Load;
use crate::outcome::{Outcome, Stage, new_cluster};
use crate::reaper;

/// What the harness tests, in a line.
pub const TITLE: &str = "the HTTP API fuzzed from its OpenAPI document (schemathesis)";

/// The harness up to the final checks (`outcome::run_harness` runs those).
pub fn scenario(ctx: &Ctx, stage: &mut Stage, outcome: &mut Outcome) -> Result<()> {
    let schemathesis = ctx
        .args
        .schemathesis
        .clone()
        .context("the api harness needs --schemathesis PATH (scripts/chaos.sh installs it)")?;
    let examples = ctx
        .args
        .api_examples
        .unwrap_or(if ctx.quick { 5 } else { 50 });
    let spec = Spec::new(2, 1);
    let cluster = stage
        .cluster
        .insert(new_cluster(ctx, &outcome.dir, spec, None)?);
    // Some records first, so reads have something to find.
    let mut load = Load::start(ctx.targets(cluster), ctx.load_shape(), ctx.seed);
    std::thread::sleep(Duration::from_secs(3));
    load.stop();
    let written = load.counts().acknowledged;
    stage.load = Some(load);
    wait_writable(cluster, "hospital-1")?;
    let node = cluster.node("hospital-1")?;
    let report = ctx.work.join("schemathesis-report.json");
    let log = ctx.work.join("schemathesis.log");
    let document = format!("{}/v1/openapi.json", node.api);
    outcome.step(format!(
        "2 providers + 1 auditor on loopback, {written} records written; schemathesis on hospital-1 ({document}), all checks, {examples} examples per operation, seed {}",
        ctx.seed % 1_000_000
    ));
    let limit = Duration::from_secs(if ctx.quick { 300 } else { 600 });
    let mut child = Command::new(&schemathesis)
        .args(["run", &document, "--url", &node.api])
        .args(["-H", &format!("Authorization: Bearer {}", node.token())])
        .args(["-H", "X-Medchain-Actor: chaos-api-fuzzer"])
        .args(["--checks", "all", "--suppress-health-check", "all"])
        // A mismatch of the document found early must not end an operation's cases before a
        // 5xx later in them is found.
        .arg("--continue-on-failure")
        .args(["--max-examples", &examples.to_string()])
        .args(["--seed", &(ctx.seed % 1_000_000).to_string()])
        .args(["--request-timeout", "60", "--max-time"])
        .arg(limit.as_secs().saturating_sub(30).max(30).to_string())
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .env("NO_COLOR", "1")
        // schemathesis keeps a cache in .schemathesis/ of its working directory: not the repo.
        .current_dir(&ctx.work)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(Stdio::from(std::fs::File::create(
            ctx.work.join("schemathesis.err"),
        )?))
        .spawn()
        .with_context(|| format!("cannot run {}", schemathesis.display()))?;
    reaper::add_pid(child.id());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            reaper::remove_pid(child.id());
            bail!("schemathesis did not finish within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    reaper::remove_pid(child.id());
    let text = std::fs::read_to_string(&report).with_context(|| {
        format!(
            "schemathesis ({status}) wrote no report; see {}",
            log.display()
        )
    })?;
    let report: Value = serde_json::from_str(&text).context("unreadable schemathesis report")?;
    // A report of another shape would read as "no finding": refuse it instead.
    let generated = report["test_cases"]["generated"].as_u64().unwrap_or(0);
    let Some(failures) = report["failures"].as_array() else {
        bail!(
            "the schemathesis report has no failures list; see {}",
            log.display()
        );
    };
    if generated == 0 {
        bail!("schemathesis generated no test case; see {}", log.display());
    }
    if !status.success() && failures.is_empty() {
        bail!(
            "schemathesis failed ({status}) with no finding in its report; see {}",
            log.display()
        );
    }
    summarise(outcome, &report, &log);
    Ok(())
}

/// Waits until `name` takes writes (a 503 while paused would count as a 5xx).
fn wait_writable(cluster: &Cluster, name: &str) -> Result<()> {
    let node = cluster.node(name)?;
    medchain_testnet::wait_for(
        &format!("{name}'s writes to resume"),
        Duration::from_secs(60),
        || -> Result<bool> {
            Ok(cluster.net.get_json(node, "/v1/status")?["writes_paused"].is_null())
        },
    )?;
    Ok(())
}

/// Counts schemathesis's findings by kind into the outcome.
fn summarise(outcome: &mut Outcome, report: &Value, log: &std::path::Path) {
    let cases = &report["test_cases"];
    let operations = &report["operations"];
    outcome.step(format!(
        "schemathesis {}: {} operations tested, {} test cases generated in {:.0} s, {} with failures ({} unique); log {}",
        report["schemathesis_version"].as_str().unwrap_or("?"),
        operations["tested"],
        cases["generated"],
        report["running_time"].as_f64().unwrap_or(0.0),
        cases["with_failures"],
        cases["unique_failures"],
        log.display()
    ));
    let mut server_errors = 0;
    let mut response_violations = 0;
    let mut request_mismatches = 0;
    let mut rows = Vec::new();
    for failure in report["failures"].as_array().into_iter().flatten() {
        let code = failure["code"].as_str().unwrap_or("?");
        let count = failure["count"].as_u64().unwrap_or(0);
        let ops: Vec<&str> = failure["operations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let kind = match code {
            "ST101" => {
                server_errors += count;
                "5xx"
            }
            c if c.starts_with("ST1") => {
                response_violations += count;
                "answer breaks the document"
            }
            _ => {
                request_mismatches += count;
                "acceptance differs from the document"
            }
        };
        let title = failure["title"].as_str().unwrap_or("?");
        outcome.step(format!(
            "  {code} {title} ({kind}): {count}, in {}",
            ops.join(", ")
        ));
        rows.push(json!({ "code": code, "title": title, "count": count, "operations": ops }));
    }
    for error in report["errors"].as_array().into_iter().flatten().take(5) {
        outcome.step(format!("  schemathesis error: {error}"));
    }
    outcome.step(format!(
        "{server_errors} answers 5xx, {response_violations} answers breaking the document, {request_mismatches} requests whose acceptance differs from it (the document's mismatches are reported)"
    ));
    if server_errors > 0 {
        outcome.failures.push(format!(
            "{server_errors} requests got a 5xx answer: bad input must get a clear 4xx (see {})",
            log.display()
        ));
    }
    outcome.figure("api_5xx", server_errors);
    outcome.figure("api_response_violations", response_violations);
    outcome.figure("api_request_mismatches", request_mismatches);
    outcome.figure("api_test_cases", cases["generated"].clone());
    outcome.figure("api_findings", json!(rows));
}
