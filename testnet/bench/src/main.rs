//! medchain-bench: end-to-end benchmark of a running local testnet (started by
//! `scripts/bench.sh`), beside primitive baselines measured in the same run.
//!
//! Phases, in order: primitive baselines (Ed25519, blake3, sled); the peer side by side
//! (medchain's ledger and hypercore appending the same entries on one node); sustained throughput (records
//! committed on every node, closed loop); latency from submit to visible on every node at a
//! fixed offered load (open loop); filling the network to the catch-up size; peak RSS of every
//! node; catch-up of a fresh auditor; a full verifier scan; and repair of corrupted blocks
//! (detection to restored). Writes a JSON result and prints a table with each figure's goal and
//! the bound the primitives imply.

mod load;
mod peers;
mod phases;
mod primitives;
mod recovery;
mod report;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Benchmarks a running local testnet.
#[derive(Debug, Clone, Parser)]
#[command(name = "medchain-bench", version)]
pub struct Args {
    /// The testnet's state directory (written by `scripts/testnet.sh up`).
    #[arg(long)]
    testnet: PathBuf,
    /// The testnet script (used to stop and start nodes).
    #[arg(long, default_value = "scripts/testnet.sh")]
    script: PathBuf,
    /// The medchain binary (for `maintenance tamper-block`).
    #[arg(long, default_value = "target/release/medchain")]
    medchain: PathBuf,
    /// Where to write the JSON result.
    #[arg(long)]
    out: PathBuf,
    /// The short run (under 2 minutes): shorter phases and a smaller network for catch-up.
    #[arg(long)]
    quick: bool,
    /// Concurrent clients of the throughput phase.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Records per request (1 = `POST /v1/records`; more = `POST /v1/records/batch`).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Payload size of one record, bytes.
    #[arg(long, default_value_t = 1024)]
    record_bytes: usize,
    /// Seconds of the throughput phase (default 30; 8 with --quick).
    #[arg(long)]
    seconds: Option<u64>,
    /// Offered load of the latency phase, records/s (default: half the measured throughput, at
    /// most 10,000: half the 20,000 records/s goal).
    #[arg(long)]
    rate: Option<f64>,
    /// Records per request in the latency phase (default: as --batch, so the load is half the
    /// measured throughput in the same shape; 1 measures single clinicians' writes).
    #[arg(long)]
    latency_batch: Option<usize>,
    /// Records the network holds when the fresh auditor joins (default 1,000,000; 100,000
    /// with --quick).
    #[arg(long)]
    catch_up_records: Option<u64>,
    /// Consecutive blocks corrupted in the repair phase.
    #[arg(long, default_value_t = 100)]
    corrupt_blocks: u64,
    /// Only the peer comparison (medchain's ledger and hypercore on one node), for SECONDS (default
    /// 4) per system and batch size, in a scratch directory under --testnet; prints its lines.
    #[arg(long)]
    peers_only: bool,
    /// Poll period of the visibility watcher, ms (the resolution of the latency figures).
    #[arg(long, default_value_t = 5)]
    poll_ms: u64,
}

impl Args {
    fn throughput_time(&self) -> Duration {
        Duration::from_secs(self.seconds.unwrap_or(if self.quick { 8 } else { 30 }))
    }

    fn latency_time(&self) -> Duration {
        Duration::from_secs(if self.quick { 8 } else { 20 })
    }

    fn catch_up_records(&self) -> u64 {
        self.catch_up_records
            .unwrap_or(if self.quick { 100_000 } else { 1_000_000 })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.peers_only {
        let record = load::payload(0, args.record_bytes).to_string().into_bytes();
        let run = Duration::from_secs(args.seconds.unwrap_or(4));
        return match std::fs::create_dir_all(&args.testnet)
            .map_err(anyhow::Error::from)
            .and_then(|()| peers::measure(&record, run, &args.testnet))
        {
            Ok(rates) => {
                print!("{}", peers::lines(&rates));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match phases::run(&args) {
        Ok(result) => {
            print!("{}", report::table(&result));
            let json = serde_json::to_string_pretty(&result).unwrap_or_default();
            if let Err(e) = std::fs::write(&args.out, json + "\n") {
                eprintln!("bench: cannot write {}: {e}", args.out.display());
                return ExitCode::FAILURE;
            }
            println!("\nresult written to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
