//! Seed inputs for every target, built from valid objects with the crates' own APIs: blocks and
//! block messages of the test provider's chain, evidence, every kind of sync request and
//! response, their frames, and the test PKI's certificates and CRLs (DER and PEM).
//!
//! They are deterministic for a given [`Pki`] (Ed25519 signatures are, and every time is fixed),
//! so regenerating them (`fuzz-seeds`) writes nothing new.

use medchain_protocol::identity::{MemberKey, cert_to_pem, crl_to_pem, empty_crl, revoke};
use medchain_protocol::key_backup::{BackedUpKey, KeyBackup};
use medchain_protocol::message::{
    KeyAnswer, KeyOutcome, SyncError, SyncErrorCode, SyncRequest, SyncResponse, WireMessage,
};
use medchain_protocol::{
    Block, BlockDraft, BlockHash, BlockMessage, ChainHead, ChainId, Entry, EntryKind, EntryRef,
    EquivocationEvidence, Hello, Parent, PatientRef, PayloadHash, PayloadRef, RecordId,
};

use crate::pki::{CRL_UNIX, NETWORK, Pki};

/// One seed input.
#[derive(Clone, Debug)]
pub struct Seed {
    /// The target (corpus directory) it is for.
    pub target: &'static str,
    /// A short name saying what it is (the file is `seed-<name>`).
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// Why seeds could not be built.
pub type SeedError = Box<dyn std::error::Error + Send + Sync>;

/// Milliseconds of the test chain's genesis (2024-03-09), inside the test certificates' validity.
const GENESIS_MS: u64 = 1_710_000_000_000;

/// Every seed of every target.
pub fn all(pki: &Pki) -> Result<Vec<Seed>, SeedError> {
    let key = pki.provider_key()?;
    let chain = chain_of(&key);
    let (genesis, genesis_payloads) = genesis(pki, &key);
    let (next, next_payloads) = second_block(&key, &genesis);
    let renewal = renewal_block(pki, &key, &next);
    let messages = [
        message(&genesis, &genesis_payloads),
        message(&next, &next_payloads),
        message(&renewal, &[]),
    ];
    let fork = fork_of(&key, &next);
    let evidence = EquivocationEvidence {
        certificate: pki.provider.clone(),
        first: next.signed_header(),
        second: fork.signed_header(),
    };

    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push(Seed {
            target,
            name: name.to_owned(),
            bytes,
        });
    };
    for (name, block) in [
        ("genesis", &genesis),
        ("next", &next),
        ("renewal", &renewal),
    ] {
        add("block", name, block.encode());
    }
    for (name, message) in ["genesis", "next", "renewal"].iter().zip(&messages) {
        add("block_message", name, message.to_wire());
    }
    add("evidence", "fork", evidence.to_wire());

    let hello = |certificate: &[u8]| Hello {
        network: NETWORK.into(),
        certificate: certificate.to_vec(),
        agent: "medchain-fuzz/0.1.0".into(),
    };
    let requests = [
        ("hello", SyncRequest::Hello(hello(&pki.provider))),
        ("heads", SyncRequest::Heads),
        (
            "blocks",
            SyncRequest::Blocks {
                chain,
                from: 0,
                limit: 64,
            },
        ),
        ("payload", SyncRequest::Payload(PayloadHash::of(b"{}"))),
        ("evidence", SyncRequest::Evidence { skip: 3 }),
        (
            "range",
            SyncRequest::Range {
                chain,
                from: 1,
                limit: 256,
            },
        ),
        ("data-keys", SyncRequest::DataKeys(entry_refs(&genesis))),
        (
            "key-backups",
            SyncRequest::KeyBackups {
                chain,
                from: 0,
                limit: 256,
            },
        ),
    ];
    let responses = [
        ("hello", SyncResponse::Hello(hello(&pki.auditor))),
        ("heads", SyncResponse::Heads(heads(&next))),
        ("blocks", SyncResponse::Blocks(vec![genesis.clone(), next])),
        (
            "payload",
            SyncResponse::Payload(serde_bytes::ByteBuf::from(genesis_payloads[0].clone())),
        ),
        ("not-found", SyncResponse::NotFound),
        (
            "error",
            SyncResponse::Error(SyncError {
                code: SyncErrorCode::NotAdmitted,
                message: "send a hello first".into(),
            }),
        ),
        ("evidence", SyncResponse::Evidence(vec![evidence])),
        ("range", SyncResponse::Range(messages.to_vec())),
        (
            "data-keys",
            SyncResponse::DataKeys(
                entry_refs(&genesis)
                    .into_iter()
                    .zip([
                        KeyOutcome::Released(vec![0x5a; 80].into()),
                        KeyOutcome::NotGranted,
                        KeyOutcome::Erased,
                        KeyOutcome::NotHeld,
                    ])
                    .map(|(at, outcome)| KeyAnswer { at, outcome })
                    .collect(),
            ),
        ),
        (
            "key-backups",
            SyncResponse::KeyBackups(vec![KeyBackup {
                chain,
                height: 0,
                envelope: vec![0x11; 80],
                keys: vec![BackedUpKey {
                    index: 0,
                    digest: vec![0x44; 32],
                    wrapped: Some(vec![0x22; 64].into()),
                }],
                signature: vec![0x33; 64],
            }]),
        ),
    ];
    for (name, request) in &requests {
        add("sync_request", name, request.to_wire());
        add("sync_frame_request", name, frame(&request.to_wire()));
    }
    for (name, response) in &responses {
        add("sync_response", name, response.to_wire());
        add("sync_frame_response", name, frame(&response.to_wire()));
    }
    add("sync_frame_request", "truncated", {
        let mut bytes = frame(&requests[0].1.to_wire());
        bytes.truncate(bytes.len() / 2);
        bytes
    });
    add(
        "sync_frame_response",
        "oversized",
        u32::MAX.to_be_bytes().to_vec(),
    );

    let certificates = [
        ("provider", &pki.provider),
        ("auditor", &pki.auditor),
        ("revoked", &pki.revoked),
        ("foreign", &pki.foreign),
        ("root", &pki.root),
    ];
    for (name, der) in certificates {
        add("hello", name, SyncRequest::Hello(hello(der)).to_wire());
        add("cert_der", name, der.clone());
        add("cert_pem", name, cert_to_pem(der).into_bytes());
    }
    add("cert_pem", "key-then-cert", {
        let key_pem = key.to_pkcs8_pem();
        format!("{}{}", &*key_pem, cert_to_pem(&pki.provider)).into_bytes()
    });

    let empty = empty_crl(&pki.root, &pki.root_key, CRL_UNIX)?;
    let two = revoke(
        &pki.root,
        &pki.root_key,
        Some(&pki.crl),
        &pki.auditor,
        CRL_UNIX + 60,
    )?;
    for (name, der) in [
        ("one-revoked", &pki.crl),
        ("empty", &empty),
        ("two-revoked", &two),
    ] {
        add("crl_der", name, der.clone());
        add("crl_pem", name, crl_to_pem(der).into_bytes());
    }
    for (name, bytes) in crate::api::seeds() {
        add("api_bodies", name, bytes);
    }
    Ok(seeds)
}

/// The chain of the holder of `key`.
fn chain_of(key: &MemberKey) -> ChainId {
    ChainId::from_public_key(&key.public_key())
}

/// A payload reference for `body`.
fn payload(body: &[u8]) -> Option<PayloadRef> {
    Some(PayloadRef {
        hash: PayloadHash::of(body),
        len: body.len() as u64,
        content_type: "application/fhir+json".into(),
    })
}

/// An entry of `kind` at `(chain, height, index)`, its record derived when the kind creates one.
fn entry(kind: EntryKind, at: EntryRef, body: Option<&[u8]>, parents: Vec<Parent>) -> Entry {
    let record = if kind.creates_record() {
        RecordId::derive(&at.chain, at.height, at.index)
    } else {
        RecordId::derive(&at.chain, 0, 0)
    };
    Entry {
        kind,
        record,
        patient: PatientRef([0x11; 32]),
        actor: format!("dr-{}", 400 + at.index),
        payload: body.and_then(payload),
        parents,
        terms: None,
    }
}

fn at(chain: ChainId, height: u64, index: u32) -> EntryRef {
    EntryRef {
        chain,
        height,
        index,
    }
}

/// The test provider's genesis block (two creates, carrying its certificate) and its payloads.
fn genesis(pki: &Pki, key: &MemberKey) -> (Block, Vec<Vec<u8>>) {
    let chain = chain_of(key);
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"resourceType":"Observation","status":"final"}"#.to_vec(),
        br#"{"resourceType":"Patient"}"#.to_vec(),
    ];
    let entries = (0u32..)
        .zip(&bodies)
        .map(|(i, body)| entry(EntryKind::Create, at(chain, 0, i), Some(body), vec![]))
        .collect();
    let block = BlockDraft {
        chain,
        height: 0,
        prev: BlockHash::ZERO,
        time_ms: GENESIS_MS,
        certificate: pki.provider.clone(),
        carry_certificate: true,
        witnesses: vec![],
        entries,
    }
    .seal(key);
    (block, bodies)
}

/// Height 1: one entry of every other kind, with witnesses of two other chains.
fn second_block(key: &MemberKey, genesis: &Block) -> (Block, Vec<Vec<u8>>) {
    let chain = chain_of(key);
    let first = Parent::Entry(at(chain, 0, 0));
    let second = Parent::Entry(at(chain, 0, 1));
    let bodies: Vec<Vec<u8>> = vec![
        br#"{"resourceType":"Observation","status":"amended"}"#.to_vec(),
        br#"{"resourceType":"DiagnosticReport"}"#.to_vec(),
        br#"{"resourceType":"Bundle"}"#.to_vec(),
    ];
    let entries = vec![
        entry(
            EntryKind::Amend,
            at(chain, 1, 0),
            Some(&bodies[0]),
            vec![first],
        ),
        entry(
            EntryKind::Derive,
            at(chain, 1, 1),
            Some(&bodies[1]),
            vec![second],
        ),
        entry(
            EntryKind::Merge,
            at(chain, 1, 2),
            Some(&bodies[2]),
            vec![first, Parent::Record(RecordId([7; 16]))],
        ),
        entry(EntryKind::Access, at(chain, 1, 3), None, vec![second]),
        entry(EntryKind::Dispose, at(chain, 1, 4), None, vec![]),
    ];
    let block = BlockDraft {
        chain,
        height: 1,
        prev: genesis.hash(),
        time_ms: GENESIS_MS + 60_000,
        certificate: genesis.certificate.clone().unwrap_or_default(),
        carry_certificate: false,
        witnesses: heads(genesis)
            .into_iter()
            .filter(|h| h.chain != chain)
            .collect(),
        entries,
    }
    .seal(key);
    (block, bodies)
}

/// Height 2: carries the certificate again (as after a renewal), with access entries.
fn renewal_block(pki: &Pki, key: &MemberKey, previous: &Block) -> Block {
    let chain = chain_of(key);
    let entries = (0..8)
        .map(|i| {
            let parent = Parent::Entry(at(chain, 1, i % 3));
            entry(EntryKind::Access, at(chain, 2, i), None, vec![parent])
        })
        .collect();
    BlockDraft {
        chain,
        height: 2,
        prev: previous.hash(),
        time_ms: GENESIS_MS + 120_000,
        certificate: pki.provider.clone(),
        carry_certificate: true,
        witnesses: vec![],
        entries,
    }
    .seal(key)
}

/// Another block at `block`'s height, signed by the same key: an equivocation.
fn fork_of(key: &MemberKey, block: &Block) -> Block {
    let mut header = block.header.clone();
    header.time_ms += 1;
    let signature = header.sign(key);
    Block {
        header,
        signature,
        ..block.clone()
    }
}

/// Heads of three chains, sorted by chain, `block`'s among them.
fn heads(block: &Block) -> Vec<ChainHead> {
    let mut heads = vec![
        ChainHead {
            chain: block.header.chain,
            height: block.header.height,
            hash: block.hash(),
        },
        ChainHead {
            chain: ChainId([0x22; 32]),
            height: 7,
            hash: BlockHash([0x33; 32]),
        },
        ChainHead {
            chain: ChainId([0xcc; 32]),
            height: 300,
            hash: BlockHash([0x44; 32]),
        },
    ];
    heads.sort();
    heads
}

/// A block message with these inline payloads.
fn message(block: &Block, payloads: &[Vec<u8>]) -> BlockMessage {
    BlockMessage {
        block: block.clone(),
        payloads: payloads
            .iter()
            .cloned()
            .map(serde_bytes::ByteBuf::from)
            .collect(),
    }
}

/// A sync frame: the 4-byte big-endian length, then the bytes.
pub fn frame(wire: &[u8]) -> Vec<u8> {
    let len = u32::try_from(wire.len()).unwrap_or(u32::MAX);
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(wire);
    out
}

/// The positions of `block`'s entries.
fn entry_refs(block: &Block) -> Vec<EntryRef> {
    (0..u32::try_from(block.entries.len()).unwrap_or(u32::MAX))
        .map(|i| block.entry_ref(i))
        .collect()
}
