//! medchain's facts as FHIR R4 (4.0.1) resources: a Provenance per record entry (create, amend,
//! derive, merge, dispose, grant, revoke, erase), an AuditEvent per access entry (IHE BALP
//! PatientRead), searchset Bundles, the CapabilityStatement, and OperationOutcome errors.
//!
//! Identifiers name medchain's own things: `urn:medchain:record` (a record ID),
//! `urn:medchain:entry` (`chain/height/index`), `urn:medchain:chain` (a chain ID: its hospital),
//! `urn:medchain:patient-pseudonym` (a provider's pseudonym of a patient, never the identifier).

use base64::Engine;
use medchain_protocol::{EntryKind, EntryRef, Parent, RecordId};
use serde_json::{Value, json};

use crate::service::SignedEntry;

/// The BALP profile of a patient-identifiable read.
pub const BALP_PATIENT_READ: &str =
    "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead";
/// Our code system for entry kinds.
const ENTRY_KIND: &str = "urn:medchain:entry-kind";

/// A FHIR id for an entry (`[A-Za-z0-9-.]{1,64}`): 24 hex characters of its chain, its height,
/// its index.
pub fn id_of(at: &EntryRef) -> String {
    format!("{}-{}-{}", &at.chain.to_hex()[..24], at.height, at.index)
}

/// An instant (RFC 3339, UTC) from milliseconds since the epoch.
pub fn instant(time_ms: u64) -> String {
    let nanos = i128::from(time_ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

fn identifier(system: &str, value: impl ToString) -> Value {
    json!({"system": system, "value": value.to_string()})
}

/// The hospital whose chain `at` is on.
fn hospital(at: &EntryRef, org: Option<&str>) -> Value {
    let mut reference = json!({"identifier": identifier("urn:medchain:chain", at.chain.to_hex())});
    if let Some(org) = org {
        reference["display"] = org.into();
    }
    reference
}

fn record_reference(record: &RecordId) -> Value {
    json!({"identifier": identifier("urn:medchain:record", record)})
}

/// The Provenance of one record entry.
pub fn provenance(signed: &SignedEntry) -> Value {
    let entry = &signed.entry;
    let when = instant(signed.time_ms);
    let kind = entry.kind;
    let mut activity = vec![json!({"system": ENTRY_KIND, "code": kind.to_string()})];
    let operation = match kind {
        EntryKind::Create | EntryKind::Derive | EntryKind::Merge => Some(("CREATE", "create")),
        EntryKind::Amend => Some(("UPDATE", "revise")),
        EntryKind::Dispose => Some(("NULLIFY", "nullify")),
        EntryKind::Erase => Some(("DELETE", "delete")),
        _ => None,
    };
    if let Some((code, display)) = operation {
        activity.insert(
            0,
            json!({"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation", "code": code, "display": display}),
        );
    }
    let role = match kind {
        EntryKind::Amend => "revision",
        EntryKind::Derive => "derivation",
        EntryKind::Dispose => "removal",
        _ => "source",
    };
    let entities: Vec<Value> = entry
        .parents
        .iter()
        .map(|parent| {
            let what = match parent {
                Parent::Entry(at) => json!({"identifier": identifier("urn:medchain:entry", at)}),
                Parent::Record(record) => record_reference(record),
            };
            json!({"role": role, "what": what})
        })
        .collect();
    let onbehalf = hospital(&signed.at, signed.org.as_deref());
    let mut resource = json!({
        "resourceType": "Provenance",
        "id": id_of(&signed.at),
        "target": [record_reference(&entry.record)],
        "recorded": when,
        "activity": {"coding": activity, "text": kind.to_string()},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author", "display": "Author"}]},
            "who": {"display": entry.actor},
            "onBehalfOf": onbehalf,
        }],
        "signature": [{
            "type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1", "display": "Author's Signature"}],
            "when": when,
            "who": onbehalf,
            "data": base64::engine::general_purpose::STANDARD.encode(signed.signature),
            // What the Ed25519 signature is over: "medchain v1 block-signature\0" and this
            // hash (docs/protocol.md section 6).
            "extension": [{"url": "urn:medchain:signed-block-hash", "valueString": signed.block.to_hex()}],
        }],
    });
    if !entities.is_empty() {
        resource["entity"] = entities.into();
    }
    resource
}

/// The AuditEvent of one access entry (a read of the record it names), after IHE BALP's
/// PatientRead: a RESTful read, the user who read (requestor), the reading node's API as client
/// and server, the node as observer, the record and the patient (by pseudonym) as entities.
pub fn audit_event(access: &SignedEntry) -> Value {
    let entry = &access.entry;
    let org = access.org.as_deref().unwrap_or("unknown organisation");
    let node = hospital(&access.at, access.org.as_deref());
    let dicom = "http://dicom.nema.org/resources/ontology/DCM";
    let entity_type = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
    let object_role = "http://terminology.hl7.org/CodeSystem/object-role";
    let mut server = node.clone();
    server["display"] = format!("medchain node of {org}").into();
    json!({
        "resourceType": "AuditEvent",
        "id": id_of(&access.at),
        "meta": {"profile": [BALP_PATIENT_READ]},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read", "display": "read"}],
        "action": "R",
        "recorded": instant(access.time_ms),
        "outcome": "0",
        "agent": [
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}]},
                "who": {"display": entry.actor},
                "requestor": true,
            },
            {
                "type": {"coding": [{"system": dicom, "code": "110153", "display": "Source Role ID"}]},
                "who": {"display": format!("API client of {org}")},
                "requestor": false,
            },
            {
                "type": {"coding": [{"system": dicom, "code": "110152", "display": "Destination Role ID"}]},
                "who": server,
                "requestor": false,
            },
        ],
        "source": {
            "observer": node,
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4", "display": "Application Server"}],
        },
        "entity": [
            {
                "what": record_reference(&entry.record),
                "type": {"system": entity_type, "code": "2", "display": "System Object"},
                "role": {"system": object_role, "code": "4", "display": "Domain Resource"},
            },
            {
                "what": {"identifier": identifier("urn:medchain:patient-pseudonym", entry.patient)},
                "type": {"system": entity_type, "code": "1", "display": "Person"},
                "role": {"system": object_role, "code": "1", "display": "Patient"},
            },
        ],
    })
}

/// A searchset Bundle of `resources`, found by `self_link`; `next_link` for the page after.
/// `whole` says the resources are every match (the first page with no next one): only then is
/// the total known.
pub fn searchset(
    resources: Vec<Value>,
    self_link: String,
    next_link: Option<String>,
    whole: bool,
) -> Value {
    let mut links = vec![json!({"relation": "self", "url": self_link})];
    let complete = whole && next_link.is_none();
    if let Some(next) = next_link {
        links.push(json!({"relation": "next", "url": next}));
    }
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|resource| json!({"resource": resource, "search": {"mode": "match"}}))
        .collect();
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "link": links});
    // The total is known when this is the only page.
    if complete {
        bundle["total"] = entries.len().into();
    }
    if !entries.is_empty() {
        bundle["entry"] = entries.into();
    }
    bundle
}

/// An OperationOutcome with one issue.
pub fn operation_outcome(code: &str, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    })
}

/// The CapabilityStatement of this server: read-only searches of Provenance by target and
/// AuditEvent by entity, JSON only.
pub fn capability_statement(software_version: &str, date: &str) -> Value {
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "kind": "instance",
        "software": {"name": "medchain", "version": software_version},
        "implementation": {"description": "medchain node: the provenance and the read audit of records on a tamper-evident multi-hospital ledger"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth", "display": "OAuth"}]}],
                "description": "Bearer tokens: a user's access token from the hospital's identity provider (scope medchain.read), or the node's API token for machine clients naming the user in X-Medchain-Actor. Provenance searches are audited reads.",
            },
            "resource": [
                {
                    "type": "Provenance",
                    "interaction": [{"code": "search-type"}],
                    "searchParam": [{"name": "target", "type": "reference", "documentation": "the record ID (32 hex characters); one Provenance per entry of the record: create, amend, derive, merge, dispose, grant, revoke, erase"}],
                },
                {
                    "type": "AuditEvent",
                    "supportedProfile": [BALP_PATIENT_READ],
                    "interaction": [{"code": "search-type"}],
                    "searchParam": [
                        {"name": "entity", "type": "reference", "documentation": "the record ID; one AuditEvent per read of it"},
                        {"name": "_count", "type": "number", "documentation": "page size, 1 to 1000 (default 100)"},
                    ],
                },
            ],
        }],
    })
}
