//! What reads answer: serialisable views of records, versions and chains.

use medchain_chain::provenance::Version;
use medchain_protocol::{BlockHash, ChainHead, EntryRef, PatientRef, RecordId};
use serde::Serialize;
use utoipa::ToSchema;

/// `POST /v1/records` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordWritten {
    /// The record (new, or the one acted on).
    #[schema(value_type = String, pattern = "^[0-9a-f]{32}$")]
    pub record: RecordId,
    /// Where the entry is.
    #[schema(value_type = crate::api::doc::EntryRefDoc)]
    pub entry: EntryRef,
    /// The block holding it, flushed to disk before this answer.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub block: BlockHash,
}

/// `GET /v1/records/{id}` answer: the latest version and its payload.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordView {
    /// The record.
    #[schema(value_type = String, pattern = "^[0-9a-f]{32}$")]
    pub record: RecordId,
    /// The patient, by pseudonym.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub patient: PatientRef,
    /// The latest version (access entries excluded).
    #[schema(value_type = Object)]
    pub latest: Version,
    /// How many versions it has.
    pub versions: usize,
    /// Whether it has been disposed of.
    pub disposed: bool,
    /// The latest version's payload, when this node holds it and it is JSON.
    pub payload: Option<serde_json::Value>,
    /// Why `payload` is absent, if it is.
    #[schema(value_type = Option<String>)]
    pub payload_note: Option<&'static str>,
}

/// One line of `POST /v1/patients/records`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientRecord {
    /// The record.
    #[schema(value_type = String, pattern = "^[0-9a-f]{32}$")]
    pub record: RecordId,
    /// Its entries for this patient, in chain order.
    #[schema(value_type = Vec<crate::api::doc::EntryRefDoc>)]
    pub entries: Vec<EntryRef>,
}

/// One chain as `GET /v1/chains` lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainView {
    /// The head this node holds.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub head: ChainHead,
    /// The provider organisation, from its genesis certificate.
    pub org: Option<String>,
    /// Key backups held of the chain (one per block with payloads, made by its provider for its
    /// offline recovery key; no node but that provider can open them).
    pub key_backups: usize,
}

/// One access entry of a record (an audited read).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessView {
    /// Where the access entry is.
    #[schema(value_type = crate::api::doc::EntryRefDoc)]
    pub at: EntryRef,
    /// Who read.
    pub actor: String,
    /// When (the block's time), ms since the epoch.
    pub time_ms: u64,
    /// The version read.
    #[schema(value_type = Option<Object>)]
    pub version: Option<medchain_protocol::Parent>,
}

/// `GET /v1/records/{id}/accesses` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessPage {
    /// The record.
    #[schema(value_type = String, pattern = "^[0-9a-f]{32}$")]
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
