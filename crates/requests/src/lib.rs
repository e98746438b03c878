//! `medchain-requests`: what API clients send, decoded and checked before anything else sees it.
//!
//! The HTTP API (in the node) deserialises its JSON bodies into these types and calls their
//! checks; nothing here knows HTTP, the ledger or the daemon. They live in a crate of their own
//! so that the fuzzer (`crates/fuzz-harness`, target `api_bodies`) runs the very code the API
//! runs on outside bytes.
//!
//! - [`write`]: `POST /v1/records` and `/v1/records/batch`, and how a record write becomes an
//!   entry draft (the patient identifier pseudonymised at once, the payload checked);
//! - [`patient`]: `POST /v1/patients/records`, the patient lookup;
//! - [`admin`]: `POST /v1/admin/writes/resume`, an operator lifting a pause of writes.

pub mod admin;
pub mod patient;
pub mod write;

pub use admin::Resume;
pub use patient::PatientQuery;
pub use write::{DEFAULT_CONTENT_TYPE, MAX_RECORDS_PER_BATCH, NewRecord, NewRecords, parse_parent};

/// Why a request body was refused. The messages go to the client as they are: they never
/// contain the patient identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Access entries come from audited reads only.
    #[error("access entries are written by reads, not submitted")]
    AccessSubmitted,
    /// A grant, revoke or erase submitted as a record write: those change who may read a
    /// record, and are not record versions.
    #[error(
        "{0} entries are not record writes: granting, revoking and erasing take requests of their own, not yet served by this build"
    )]
    AccessControlSubmitted(medchain_protocol::EntryKind),
    /// The patient identifier cannot be pseudonymised (empty, too long, not text).
    #[error("patient: {0}")]
    Patient(medchain_protocol::patient::PatientError),
    /// A kind that carries a payload came without one.
    #[error("{0} needs a payload")]
    PayloadMissing(medchain_protocol::EntryKind),
    /// A kind without a payload came with one.
    #[error("{0} takes no payload")]
    PayloadNotTaken(medchain_protocol::EntryKind),
    /// The payload does not serialise.
    #[error("payload: {0}")]
    Payload(String),
    /// The payload's media type is not JSON.
    #[error("this API takes JSON payloads: content_type must be application/json or a +json type")]
    NotJson,
    /// A FHIR payload that is not a resource.
    #[error("an application/fhir+json payload must be a JSON object with a string resourceType")]
    NotFhirResource,
    /// A parent reference that does not parse.
    #[error("parent {text:?}: {reason}")]
    Parent {
        /// The reference as sent.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A patient identifier that is not printable ASCII (the API document's rule: what it
    /// promises is what is taken).
    #[error("patient: the identifier must be printable ASCII (spaces around it are ignored)")]
    PatientNotAscii,
    /// A field that must be printable ASCII without surrounding space is not.
    #[error("{field} must be 1 to {max} printable ASCII characters without surrounding space")]
    NotAscii {
        /// The field.
        field: &'static str,
        /// Its longest allowed length.
        max: usize,
    },
    /// A record write whose kind, record, parents or patient break the rules of its shape.
    #[error("{0}")]
    Shape(String),
    /// A batch that is empty or too large.
    #[error("a batch holds 1 to {MAX_RECORDS_PER_BATCH} records")]
    BatchSize,
    /// A field that must be printable text of a bounded length is not.
    #[error("{field} must be 1 to {max} bytes of printable text")]
    NotPrintable {
        /// The field.
        field: &'static str,
        /// Its longest allowed length in bytes.
        max: usize,
    },
}

/// Whether `text` is printable ASCII (spaces included).
pub(crate) fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// Whether `text` is 1 to `max` printable ASCII characters with no space at either end.
pub(crate) fn is_ascii_text(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && is_printable_ascii(text)
        && !text.starts_with(' ')
        && !text.ends_with(' ')
}
