//! The OpenAPI document: generated from the handlers' `#[utoipa::path]` annotations, which the
//! router registers together with the routes (utoipa-axum), so nothing is routed undocumented.
//! Here: the schemas handlers share, and the answers every `/v1` operation can give (added to each
//! operation, so each lists every status it can answer).

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

// Patterns in the annotations: a record ID `^[0-9a-f]{32}$`, a chain ID `^[0-9a-f]{64}$`, an
// entry `chain/height/index` with numbers that fit their types, an actor a client names ASCII
// printable without surrounding space, 1 to 100 characters (`Caller::acting` enforces it).

/// Every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong (never a patient identifier or a payload).
    pub error: String,
}

/// The document, made once per process from the routers' annotations.
static DOCUMENT: OnceLock<String> = OnceLock::new();

/// Keeps the document made from `api` (the routes' annotations, `/v1` nested), the first time.
pub fn publish(api: utoipa::openapi::OpenApi) {
    DOCUMENT.get_or_init(|| {
        let mut document = serde_json::to_value(&api).unwrap_or(Value::Null);
        complete(&mut document);
        serde_json::to_string_pretty(&document).unwrap_or_default()
    });
}

/// The document served at `/v1/openapi.json`.
pub fn document() -> &'static str {
    DOCUMENT.get().map_or("{}", String::as_str)
}

/// The title, the security scheme, and on every `/v1` operation (the document's own route
/// aside) the answers any of them may give: the authentication refusals, 413 for a body over the
/// limit, 500 and 503.
fn complete(document: &mut Value) {
    document["info"] = json!({
        "title": "medchain node API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Every /v1 call except this document needs `Authorization: Bearer <token>`: a user's access token from the hospital's identity provider (with [auth] configured; scopes medchain.read, medchain.write, medchain.grant, medchain.erase, medchain.admin), or the node's API token for machine clients. Every audited read and every write records its actor: a signed-in user is the actor; a machine client names the user it acts for in X-Medchain-Actor (or a body's actor) and is recorded as 'machine client on behalf of' that user. Errors are JSON {\"error\": message}. Plaintext patient identifiers are pseudonymised on arrival and never stored or returned.",
    });
    document["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer",
                   "description": "A user's access token (JWT) from the identity provider, or the node's API token"}
    });
    document["components"]["schemas"]["NewRecord"] = new_record_schema();
    let error = json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let outcome = json!({"application/fhir+json": {"schema": {"type": "object", "description": "an OperationOutcome"}}});
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let v1 = path.starts_with("/v1/") && path != "/v1/openapi.json";
        let fhir = path.starts_with("/fhir/r4/") && path != "/fhir/r4/metadata";
        if !v1 && !fhir {
            continue;
        }
        let content = if fhir { outcome.clone() } else { error.clone() };
        let answer =
            |description: &str| json!({"description": description, "content": content.clone()});
        for (method, operation) in item.iter_mut() {
            operation["security"] = json!([{"bearer": []}]);
            let responses = &mut operation["responses"];
            let mut add = |status: &str, description: &str| {
                if responses.get(status).is_none() {
                    responses[status] = answer(description);
                }
            };
            add(
                "401",
                "no token, or one not taken (`WWW-Authenticate` says why)",
            );
            add(
                "403",
                "the user's token lacks the scope this needs, or the user named another actor",
            );
            add("500", "the node failed (see its log)");
            add(
                "503",
                "the store cannot be vouched for now, writes are paused, or the identity provider's keys cannot be had (the error says which)",
            );
            if method == "post" {
                add("413", "the body is over 12 MiB");
                add(
                    "400",
                    "the body is not what this call takes (the error says why)",
                );
            }
        }
    }
}

/// Where an entry is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EntryRef)]
pub struct EntryRefDoc {
    /// The chain.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub chain: String,
    /// The block's height.
    pub height: u64,
    /// The entry's index in the block.
    pub index: u32,
}

/// The body of `POST /v1/records` (`medchain_requests::NewRecord`): registered under this name,
/// its schema is [`new_record_schema`] (its rules depend on `kind` and `content_type`, which a
/// struct cannot say).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NewRecord)]
pub struct NewRecordDoc {
    /// See [`new_record_schema`].
    pub kind: String,
}

/// A parent: a record ID, or `chain/height/index`.
const PARENT: &str = "^([0-9a-f]{32}|[0-9a-f]{64}/[0-9]{1,19}/[0-9]{1,9})$";

/// The schema of a record write, as `medchain_requests::NewRecord` and the entry rules take it:
/// - `kind` create, derive or merge makes a record (no `record`; parents none, 1 to 32, 2 to
///   32), amend makes a version of `record` (parents 1 to 32), dispose ends `record` (no
///   payload; at most 1 parent); all but dispose carry a payload;
/// - the payload is JSON: `content_type` application/json or a +json type (default
///   application/fhir+json, whose payload is an object with a string `resourceType`);
/// - `patient` is printable ASCII (1 to 256 characters, spaces around it ignored);
/// - `actor` is what a client may name (see `Caller::acting`).
pub fn new_record_schema() -> Value {
    let record = json!({"type": "string", "pattern": "^[0-9a-f]{32}$"});
    let parents = |min: u32, max: u32| {
        json!({"type": "array", "items": {"type": "string", "pattern": PARENT},
               "minItems": min, "maxItems": max, "uniqueItems": true})
    };
    let kind = |name: &str| json!({"type": "string", "enum": [name]});
    let makes = |name: &str, min: u32| {
        let required = if min == 0 {
            json!(["payload"])
        } else {
            json!(["payload", "parents"])
        };
        json!({"properties": {"kind": kind(name), "parents": parents(min, if min == 0 { 0 } else { 32 }),
                              "payload": {"not": {"type": "null"}}, "record": {"type": "null"}},
               "required": required})
    };
    let fhir = json!({"type": "object", "required": ["resourceType"],
                      "properties": {"resourceType": {"type": "string"}}});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["kind", "patient"],
        "properties": {
            "kind": {"type": "string", "enum": ["create", "amend", "derive", "merge", "dispose"]},
            "record": {"anyOf": [record, {"type": "null"}]},
            "patient": {"type": "string", "pattern": "^ *[!-~]([ -~]{0,254}[!-~])? *$",
                        "description": "the patient's identifier (printable ASCII): pseudonymised at once, never stored, logged or returned"},
            "content_type": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 127,
                             "pattern": "^(application/json|[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]*\\+json)(;[ -~]*)?$"}]},
            "payload": {"description": "the payload, a JSON document"},
            "parents": parents(0, 32),
            "actor": {"type": "string", "pattern": "^([!-~]([ -~]{0,98}[!-~])?)?$",
                      "description": "who acts: a machine client names the user it acts for, here or in X-Medchain-Actor; a signed-in user may leave it out (empty is the same as absent)"},
        },
        "oneOf": [
            makes("create", 0),
            makes("derive", 1),
            makes("merge", 2),
            {"properties": {"kind": kind("amend"), "parents": parents(1, 32),
                            "payload": {"not": {"type": "null"}}, "record": record},
             "required": ["record", "payload", "parents"]},
            {"properties": {"kind": kind("dispose"), "parents": parents(0, 1), "payload": {"type": "null"},
                            "record": record},
             "required": ["record"]},
        ],
        // A payload, when there is one, is a FHIR resource unless the type says plain JSON.
        "if": {"required": ["content_type"],
               "properties": {"content_type": {"pattern": "^application/fhir\\+json(;|$)"}}},
        "then": {"properties": {"payload": {"anyOf": [fhir, {"type": "null"}]}}},
        "else": {"if": {"required": ["content_type"], "properties": {"content_type": {"type": "string"}}},
                 "then": true,
                 "else": {"properties": {"payload": {"anyOf": [fhir, {"type": "null"}]}}}},
    })
}

/// The body of `POST /v1/records/batch`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRecords)]
pub struct NewRecordsDoc {
    /// 1 to 1024 records, each as `POST /v1/records` takes it (schema `NewRecord`). Each is read
    /// and checked on its own: one that is not a record write, or breaks the rules, is answered
    /// with its own 400 in `results`, and the others are written.
    #[schema(min_items = 1, max_items = 1024, value_type = Vec<Object>)]
    pub records: Vec<NewRecordDoc>,
}

/// The answer of `POST /v1/records/batch`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BatchAnswer)]
pub struct BatchAnswerDoc {
    /// Records written.
    pub written: u64,
    /// Records refused.
    pub failed: u64,
    /// One per record, in order: `status` 201 with `record`, `entry`, `block`, or its own 4xx or
    /// 5xx with `error`.
    pub results: Vec<serde_json::Value>,
}

/// The body of `POST /v1/patients/records`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatientQuery)]
pub struct PatientQueryDoc {
    /// The patient's identifier (printable ASCII): pseudonymised at once, never stored, logged
    /// or returned.
    #[schema(pattern = "^ *[!-~]([ -~]{0,254}[!-~])? *$")]
    pub patient: String,
}

/// The body of `POST /v1/admin/writes/resume`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Resume)]
pub struct ResumeDoc {
    /// Who lifts the pause (recorded): for a machine client, the user it acts for (1 to 100
    /// printable ASCII characters, the pattern); a signed-in user must name themselves, and a
    /// name from the identity provider may be up to 128 bytes of any printable text.
    #[schema(pattern = "^[!-~]([ -~]{0,98}[!-~])?$")]
    pub actor: String,
    /// Why (recorded): printable, no surrounding space.
    #[schema(pattern = "^[!-~]([ -~]{0,1022}[!-~])?$")]
    pub reason: String,
}
