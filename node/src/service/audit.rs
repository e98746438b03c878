//! Where reads are recorded: the audit trail the paper's conclusion asks for.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use medchain_protocol::{EntryRef, PatientRef, RecordId};

/// How a node records reads.
#[derive(Debug)]
pub enum AuditTrail {
    /// As `access` entries on our own chain (provider nodes; the default).
    Chain,
    /// As JSON lines in a local file (auditor nodes, which write to no chain).
    LocalLog(AuditLog),
    /// Not at all (configuration choice; discouraged).
    Off,
}

/// An append-only JSON-lines file of reads.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    lock: Mutex<()>,
}

impl AuditLog {
    /// A log appending to `path` (created on first use).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Appends one read, flushed to disk before returning. The patient appears only as its
    /// pseudonym.
    pub fn append(
        &self,
        actor: &str,
        record: RecordId,
        patient: PatientRef,
        version: EntryRef,
        time_ms: u64,
    ) -> std::io::Result<()> {
        let line = serde_json::json!({
            "time_ms": time_ms,
            "actor": actor,
            "record": record,
            "patient": patient,
            "version": version.to_string(),
        });
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{line}")?;
        file.sync_data()
    }
}
