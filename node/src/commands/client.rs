//! The client commands (`record`, `chain`, `status`, `peers`): thin calls to a node's HTTP API.
//!
//! Answers are printed as they come (pretty JSON, or text for histories). A refusal by the node
//! prints its error message and exits with status 1; failing to reach the node exits with 2.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cli::{ChainCommand, Connect, RecordAdd, RecordCommand, WritesCommand};
use crate::config::Config;

/// A node's API, reached with its token.
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// An answer: status and body.
struct Answer {
    status: u16,
    body: String,
}

impl Api {
    fn connect(connect: &Connect) -> Result<Self> {
        let (base, token_file, ca) = match (&connect.config, &connect.api, &connect.token_file) {
            (Some(path), None, None) => {
                let config = Config::load(path)?;
                (
                    config.api.local_url(),
                    config.api.token_file,
                    connect.api_ca.clone().or(config.api.tls_ca),
                )
            }
            (None, Some(api), Some(token)) => (
                api.trim_end_matches('/').to_owned(),
                token.clone(),
                connect.api_ca.clone(),
            ),
            _ => bail!(
                "say how to reach the node: --config FILE, or --api URL with --token-file FILE"
            ),
        };
        let token = std::fs::read_to_string(&token_file)
            .with_context(|| format!("cannot read the API token {}", token_file.display()))?
            .trim()
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .tls_config(crate::tls::client_config(ca.as_deref())?)
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Ok(Self { base, token, agent })
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        actor: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("POST", Some(body)) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            ("POST", None) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .send_empty(),
            ("DELETE", _) => {
                let request = self.agent.delete(&url).header("Authorization", &auth);
                match actor {
                    Some(actor) => request.header("X-Medchain-Actor", actor).call(),
                    None => request.call(),
                }
            }
            _ => {
                let request = self.agent.get(&url).header("Authorization", &auth);
                match actor {
                    Some(actor) => request.header("X-Medchain-Actor", actor).call(),
                    None => request.call(),
                }
            }
        };
        let mut response =
            response.with_context(|| format!("cannot reach the node at {}", self.base))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .context("cannot read the node's answer")?;
        Ok(Answer { status, body })
    }
}

/// Prints an answer; a refusal prints the node's error and gives status 1.
fn print(answer: Answer) -> ExitCode {
    if (200..300).contains(&answer.status) {
        match serde_json::from_str::<Value>(&answer.body) {
            Ok(json) => println!(
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or(answer.body)
            ),
            Err(_) => print!("{}", answer.body),
        }
        return ExitCode::SUCCESS;
    }
    let message = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or(answer.body);
    eprintln!("refused ({}): {message}", answer.status);
    ExitCode::FAILURE
}

/// `status`, `peers`.
pub fn get_json(connect: &Connect, path: &str) -> Result<ExitCode> {
    Ok(print(Api::connect(connect)?.call("GET", path, None, None)?))
}

/// `record add|get|history`.
pub fn record(command: RecordCommand) -> Result<ExitCode> {
    match command {
        RecordCommand::Add(args) => {
            let api = Api::connect(&args.connect)?;
            let body = add_body(&args)?;
            Ok(print(api.call("POST", "/v1/records", None, Some(&body))?))
        }
        RecordCommand::Get(args) => {
            let api = Api::connect(&args.connect)?;
            Ok(print(api.call(
                "GET",
                &format!("/v1/records/{}", args.id),
                Some(&args.actor),
                None,
            )?))
        }
        RecordCommand::History(args) => {
            let api = Api::connect(&args.connect)?;
            let path = format!("/v1/records/{}/history?format={}", args.id, args.format);
            Ok(print(api.call("GET", &path, Some(&args.actor), None)?))
        }
        RecordCommand::Grant(args) => {
            let api = Api::connect(&args.connect)?;
            let body =
                serde_json::json!({"to": args.to, "patient": args.patient, "actor": args.actor});
            let path = format!("/v1/records/{}/grants", path_segment(&args.id));
            Ok(print(api.call("POST", &path, None, Some(&body))?))
        }
        RecordCommand::Revoke(args) => {
            let api = Api::connect(&args.connect)?;
            let path = format!(
                "/v1/records/{}/grants/{}{}",
                path_segment(&args.id),
                path_segment(&args.org),
                if args.patient { "?patient=true" } else { "" }
            );
            Ok(print(api.call("DELETE", &path, Some(&args.actor), None)?))
        }
        RecordCommand::Erase(args) => {
            let api = Api::connect(&args.connect)?;
            let body = serde_json::json!({"patient": args.patient, "actor": args.actor});
            let path = format!("/v1/records/{}/erase", path_segment(&args.id));
            Ok(print(api.call("POST", &path, None, Some(&body))?))
        }
        RecordCommand::Proof(args) => {
            let api = Api::connect(&args.connect)?;
            let mut path = format!("/v1/records/{}/proof", path_segment(&args.id));
            if let Some(entry) = &args.entry {
                path.push_str(&format!("?entry={}", path_segment(entry)));
            }
            let answer = api.call("GET", &path, Some(&args.actor), None)?;
            if !(200..300).contains(&answer.status) {
                return Ok(print(answer));
            }
            if args.out.as_os_str() == "-" {
                print!("{}", answer.body);
            } else {
                std::fs::write(&args.out, &answer.body)
                    .with_context(|| format!("cannot write {}", args.out.display()))?;
                eprintln!("proof saved to {}", args.out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        RecordCommand::Grants(args) => {
            let api = Api::connect(&args.connect)?;
            let path = format!("/v1/records/{}/grants", path_segment(&args.id));
            Ok(print(api.call("GET", &path, None, None)?))
        }
    }
}

/// `text` percent-encoded as one URL path segment (an organisation name holds spaces).
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn add_body(args: &RecordAdd) -> Result<Value> {
    let payload = match &args.payload {
        None => None,
        Some(path) => {
            let mut text = String::new();
            if path.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the payload from standard input")?;
            } else {
                text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
            Some(serde_json::from_str::<Value>(&text).context("the payload is not JSON")?)
        }
    };
    let mut body = json!({
        "kind": args.kind,
        "patient": args.patient,
        "actor": args.actor,
        "parents": args.parents,
    });
    for (key, value) in [
        ("payload", payload),
        ("content_type", args.content_type.clone().map(Value::String)),
        ("record", args.record.clone().map(Value::String)),
    ] {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    Ok(body)
}

/// `writes resume`.
pub fn writes(command: WritesCommand) -> Result<ExitCode> {
    match command {
        WritesCommand::Resume(args) => {
            let api = Api::connect(&args.connect)?;
            let body = json!({ "actor": args.actor, "reason": args.reason });
            Ok(print(api.call(
                "POST",
                "/v1/admin/writes/resume",
                None,
                Some(&body),
            )?))
        }
    }
}

/// `chain list|verify`.
pub fn chain(command: ChainCommand) -> Result<ExitCode> {
    match command {
        ChainCommand::List(connect) => get_json(&connect, "/v1/chains"),
        ChainCommand::Verify(connect) => {
            let answer = Api::connect(&connect)?.call("POST", "/v1/verify", None, None)?;
            let clean = serde_json::from_str::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["violations"].as_array().map(Vec::is_empty));
            let code = print(answer);
            Ok(if clean == Some(false) {
                ExitCode::FAILURE
            } else {
                code
            })
        }
    }
}
