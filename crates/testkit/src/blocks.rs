//! Deterministic keys, entries and signed chains at the protocol level, for tests that work
//! below the ledger (encoding, block rules, the store). Blocks are really signed; the
//! certificate they carry is a stand-in (neither the protocol's rules nor the store parse it).

use medchain_protocol::identity::MemberKey;
use medchain_protocol::{
    Block, BlockDraft, BlockHash, ChainId, Entry, EntryKind, EntryRef, Parent, PatientRef,
    PayloadHash, PayloadRef, RecordId,
};

/// The time of every test chain's genesis block; height `h` is `h` ms later.
pub const GENESIS_MS: u64 = 1_700_000_000_000;

/// A deterministic member key, so golden vectors are stable.
pub fn key(seed: u8) -> MemberKey {
    MemberKey::from_seed(&[seed; 32]).expect("any 32 bytes are a seed")
}

/// The chain `key` signs.
pub fn chain_of(key: &MemberKey) -> ChainId {
    ChainId::from_public_key(&key.public_key())
}

/// The stand-in certificate a test chain of member `seed` carries at genesis.
pub fn certificate(seed: u8) -> Vec<u8> {
    format!("stand-in certificate DER of member {seed}").into_bytes()
}

/// Patient `n`'s reference.
pub fn patient(n: u8) -> PatientRef {
    PatientRef([n; 32])
}

fn fhir_ref(body: &[u8]) -> Option<PayloadRef> {
    Some(PayloadRef {
        hash: PayloadHash::of(body),
        len: body.len() as u64,
        content_type: "application/fhir+json".into(),
    })
}

/// A create entry at `(chain, height, index)` for patient 1 with a FHIR payload `body`.
pub fn create(chain: ChainId, height: u64, index: u32, body: &[u8]) -> Entry {
    create_for(patient(1), chain, height, index, body)
}

/// A create entry at `(chain, height, index)` for `patient` with a FHIR payload `body`.
pub fn create_for(
    patient: PatientRef,
    chain: ChainId,
    height: u64,
    index: u32,
    body: &[u8],
) -> Entry {
    Entry {
        kind: EntryKind::Create,
        record: RecordId::derive(&chain, height, index),
        patient,
        actor: "dr-401542".into(),
        payload: fhir_ref(body),
        parents: vec![],
        terms: None,
    }
}

/// An amend of `record` from the version at `from`.
pub fn amend(record: RecordId, patient: PatientRef, from: EntryRef, body: &[u8]) -> Entry {
    Entry {
        kind: EntryKind::Amend,
        record,
        patient,
        actor: "dr-7".into(),
        payload: fhir_ref(body),
        parents: vec![Parent::Entry(from)],
        terms: None,
    }
}

/// A derive entry at `(chain, height, index)` from `parents`, for patient 2.
pub fn derive(chain: ChainId, height: u64, index: u32, parents: Vec<Parent>) -> Entry {
    Entry {
        kind: EntryKind::Derive,
        record: RecordId::derive(&chain, height, index),
        patient: patient(2),
        actor: "lab-3".into(),
        payload: Some(PayloadRef {
            hash: PayloadHash::of(b"derived"),
            len: 7,
            content_type: "text/plain".into(),
        }),
        parents,
        terms: None,
    }
}

/// A genesis block of `key`'s chain holding `entries`, carrying a stand-in certificate.
pub fn genesis(key: &MemberKey, entries: Vec<Entry>) -> Block {
    BlockDraft {
        chain: chain_of(key),
        height: 0,
        prev: BlockHash::ZERO,
        time_ms: GENESIS_MS,
        certificate: b"stand-in certificate DER".to_vec(),
        carry_certificate: true,
        witnesses: vec![],
        entries,
    }
    .seal(key)
}

/// `n` blocks of `key`'s chain with no entries, carrying `certificate` at genesis.
pub fn empty_chain(key: &MemberKey, certificate: &[u8], n: u64) -> (ChainId, Vec<Block>) {
    let chain = chain_of(key);
    let mut prev = BlockHash::ZERO;
    let mut blocks = Vec::new();
    for height in 0..n {
        let block = BlockDraft {
            chain,
            height,
            prev,
            time_ms: GENESIS_MS + height,
            certificate: certificate.to_vec(),
            carry_certificate: height == 0,
            witnesses: Vec::new(),
            entries: Vec::new(),
        }
        .seal(key);
        prev = block.hash();
        blocks.push(block);
    }
    (chain, blocks)
}

/// One member's chain, built block by block.
pub struct Chain {
    /// Its key.
    pub key: MemberKey,
    /// Its ID.
    pub id: ChainId,
    /// The certificate its genesis block carries.
    pub certificate: Vec<u8>,
    /// Its blocks so far.
    pub blocks: Vec<Block>,
}

impl Chain {
    /// The chain of member `seed` (key and stand-in certificate from the seed).
    pub fn new(seed: u8) -> Self {
        Self::with_certificate(key(seed), certificate(seed))
    }

    /// The chain of `key`, carrying `certificate` at genesis.
    pub fn with_certificate(key: MemberKey, certificate: Vec<u8>) -> Self {
        let id = chain_of(&key);
        Chain {
            key,
            id,
            certificate,
            blocks: Vec::new(),
        }
    }

    /// The height the next block gets.
    pub fn next_height(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// Seals the next block with `entries` (built for this chain and height) and keeps it.
    pub fn push(&mut self, entries: Vec<Entry>) -> Block {
        let height = self.next_height();
        let block = BlockDraft {
            chain: self.id,
            height,
            prev: self.blocks.last().map_or(BlockHash::ZERO, Block::hash),
            time_ms: GENESIS_MS + height,
            certificate: self.certificate.clone(),
            carry_certificate: height == 0,
            witnesses: vec![],
            entries,
        }
        .seal(&self.key);
        block.check_structure().unwrap();
        self.blocks.push(block.clone());
        block
    }

    /// The next block with `n` create entries.
    pub fn push_creates(&mut self, n: u32) -> Block {
        let height = self.next_height();
        let entries = (0..n)
            .map(|i| create(self.id, height, i, format!("body {height}/{i}").as_bytes()))
            .collect();
        self.push(entries)
    }

    /// An entry position on this chain.
    pub fn at(&self, height: u64, index: u32) -> EntryRef {
        EntryRef {
            chain: self.id,
            height,
            index,
        }
    }
}
