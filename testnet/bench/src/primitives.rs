//! Primitive baselines on this machine, in this run: Ed25519 verifications, blake3 over records,
//! and sled inserts of the same bytes. Each end-to-end figure is reported beside the bound these
//! imply (see `bounds`), so a run on a slower or busier machine still reads as a ratio.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::Serialize;

/// Primitive rates, single-threaded, per second.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Primitives {
    /// Ed25519 signature verifications of a block-header-sized message.
    pub ed25519_verifies_per_s: f64,
    /// blake3 hashes of one record's payload.
    pub blake3_records_per_s: f64,
    /// blake3 throughput, MiB/s.
    pub blake3_mib_per_s: f64,
    /// sled inserts of one record's payload under a 32-byte key, flushed once per 1024 inserts
    /// (one full block's worth).
    pub sled_inserts_per_s: f64,
    /// The record size used, bytes.
    pub record_bytes: usize,
}

/// How long each primitive runs.
const RUN: Duration = Duration::from_millis(1500);

/// Measures every primitive on `record` (a payload of the size the load uses).
pub fn measure(record: &[u8], scratch: &std::path::Path) -> Result<Primitives> {
    Ok(Primitives {
        ed25519_verifies_per_s: ed25519()?,
        blake3_records_per_s: blake3(record),
        blake3_mib_per_s: blake3(record) * record.len() as f64 / f64::from(1 << 20),
        sled_inserts_per_s: sled(record, scratch)?,
        record_bytes: record.len(),
    })
}

/// Runs `step` in a loop for [`RUN`]; returns steps per second.
fn rate(mut step: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < RUN {
        for _ in 0..64 {
            step(n);
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn ed25519() -> Result<f64> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| anyhow::anyhow!("cannot generate an Ed25519 key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("cannot load the Ed25519 key"))?;
    // About the size of a signed block header with a few witnesses.
    let message = vec![0x5a_u8; 256];
    let signature = pair.sign(&message);
    let public = UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec());
    let mut failures = 0u64;
    let per_s = rate(|_| {
        if public.verify(&message, signature.as_ref()).is_err() {
            failures += 1;
        }
    });
    anyhow::ensure!(failures == 0, "the Ed25519 baseline failed to verify");
    Ok(per_s)
}

fn blake3(record: &[u8]) -> f64 {
    let mut sink = 0u8;
    let per_s = rate(|_| sink ^= blake3::hash(record).as_bytes()[0]);
    std::hint::black_box(sink);
    per_s
}

fn sled(record: &[u8], scratch: &std::path::Path) -> Result<f64> {
    let path = scratch.join("sled-baseline");
    let _ = std::fs::remove_dir_all(&path);
    let db = sled::Config::new()
        .path(&path)
        .cache_capacity(64 << 20)
        .open()
        .with_context(|| format!("cannot open a sled baseline at {}", path.display()))?;
    let tree = db.open_tree("payloads")?;
    let mut failed = None;
    let per_s = rate(|n| {
        let key = blake3::hash(&n.to_be_bytes());
        if let Err(e) = tree.insert(key.as_bytes(), record) {
            failed = Some(e);
        }
        if n % 1024 == 1023
            && let Err(e) = tree.flush()
        {
            failed = Some(e);
        }
    });
    drop(tree);
    drop(db);
    let _ = std::fs::remove_dir_all(&path);
    match failed {
        Some(e) => Err(e).context("sled baseline"),
        None => Ok(per_s),
    }
}
