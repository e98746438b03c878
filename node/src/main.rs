//! `medchain`: the hospital node's daemon and command-line tool.
//!
//! It holds the consortium's certificate authority commands (`medchain ca ...`), node set-up
//! (`medchain init`) and the daemon (`medchain run`: the HTTP API over the ledger, the scheduled
//! verifier, the network layer) and the API client commands.
//!
//! Layout: [`cli`] defines the command line; each module under [`commands`] runs one command
//! group; [`files`] does the careful file handling (secret keys are written with mode 0600 and
//! never overwritten); [`config`] is the TOML configuration; [`service`] is what the API asks of
//! the ledger (writes, audited reads, and the daemon's ledger operations by name); [`api`] is
//! the HTTP API; [`daemon`] holds the daemon's parts (start-up, the network glue, the verifier
//! schedule, the revocation-list watch); [`flows`] holds what both the API and the daemon run
//! (block intake, the integrity check); [`tls`] is TLS on the API (rustls with ring, and a local
//! CA for testnets); [`coordination`] is what one run's tasks signal to one
//! another; `commands::run` is the composition root, the one module that wires the daemon and
//! the API together.

mod api;
mod cli;
mod commands;
mod config;
mod coordination;
mod daemon;
mod files;
mod flows;
mod metrics;
mod node_key;
mod object_storage;
mod service;
mod tls;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc instead of glibc malloc: glibc's malloc and free were a quarter to a third of the
/// nodes' CPU in profiles (sled allocates for every page it materialises), and its arenas held
/// freed memory; see docs/performance.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
