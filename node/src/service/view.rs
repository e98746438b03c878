//! What reads answer: serialisable views of records, versions and chains.

use medchain_chain::provenance::Version;
use medchain_protocol::{BlockHash, ChainHead, EntryRef, PatientRef, RecordId};
use serde::Serialize;

/// `POST /v1/records` answer.
#[derive(Debug, Serialize)]
pub struct RecordWritten {
    /// The record (new, or the one acted on).
    pub record: RecordId,
    /// Where the entry is.
    pub entry: EntryRef,
    /// The block holding it, flushed to disk before this answer.
    pub block: BlockHash,
}

/// `GET /v1/records/{id}` answer: the latest version and its payload.
#[derive(Debug, Serialize)]
pub struct RecordView {
    /// The record.
    pub record: RecordId,
    /// The patient, by pseudonym.
    pub patient: PatientRef,
    /// The latest version (access entries excluded).
    pub latest: Version,
    /// How many versions it has.
    pub versions: usize,
    /// Whether it has been disposed of.
    pub disposed: bool,
    /// The latest version's payload, when this node holds it and it is JSON.
    pub payload: Option<serde_json::Value>,
    /// Why `payload` is absent, if it is.
    pub payload_note: Option<&'static str>,
}

/// One line of `POST /v1/patients/records`.
#[derive(Debug, Serialize)]
pub struct PatientRecord {
    /// The record.
    pub record: RecordId,
    /// Its entries for this patient, in chain order.
    pub entries: Vec<EntryRef>,
}

/// One chain as `GET /v1/chains` lists it.
#[derive(Debug, Serialize)]
pub struct ChainView {
    /// The head this node holds.
    #[serde(flatten)]
    pub head: ChainHead,
    /// The provider organisation, from its genesis certificate.
    pub org: Option<String>,
    /// Key backups held of the chain (one per block with payloads, made by its provider for its
    /// offline recovery key; no node but that provider can open them).
    pub key_backups: usize,
}

/// One access entry of a record (an audited read).
#[derive(Debug, Serialize)]
pub struct AccessView {
    /// Where the access entry is.
    pub at: EntryRef,
    /// Who read.
    pub actor: String,
    /// When (the block's time), ms since the epoch.
    pub time_ms: u64,
    /// The version read.
    pub version: Option<medchain_protocol::Parent>,
}

/// `GET /v1/records/{id}/accesses` answer.
#[derive(Debug, Serialize)]
pub struct AccessPage {
    /// The record.
    pub record: RecordId,
    /// How many access entries it has in all (counted up to 10,000; see `total_at_least`).
    pub total: u64,
    /// Whether it has more than were counted.
    pub total_at_least: bool,
    /// This page.
    pub accesses: Vec<AccessView>,
    /// Where the next page starts (`after=`), if there may be one.
    pub next: Option<String>,
}
