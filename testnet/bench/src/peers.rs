//! The peer, side by side: the same entries (the load's records, 1 KiB by default) appended in
//! batches of 1, 64 and 256 through medchain's ledger on one node and through the Rust
//! `hypercore` crate with disk storage, in this run, on this machine, each for the same time.
//!
//! medchain's append is the whole authoring path a record write takes on a provider, without
//! the HTTP API and the network: seal each payload under a data key of its own, sign the
//! block, validate it as a peer would, store payloads, keys, block and indexes, flush (durable
//! on return). hypercore's is `append_batch` on `Storage::new_disk` (its files synced on every
//! write: durable on return too). Each batch is one block, and one `append_batch`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use medchain_chain::{Author, EntryDraft, KeyRing, Ledger, PayloadDraft, Trust};
use medchain_protocol::identity::{self, Consortium, MemberKey, Role, SystemRandom};
use medchain_protocol::sealed::{SecretKey, WrappingKey};
use medchain_protocol::{EntryKind, PatientRef, PseudonymKey};
use serde::Serialize;

/// The batch sizes compared.
pub const BATCHES: [usize; 3] = [1, 64, 256];

/// One batch size's rates.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRates {
    /// Entries per append (one block; one `append_batch`).
    pub batch: usize,
    /// medchain's ledger, entries appended per second (sealed, signed, validated, durable).
    pub medchain_entries_per_s: f64,
    /// hypercore on disk, entries appended per second (durable).
    pub hypercore_entries_per_s: f64,
    /// medchain / hypercore.
    pub ratio: f64,
}

/// Every batch size's rates, by name (`batch_1`, `batch_64`, `batch_256`).
pub type Peers = BTreeMap<String, PeerRates>;

/// Appends `record` in each batch size for `run` through each system, in `scratch`.
pub fn measure(record: &[u8], run: Duration, scratch: &Path) -> Result<Peers> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("cannot start a runtime for hypercore")?;
    let mut peers = Peers::new();
    for batch in BATCHES {
        let dir = tempfile::tempdir_in(scratch)?;
        let medchain = medchain_rate(record, batch, run, &dir.path().join("medchain"))?;
        let hypercore = runtime.block_on(hypercore_rate(
            record,
            batch,
            run,
            &dir.path().join("hypercore"),
        ))?;
        peers.insert(
            format!("batch_{batch}"),
            PeerRates {
                batch,
                medchain_entries_per_s: medchain,
                hypercore_entries_per_s: hypercore,
                ratio: medchain / hypercore.max(f64::MIN_POSITIVE),
            },
        );
    }
    Ok(peers)
}

/// The smallest medchain / hypercore ratio over the batch sizes.
pub fn worst_ratio(peers: &Peers) -> f64 {
    peers
        .values()
        .map(|p| p.ratio)
        .fold(f64::INFINITY, f64::min)
}

/// One line per batch size, for the table.
pub fn lines(peers: &Peers) -> String {
    let mut rates: Vec<&PeerRates> = peers.values().collect();
    rates.sort_by_key(|p| p.batch);
    rates
        .into_iter()
        .map(|p| {
            format!(
                "append, batches of {:>3}: medchain {:>8.0} entries/s, hypercore {:>8.0} entries/s, ratio {:.1}\n",
                p.batch, p.medchain_entries_per_s, p.hypercore_entries_per_s, p.ratio
            )
        })
        .collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A provider of its own consortium with an empty store at `dir`.
fn provider(dir: &Path) -> Result<(Ledger, Author)> {
    let now = (now_ms() / 1000) as i64;
    let rng = SystemRandom::new();
    let ca = identity::create_root_ca("Bench Consortium", now - 86_400, 3650, &rng)?;
    let member = identity::issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        "Hospital A",
        now - 86_400,
        365,
        &rng,
    )?;
    let trust = Trust::new(Consortium::new(ca.cert_der.clone(), vec![])?);
    let mut wrapping = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut wrapping)
        .map_err(|_| anyhow!("the system random number generator failed"))?;
    let author = Author::new(
        MemberKey::from_pkcs8_der(&member.key_pkcs8_der)?,
        member.cert_der.clone(),
        KeyRing::new(WrappingKey::new(SecretKey::from_bytes(wrapping), 1)),
    )?;
    let store = medchain_store::Store::open(dir)?;
    Ok((Ledger::new(store, trust), author))
}

fn medchain_rate(record: &[u8], batch: usize, run: Duration, dir: &Path) -> Result<f64> {
    let (mut ledger, author) = provider(dir)?;
    let key = PseudonymKey::from_bytes([7; 32]);
    let patients: Vec<PatientRef> = (0..256)
        .map(|i| PatientRef::pseudonymise(&key, &format!("MRN-{i}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut appended = 0usize;
    while started.elapsed() < run {
        let drafts = (0..batch)
            .map(|i| EntryDraft {
                kind: EntryKind::Create,
                record: None,
                patient: patients[(appended + i) % patients.len()],
                actor: "dr-401542".into(),
                payload: Some(PayloadDraft {
                    bytes: record.to_vec().into(),
                    content_type: "application/fhir+json".into(),
                }),
                parents: vec![],
                terms: None,
            })
            .collect();
        ledger.author(&author, drafts, now_ms())?;
        appended += batch;
    }
    Ok(appended as f64 / started.elapsed().as_secs_f64())
}

async fn hypercore_rate(record: &[u8], batch: usize, run: Duration, dir: &Path) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let storage = hypercore::Storage::new_disk(&dir.to_path_buf(), true).await?;
    let mut core = hypercore::HypercoreBuilder::new(storage).build().await?;
    let entries: Vec<&[u8]> = vec![record; batch];
    let started = Instant::now();
    let mut appended = 0usize;
    while started.elapsed() < run {
        core.append_batch(&entries).await?;
        appended += batch;
    }
    Ok(appended as f64 / started.elapsed().as_secs_f64())
}
