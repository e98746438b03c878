//! Criterion benchmarks of the ledger's hot paths, each beside the primitive bound it implies.
//!
//! - `ingest/{1,16,256}`: validate + store of gossiped blocks holding 1, 16 or 256 entries with
//!   1 KiB payloads inline (entries per second), into a fresh on-disk store, flushed per block.
//! - `primitive/*` in the same groups: one Ed25519 verify per block, blake3 of the same bytes,
//!   and a raw sled insert + flush of the same bytes: the floor under each block's cost.
//! - `verifier/scan`: a full verifier scan (entries per second) beside the same primitives.
//!
//! Run: `cargo bench -p medchain-chain --bench ingest`. Results: docs/performance.md.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use medchain_chain::{Author, Decoded, EntryDraft, Ingested, Ledger, PayloadDraft, Trust};
use medchain_protocol::identity::{self, Consortium, MemberKey, Role};
use medchain_protocol::{BlockMessage, EntryKind, PatientRef, PayloadHash, PseudonymKey};
use medchain_store::Store;

const PAYLOAD_BYTES: usize = 1024;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

struct Fixture {
    trust: Trust,
    author: Author,
    _dir: tempfile::TempDir,
    source: Ledger,
}

fn fixture() -> Fixture {
    let now = (now_ms() / 1000) as i64;
    let ca = identity::create_root_ca(
        "Bench Consortium",
        now - 86_400,
        3650,
        &medchain_protocol::identity::SystemRandom::new(),
    )
    .unwrap();
    let member = identity::issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        Role::Provider,
        "Hospital A",
        now - 86_400,
        365,
        &medchain_protocol::identity::SystemRandom::new(),
    )
    .unwrap();
    let trust = Trust::new(Consortium::new(ca.cert_der.clone(), vec![]).unwrap());
    let author = Author::new(
        MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap(),
        member.cert_der.clone(),
        medchain_chain::KeyRing::new(medchain_protocol::sealed::WrappingKey::new(
            medchain_protocol::sealed::SecretKey::from_bytes([0x6b; 32]),
            1,
        )),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = Ledger::new(
        Store::open(&dir.path().join("source")).unwrap(),
        trust.clone(),
    );
    Fixture {
        trust,
        author,
        _dir: dir,
        source,
    }
}

fn payload(i: usize) -> Vec<u8> {
    let head = format!("{{\"resourceType\":\"Observation\",\"id\":\"{i}\",\"note\":\"");
    let mut body = head.into_bytes();
    body.resize(PAYLOAD_BYTES - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

/// `blocks` blocks of `per_block` entries, as gossip messages with their payloads inline.
fn chain(f: &mut Fixture, blocks: usize, per_block: usize) -> Vec<BlockMessage> {
    let key = PseudonymKey::from_bytes([7; 32]);
    let mut out = Vec::new();
    for b in 0..blocks {
        let drafts: Vec<EntryDraft> = (0..per_block)
            .map(|i| EntryDraft {
                kind: EntryKind::Create,
                record: None,
                patient: PatientRef::pseudonymise(&key, &format!("MRN-{b}-{i}")).unwrap(),
                actor: "dr-401542".into(),
                payload: Some(PayloadDraft {
                    bytes: payload(b * per_block + i).into(),
                    content_type: "application/fhir+json".into(),
                }),
                parents: vec![],
                terms: None,
            })
            .collect();
        let authored = f.source.author(&f.author, drafts, now_ms()).unwrap();
        for a in authored {
            out.push(BlockMessage {
                block: a.block.block().clone(),
                payloads: a.block.payloads().iter().cloned().map(Into::into).collect(),
            });
        }
    }
    out
}

fn bench_ingest(c: &mut Criterion) {
    for (per_block, blocks) in [(1usize, 64usize), (16, 16), (256, 4)] {
        // A fresh provider per group, so every chain starts at genesis.
        let mut f = fixture();
        let messages = chain(&mut f, blocks, per_block);
        let bytes: Vec<Vec<u8>> = messages.iter().map(|m| m.block.encode()).collect();
        let mut group = c.benchmark_group(format!("ingest/{per_block}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(8));
        group.throughput(Throughput::Elements((per_block * blocks) as u64));
        group.bench_function("validate+store", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let store = Store::open(&dir.path().join("node")).unwrap();
                    (dir, Ledger::new(store, f.trust.clone()), messages.clone())
                },
                |(_dir, mut ledger, messages)| {
                    for m in messages {
                        let outcome = ledger.ingest(Decoded::from_message(m), now_ms()).unwrap();
                        assert!(matches!(outcome, Ingested::Committed(_)), "{outcome:?}");
                    }
                },
                BatchSize::PerIteration,
            )
        });
        let key = MemberKey::from_seed(&[1; 32]).unwrap();
        let message = [7u8; 60];
        let signature = key.sign(&message);
        let public = key.public_key();
        group.bench_function("primitive/ed25519_verify", |b| {
            b.iter(|| {
                for _ in 0..blocks {
                    assert!(identity::verify_ed25519(&public, &message, &signature));
                }
            })
        });
        group.bench_function("primitive/blake3", |b| {
            b.iter(|| {
                for (m, block) in messages.iter().zip(&bytes) {
                    std::hint::black_box(blake3::hash(block));
                    for p in &m.payloads {
                        std::hint::black_box(PayloadHash::of(p));
                    }
                }
            })
        });
        group.bench_function("primitive/sled_insert+flush", |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let db = sled::open(dir.path().join("raw")).unwrap();
                    (dir, db)
                },
                |(_dir, db)| {
                    for (i, (m, block)) in messages.iter().zip(&bytes).enumerate() {
                        db.insert((i as u64).to_be_bytes(), block.as_slice())
                            .unwrap();
                        for p in &m.payloads {
                            db.insert(PayloadHash::of(p).0, p.as_slice()).unwrap();
                        }
                        db.flush().unwrap();
                    }
                },
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

fn bench_verifier(c: &mut Criterion) {
    let mut f = fixture();
    let messages = chain(&mut f, 32, 256);
    let entries = 32 * 256;
    let mut group = c.benchmark_group("verifier");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(entries as u64));
    group.bench_function("scan", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let report = f.source.verify(now_ms(), now_ms).unwrap();
                total += start.elapsed();
                assert!(report.is_clean() && report.entries as usize >= entries);
            }
            total
        })
    });
    let key = MemberKey::from_seed(&[1; 32]).unwrap();
    let (message, public) = ([7u8; 60], key.public_key());
    let signature = key.sign(&message);
    group.bench_function("primitive/ed25519_verify+blake3_payloads", |b| {
        b.iter(|| {
            for m in &messages {
                assert!(identity::verify_ed25519(&public, &message, &signature));
                for p in &m.payloads {
                    std::hint::black_box(PayloadHash::of(p));
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_ingest, bench_verifier);
criterion_main!(benches);
