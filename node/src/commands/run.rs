//! `medchain run`: the daemon.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{LogFormat, Run};
use crate::config::Config;

/// Runs the daemon until SIGINT or SIGTERM; exit 0 after a clean shutdown.
pub fn run(args: &Run, log_format: LogFormat) -> Result<ExitCode> {
    crate::daemon::logging::init(log_format);
    let config = Config::load(&args.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(crate::daemon::run(config))?;
    Ok(ExitCode::SUCCESS)
}
