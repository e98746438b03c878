//! What API clients send to write a record, and how it becomes an entry draft.
//!
//! The patient identifier arrives in plaintext and is pseudonymised here, before anything else
//! sees it; it is never stored, logged or echoed. Payloads are JSON (FHIR is the usual case:
//! `application/fhir+json` must be a JSON object with a `resourceType`).

use medchain_chain::{EntryDraft, PayloadDraft};
use medchain_protocol::{EntryKind, EntryRef, Parent, PatientRef, PseudonymKey, RecordId};
use serde::Deserialize;

use super::error::ServiceError;

/// A record write: `POST /v1/records`.
#[derive(Debug, Deserialize)]
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
    /// Who acts: the staff or system identifier of this hospital.
    pub actor: String,
}

/// The content type assumed when none is given.
pub const DEFAULT_CONTENT_TYPE: &str = "application/fhir+json";

impl NewRecord {
    /// The entry draft for this request, with the patient pseudonymised under `key`.
    pub fn into_draft(self, key: &PseudonymKey) -> Result<EntryDraft, ServiceError> {
        if self.kind == EntryKind::Access {
            return Err(bad("access entries are written by reads, not submitted"));
        }
        let patient = PatientRef::pseudonymise(key, &self.patient)
            .map_err(|e| bad(&format!("patient: {e}")))?;
        let payload = match (self.kind.has_payload(), self.payload) {
            (true, Some(json)) => Some(payload_draft(self.content_type, &json)?),
            (true, None) => return Err(bad(&format!("{} needs a payload", self.kind))),
            (false, Some(_)) => return Err(bad(&format!("{} takes no payload", self.kind))),
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
        })
    }
}

fn bad(message: &str) -> ServiceError {
    ServiceError::BadRequest(message.to_owned())
}

fn payload_draft(
    content_type: Option<String>,
    json: &serde_json::Value,
) -> Result<PayloadDraft, ServiceError> {
    let content_type = content_type.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(bad(
            "this API takes JSON payloads: content_type must be application/json or a +json type",
        ));
    }
    if essence == DEFAULT_CONTENT_TYPE
        && !json
            .get("resourceType")
            .is_some_and(serde_json::Value::is_string)
    {
        return Err(bad(
            "an application/fhir+json payload must be a JSON object with a string resourceType",
        ));
    }
    let bytes = serde_json::to_vec(json).map_err(|e| bad(&format!("payload: {e}")))?;
    Ok(PayloadDraft {
        bytes,
        content_type,
    })
}

/// `chain/height/index` for an entry, or 32 hex characters for a record.
pub fn parse_parent(text: &str) -> Result<Parent, ServiceError> {
    if text.contains('/') {
        return text
            .parse::<EntryRef>()
            .map(Parent::Entry)
            .map_err(|e| bad(&format!("parent {text:?}: {e}")));
    }
    text.parse::<RecordId>().map(Parent::Record).map_err(|_| {
        bad(&format!(
            "parent {text:?}: expected chain/height/index or a record ID"
        ))
    })
}
