//! Fixtures for the chain crate's tests: a real consortium (root CA, provider and auditor
//! certificates), ledgers on temporary stores, and entry drafts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{SystemTime, UNIX_EPOCH};

use medchain_chain::{Author, EntryDraft, Ledger, PayloadDraft, Trust};
use medchain_protocol::identity::{self, Consortium, IssuedCa, IssuedMember, MemberKey, Role};
use medchain_protocol::{ChainId, EntryKind, Parent, PatientRef, PseudonymKey, RecordId};
use medchain_store::Store;

pub const DAY: i64 = 86_400;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}

/// A consortium with a root CA.
pub struct Consortia {
    pub ca: IssuedCa,
}

impl Consortia {
    pub fn new(name: &str) -> Self {
        Self {
            ca: identity::create_root_ca(
                name,
                now_s() - 30 * DAY,
                3650,
                &medchain_protocol::identity::SystemRandom::new(),
            )
            .unwrap(),
        }
    }

    pub fn member(&self, role: Role, org: &str) -> IssuedMember {
        identity::issue_member(
            &self.ca.cert_der,
            &self.ca.key_pkcs8_der,
            role,
            org,
            now_s() - DAY,
            365,
            &medchain_protocol::identity::SystemRandom::new(),
        )
        .unwrap()
    }

    pub fn provider(&self, org: &str) -> Author {
        author_of(&self.member(Role::Provider, org))
    }

    pub fn trust(&self) -> Trust {
        Trust::new(Consortium::new(self.ca.cert_der.clone(), vec![]).unwrap())
    }

    pub fn trust_with_crl(&self, crl: Vec<u8>) -> Trust {
        Trust::new(Consortium::new(self.ca.cert_der.clone(), vec![crl]).unwrap())
    }

    pub fn ledger(&self) -> Ledger {
        Ledger::new(Store::open_temporary().unwrap(), self.trust())
    }
}

/// An author from an issued member (even an auditor: the ledger must refuse its blocks).
pub fn author_of(member: &IssuedMember) -> Author {
    let key = MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap();
    Author::new(key, member.cert_der.clone()).unwrap()
}

pub fn patient(id: &str) -> PatientRef {
    PatientRef::pseudonymise(&PseudonymKey::from_bytes([7; 32]), id).unwrap()
}

pub fn fhir(body: &str) -> Option<PayloadDraft> {
    Some(PayloadDraft {
        bytes: body.as_bytes().to_vec(),
        content_type: "application/fhir+json".into(),
    })
}

pub fn create(patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind: EntryKind::Create,
        record: None,
        patient: patient(patient_id),
        actor: "dr-401542".into(),
        payload: fhir(body),
        parents: vec![],
    }
}

pub fn amend(record: RecordId, parent: Parent, patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind: EntryKind::Amend,
        record: Some(record),
        patient: patient(patient_id),
        actor: "dr-401542".into(),
        payload: fhir(body),
        parents: vec![parent],
    }
}

pub fn derived(kind: EntryKind, parents: Vec<Parent>, patient_id: &str, body: &str) -> EntryDraft {
    EntryDraft {
        kind,
        record: None,
        patient: patient(patient_id),
        actor: "dr-777".into(),
        payload: fhir(body),
        parents,
    }
}

/// Every block of `chain` held by `ledger`, in order.
pub fn chain_blocks(
    ledger: &Ledger,
    chain: &medchain_protocol::ChainId,
) -> Vec<medchain_protocol::Block> {
    let head = ledger
        .store()
        .head(chain)
        .unwrap()
        .map_or(0, |h| h.height + 1);
    ledger.store().blocks_range(chain, 0, head as u32).unwrap()
}

/// Authors `n` blocks of one create entry each on `author`'s chain in `ledger`.
pub fn grow(ledger: &mut Ledger, author: &Author, n: usize, tag: &str) {
    for i in 0..n {
        ledger
            .author(
                author,
                vec![create(
                    &format!("MRN-{tag}-{i}"),
                    &format!("{{\"resourceType\":\"Observation\",\"id\":\"{tag}{i}\"}}"),
                )],
                now_ms(),
            )
            .unwrap();
    }
}

/// A node holding chains of A (6 blocks) and B (3 blocks), and a clean copy of the same.
pub struct World {
    pub c: Consortia,
    pub a: Author,
    pub b: Author,
    pub node: Ledger,
    pub clean: Ledger,
}

pub fn world() -> World {
    let c = Consortia::new("Consortium");
    let (a, b) = (c.provider("Hospital A"), c.provider("Hospital B"));
    let mut clean = c.ledger();
    grow(&mut clean, &a, 6, "a");
    grow(&mut clean, &b, 3, "b");
    let mut node = c.ledger();
    for chain in [a.chain(), b.chain()] {
        let (done, failure) = node.ingest_range(chain_blocks(&clean, &chain), now_ms());
        assert!(failure.is_none(), "{failure:?}");
        assert!(!done.is_empty());
        copy_payloads(&clean, &mut node, &chain);
    }
    World {
        c,
        a,
        b,
        node,
        clean,
    }
}

pub fn copy_payloads(from: &Ledger, to: &mut Ledger, chain: &ChainId) {
    for block in chain_blocks(from, chain) {
        for entry in &block.entries {
            if let Some(p) = &entry.payload {
                let bytes = from.store().payload(&p.hash).unwrap().unwrap();
                to.restore_payload(&bytes).unwrap();
            }
        }
    }
}

pub fn hash_at(l: &Ledger, chain: &ChainId, h: u64) -> medchain_protocol::BlockHash {
    l.store().block_hash_at(chain, h).unwrap().unwrap()
}

/// Ingests the clean copy of `chain` whole (as a peer answers from height 0); expects
/// `restored` quarantine events to complete, the chain to equal the clean one and the store to
/// verify clean. The heights committed.
pub fn refill_from_clean(w: &mut World, chain: &ChainId, restored: usize) -> Vec<u64> {
    let (done, failure) = w.node.ingest_range(chain_blocks(&w.clean, chain), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(w.node.complete_restores(now_ms()).unwrap().len(), restored);
    assert_eq!(chain_blocks(&w.node, chain), chain_blocks(&w.clean, chain));
    assert!(w.node.verify(now_ms(), now_ms).unwrap().is_clean());
    done.iter().map(|c| c.height).collect()
}

/// Signature-checked reads over `ledger`'s store.
pub fn reads(ledger: &Ledger) -> medchain_chain::Reads {
    medchain_chain::Reads::new(ledger.store().clone())
}
