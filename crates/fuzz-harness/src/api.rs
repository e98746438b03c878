//! The harness for the HTTP API's request bodies: the JSON the API deserialises into the
//! `medchain_requests` types, then the checks the API and the ledger run on what decodes.
//!
//! The first byte of an input picks the body, the rest is its JSON: a record write
//! (`POST /v1/records`), a batch (`/v1/records/batch`), a patient lookup
//! (`/v1/patients/records`) or an operator's resume (`/v1/admin/writes/resume`). Each record
//! the request checks accept becomes an entry at the next free index of a block of the test
//! provider's chain; the block the ledger would sign around those the entry rules accept must
//! pass the block's own rules and survive an encode and decode unchanged (otherwise the node
//! would refuse its own block, which is a bug, not bad input).

use std::sync::OnceLock;

use medchain_protocol::identity::MemberKey;
use medchain_protocol::limits::MAX_ENTRIES_PER_BLOCK;
use medchain_protocol::{Block, BlockDraft, BlockHash, ChainId, EntryRef, PseudonymKey};
use medchain_requests::{MAX_RECORDS_PER_BATCH, NewRecord, NewRecords, PatientQuery, Resume};

use crate::pki::Pki;

/// Milliseconds of the block the harness seals (inside the test certificates' validity).
const BLOCK_MS: u64 = 1_710_000_060_000;

/// What every input uses, made once: the test provider's key and certificate, and a fixed
/// pseudonym key.
struct Keys {
    key: MemberKey,
    certificate: Vec<u8>,
    pseudonyms: PseudonymKey,
    /// Seals each accepted payload at its position, as authoring does.
    sealing: medchain_chain::KeyRing,
}

fn keys() -> Option<&'static Keys> {
    static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pki = Pki::embedded();
        Some(Keys {
            key: pki.provider_key().ok()?,
            certificate: pki.provider,
            pseudonyms: PseudonymKey::from_bytes([0x5a; 32]),
            sealing: medchain_chain::KeyRing::new(medchain_protocol::sealed::WrappingKey::new(
                medchain_protocol::sealed::SecretKey::from_bytes([0x3c; 32]),
                1,
            )),
        })
    })
    .as_ref()
}

/// One API request body; see the module header for the layout.
pub fn api_bodies(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Some(keys) = keys() else {
        return;
    };
    let pseudonyms = &keys.pseudonyms;
    match selector % 4 {
        0 => {
            if let Ok(request) = serde_json::from_slice::<NewRecord>(json) {
                records(vec![request], keys);
            }
        }
        1 => {
            let Ok(batch) = serde_json::from_slice::<NewRecords>(json) else {
                return;
            };
            let Ok(requests) = batch.into_records() else {
                return;
            };
            assert!(
                (1..=MAX_RECORDS_PER_BATCH).contains(&requests.len()),
                "a batch of {} records passed the size check",
                requests.len()
            );
            records(requests, keys);
        }
        2 => {
            if let Ok(query) = serde_json::from_slice::<PatientQuery>(json)
                && let Ok(pseudonym) = query.pseudonym(pseudonyms)
            {
                assert!(
                    query.pseudonym(pseudonyms).ok() == Some(pseudonym),
                    "a patient's pseudonym changed between two lookups"
                );
            }
        }
        _ => {
            if let Ok(resume) = serde_json::from_slice::<Resume>(json)
                && resume.check().is_ok()
            {
                assert!(
                    !resume.actor.is_empty() && !resume.reason.is_empty(),
                    "an empty actor or reason passed the resume check"
                );
            }
        }
    }
}

/// Record writes through the request checks, then the entry rules at the next free index of
/// one block (as the ledger places a batch's records: those refused take no index), then the
/// block's own rules for the block holding every accepted entry.
fn records(requests: Vec<NewRecord>, keys: &Keys) {
    // A batch is at most MAX_RECORDS_PER_BATCH records, which one block holds.
    const _: () = assert!(MAX_RECORDS_PER_BATCH <= MAX_ENTRIES_PER_BLOCK);
    let chain = ChainId::from_public_key(&keys.key.public_key());
    let mut entries = Vec::new();
    for request in requests {
        let Ok(draft) = request.into_draft(&keys.pseudonyms) else {
            continue;
        };
        if let Some(payload) = &draft.payload {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&payload.bytes).is_ok(),
                "an accepted payload is not JSON"
            );
        }
        let position = EntryRef {
            chain,
            height: 1,
            index: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        };
        let Ok((entry, _)) = draft.sealed_at(position, &keys.sealing) else {
            continue;
        };
        if entry.check_structure(position).is_ok() {
            entries.push(entry);
        }
    }
    if entries.is_empty() {
        return;
    }
    let block = BlockDraft {
        chain,
        height: 1,
        prev: BlockHash([7; 32]),
        time_ms: BLOCK_MS,
        certificate: keys.certificate.clone(),
        carry_certificate: false,
        witnesses: Vec::new(),
        entries,
    }
    .seal(&keys.key);
    let checked = block.check_structure();
    assert!(
        checked.is_ok(),
        "entries that passed their rules make a block that does not: {checked:?}"
    );
    let bytes = block.encode();
    assert!(
        Block::decode(&bytes).map(|b| b.encode()).ok() == Some(bytes),
        "the block around accepted entries does not survive encode and decode"
    );
}

/// Seed inputs of `api_bodies`, by name: valid bodies of each kind, so fuzzing starts deep in
/// the checks, and a few the checks refuse.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let record = r#"{"kind":"create","patient":"MRN-0042","actor":"dr-who","payload":{"resourceType":"Observation","status":"final"}}"#;
    let amend = r#"{"kind":"amend","record":"0123456789abcdef0123456789abcdef","patient":"MRN-0042","actor":"dr-who","content_type":"application/fhir+json; fhirVersion=4.0","payload":{"resourceType":"Observation","status":"amended"},"parents":["0123456789abcdef0123456789abcdef"]}"#;
    let derive = r#"{"kind":"derive","patient":"MRN-7","actor":"lab","content_type":"application/json","payload":{"summary":[1,2.5,null,true]},"parents":["1111111111111111111111111111111111111111111111111111111111111111/3/0"]}"#;
    let dispose = r#"{"kind":"dispose","record":"0123456789abcdef0123456789abcdef","patient":"MRN-0042","actor":"records-office"}"#;
    let batch = format!(r#"{{"records":[{record},{dispose},{record},{derive}]}}"#);
    let with = |selector: u8, json: &str| {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(json.as_bytes());
        bytes
    };
    vec![
        ("record-create", with(0, record)),
        ("record-amend", with(0, amend)),
        ("record-derive", with(0, derive)),
        ("record-dispose", with(0, dispose)),
        (
            "record-access",
            with(0, r#"{"kind":"access","patient":"x","actor":"a"}"#),
        ),
        ("batch", with(1, &batch)),
        ("batch-empty", with(1, r#"{"records":[]}"#)),
        ("patient", with(2, r#"{"patient":"MRN-0042"}"#)),
        (
            "resume",
            with(
                3,
                r#"{"actor":"ops-on-call","reason":"hospital-2 offline"}"#,
            ),
        ),
    ]
}
