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

/// One line of `GET /v1/patients/{identifier}/records`.
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
}
