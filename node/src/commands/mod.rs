//! Runs a parsed command line: one module per command group.

pub mod ca;
mod client;
mod init;
pub mod maintenance;
mod proof;
pub mod recovery;
mod run;
pub mod tls;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs `cli`; the exit code says whether what was asked holds (e.g. a certificate is valid).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ca(command) => ca::run(command),
        Command::Init(args) => init::run(&args),
        Command::Run(args) => run::run(&args, cli.log_format),
        Command::Record(command) => client::record(command),
        Command::Proof(command) => proof::run(command),
        Command::Recovery(command) => recovery::run(command),
        Command::Chain(command) => client::chain(command),
        Command::Status(connect) => client::get_json(&connect, "/v1/status"),
        Command::Peers(connect) => client::get_json(&connect, "/v1/peers"),
        Command::Writes(command) => client::writes(command),
        Command::Maintenance(command) => maintenance::run(command),
        Command::Tls(command) => tls::run(command),
    }
}
