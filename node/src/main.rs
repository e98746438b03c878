//! `medchain`: the hospital node's daemon and command-line tool.
//!
//! Today it holds the consortium's certificate authority commands (`medchain ca ...`); the daemon
//! (`medchain init`, `medchain run`) and the API client commands arrive with issues 5 and 6.
//!
//! Layout: [`cli`] defines the command line; each module under [`commands`] runs one command
//! group; [`files`] does the careful file handling (secret keys are written with mode 0600 and
//! never overwritten); [`service`] is what the API asks of the ledger (writes, audited reads).

mod cli;
mod commands;
mod files;
// The API and the service layer are exercised by their tests today; the daemon (`medchain run`,
// issue 5) is their caller.
#[cfg_attr(not(test), allow(dead_code))]
mod api;
#[cfg_attr(not(test), allow(dead_code))]
mod service;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
