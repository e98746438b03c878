//! Record writes: the bodies of `POST /v1/records` and `POST /v1/records/batch`, and how a
//! record write becomes an entry draft.
//!
//! The patient identifier arrives in plaintext and is pseudonymised here, before anything else
//! sees it; it is never stored, logged or echoed. Payloads are JSON (FHIR is the usual case:
//! `application/fhir+json` must be a JSON object with a `resourceType`).

use medchain_chain::{EntryDraft, PayloadDraft};
use medchain_protocol::limits::MAX_PLAINTEXT_PAYLOAD_BYTES;
use medchain_protocol::{EntryKind, EntryRef, Parent, PatientRef, PseudonymKey, RecordId};
use serde::Deserialize;

use crate::RequestError;

/// A record write: `POST /v1/records`. Its `Debug` leaves the patient identifier and the
/// payload out, so no log line can carry them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// create, amend, derive, merge or dispose (access entries are written by reads).
    pub kind: EntryKind,
    /// The record acted on (amend, dispose); absent for kinds that create a record.
    #[serde(default)]
    pub record: Option<RecordId>,
    /// The patient's identifier in the hospital's own scheme (pseudonymised at once).
    pub patient: String,
    /// The payload's media type; `application/fhir+json` when absent.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The payload, a JSON document (required for kinds that carry one).
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    /// Parents: `chain/height/index` for an exact version, or a 32-hex-character record ID.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Who acts: the staff or system identifier of this hospital (a signed-in user may leave it
    /// out: they act as themselves).
    #[serde(default)]
    pub actor: String,
}

impl std::fmt::Debug for NewRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRecord")
            .field("kind", &self.kind)
            .field("record", &self.record)
            .field("patient", &"(withheld)")
            .field("content_type", &self.content_type)
            .field("payload", &self.payload.as_ref().map(|_| "(withheld)"))
            .field("parents", &self.parents)
            .field("actor", &self.actor)
            .finish()
    }
}

/// The content type assumed when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/fhir+json";

impl NewRecord {
    /// Checks what the API's document says of a record write before anything is done with it
    /// (a batch refuses a record that breaks these as a whole, 400): the kind's record, payload
    /// and parent count, the patient identifier (printable ASCII), the content type (JSON) and a
    /// FHIR payload's `resourceType`. What needs the store (does the record exist?) is checked
    /// when the entry is written.
    pub fn check_shape(&self) -> Result<(), RequestError> {
        let kind = self.kind;
        let (makes_record, parents) = match kind {
            EntryKind::Create => (true, 0..=0),
            EntryKind::Derive => (true, 1..=32),
            EntryKind::Merge => (true, 2..=32),
            EntryKind::Amend => (false, 1..=32),
            EntryKind::Dispose => (false, 0..=1),
            EntryKind::Access => return Err(RequestError::AccessSubmitted),
            other => return Err(RequestError::AccessControlSubmitted(other)),
        };
        if makes_record == self.record.is_some() {
            return Err(RequestError::Shape(if makes_record {
                format!("{kind} makes a record: it takes no record ID")
            } else {
                format!("{kind} acts on a record: it needs its record ID")
            }));
        }
        if !parents.contains(&self.parents.len()) {
            return Err(RequestError::Shape(format!(
                "{kind} takes {} to {} parents",
                parents.start(),
                parents.end()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for parent in &self.parents {
            if !is_parent_text(parent) || !seen.insert(parent) {
                return Err(RequestError::Shape(format!(
                    "parents must be distinct record IDs or chain/height/index (lowercase hex): {parent:?}"
                )));
            }
        }
        if !crate::is_printable_ascii(&self.patient) {
            return Err(RequestError::PatientNotAscii);
        }
        let trimmed = self.patient.trim_matches(' ').len();
        if !(1..=medchain_protocol::PatientRef::MAX_IDENTIFIER_LEN).contains(&trimmed) {
            return Err(RequestError::Shape(
                "patient: the identifier must be 1 to 256 characters".to_owned(),
            ));
        }
        if let Some(content_type) = &self.content_type
            && !is_json_content_type(content_type)
        {
            return Err(RequestError::NotJson);
        }
        match (kind.has_payload(), &self.payload) {
            (true, None) => return Err(RequestError::PayloadMissing(kind)),
            (false, Some(_)) => return Err(RequestError::PayloadNotTaken(kind)),
            _ => {}
        }
        let fhir = self
            .content_type
            .as_deref()
            .is_none_or(|t| t.split(';').next() == Some(DEFAULT_CONTENT_TYPE));
        if fhir
            && let Some(payload) = &self.payload
            && !payload
                .get("resourceType")
                .is_some_and(serde_json::Value::is_string)
        {
            return Err(RequestError::NotFhirResource);
        }
        Ok(())
    }

    /// The entry draft for this request, with the patient pseudonymised under `key`. The
    /// entry rules the draft must still meet (actor, content type and parent bounds) are
    /// checked where it gets its position, by the ledger.
    pub fn into_draft(self, key: &PseudonymKey) -> Result<EntryDraft, RequestError> {
        if self.kind == EntryKind::Access {
            return Err(RequestError::AccessSubmitted);
        }
        if self.kind.has_terms() {
            return Err(RequestError::AccessControlSubmitted(self.kind));
        }
        if !crate::is_printable_ascii(&self.patient) {
            return Err(RequestError::PatientNotAscii);
        }
        let patient =
            PatientRef::pseudonymise(key, &self.patient).map_err(RequestError::Patient)?;
        let payload = match (self.kind.has_payload(), self.payload) {
            (true, Some(json)) => Some(payload_draft(self.content_type, &json)?),
            (true, None) => return Err(RequestError::PayloadMissing(self.kind)),
            (false, Some(_)) => return Err(RequestError::PayloadNotTaken(self.kind)),
            (false, None) => None,
        };
        let parents = self
            .parents
            .iter()
            .map(|p| parse_parent(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EntryDraft {
            kind: self.kind,
            record: self.record,
            patient,
            actor: self.actor,
            payload,
            parents,
            terms: None,
        })
    }
}

fn payload_draft(
    content_type: Option<String>,
    json: &serde_json::Value,
) -> Result<PayloadDraft, RequestError> {
    let content_type = content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(RequestError::NotJson);
    }
    if essence == DEFAULT_CONTENT_TYPE
        && !json
            .get("resourceType")
            .is_some_and(serde_json::Value::is_string)
    {
        return Err(RequestError::NotFhirResource);
    }
    // A `Value` always serialises (its map keys are strings); these bytes are what the author
    // seals, and the block's payload hash covers the sealed form.
    let bytes = zeroize::Zeroizing::new(
        serde_json::to_vec(json).map_err(|e| RequestError::Payload(e.to_string()))?,
    );
    // The sealed form is the plaintext and a 16-byte tag: the protocol's limit is on that.
    if bytes.len() > MAX_PLAINTEXT_PAYLOAD_BYTES {
        return Err(RequestError::Payload(format!(
            "{} bytes, over the limit of {MAX_PLAINTEXT_PAYLOAD_BYTES}",
            bytes.len()
        )));
    }
    Ok(PayloadDraft {
        bytes,
        content_type,
    })
}

/// `chain/height/index` for an entry, or 32 hex characters for a record.
pub fn parse_parent(text: &str) -> Result<Parent, RequestError> {
    let refused = |reason: String| RequestError::Parent {
        text: text.to_owned(),
        reason,
    };
    if text.contains('/') {
        return text
            .parse::<EntryRef>()
            .map(Parent::Entry)
            .map_err(|e| refused(e.to_string()));
    }
    text.parse::<RecordId>()
        .map(Parent::Record)
        .map_err(|_| refused("expected chain/height/index or a record ID".to_owned()))
}

/// Most records in one `POST /v1/records/batch`.
pub const MAX_RECORDS_PER_BATCH: usize = 1024;

/// A batch import: `POST /v1/records/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecords {
    /// The records, each as `POST /v1/records` takes it.
    pub records: Vec<NewRecord>,
}

impl NewRecords {
    /// The records, once their number is checked: 1 to [`MAX_RECORDS_PER_BATCH`].
    pub fn into_records(self) -> Result<Vec<NewRecord>, RequestError> {
        if self.records.is_empty() || self.records.len() > MAX_RECORDS_PER_BATCH {
            return Err(RequestError::BatchSize);
        }
        Ok(self.records)
    }
}

/// A parent as the API's document spells it: 32 lowercase hex characters, or 64 lowercase hex
/// characters, a height of 1 to 19 digits and an index of 1 to 9 digits, slash-separated.
fn is_parent_text(text: &str) -> bool {
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let digits =
        |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let mut parts = text.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(record), None, None, None) => hex(record, 32),
        (Some(chain), Some(height), Some(index), None) => {
            hex(chain, 64) && digits(height, 19) && digits(index, 9)
        }
        _ => false,
    }
}

/// A JSON media type as the API's document spells it: `application/json` or `TYPE/SUBTYPE+json`
/// (tokens of letters, digits and `!#$&^_.+-`), then optionally `;` and printable ASCII; at most
/// 127 characters.
pub fn is_json_content_type(text: &str) -> bool {
    let (essence, params) = match text.split_once(';') {
        Some((essence, params)) => (essence, Some(params)),
        None => (text, None),
    };
    let token = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let json = essence == "application/json"
        || essence.split_once('/').is_some_and(|(kind, sub)| {
            !kind.is_empty() && token(kind) && sub.ends_with("+json") && token(sub)
        });
    text.len() <= 127 && json && params.is_none_or(crate::is_printable_ascii)
}
