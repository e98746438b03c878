//! Shared builders for the store's integration tests: real signed blocks on real chains.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use medchain_protocol::identity::MemberKey;
use medchain_protocol::*;
use medchain_store::{BlockWrite, Store};

/// The stand-in certificate every test chain carries at genesis (the store never parses it).
pub fn certificate(seed: u8) -> Vec<u8> {
    format!("stand-in certificate DER of member {seed}").into_bytes()
}

/// One provider's chain, built block by block.
pub struct Chain {
    pub seed: u8,
    pub key: MemberKey,
    pub id: ChainId,
    pub blocks: Vec<Block>,
}

impl Chain {
    pub fn new(seed: u8) -> Self {
        let key = MemberKey::from_seed(&[seed; 32]).unwrap();
        let id = ChainId::from_public_key(&key.public_key());
        Chain {
            seed,
            key,
            id,
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
            time_ms: 1_700_000_000_000 + height,
            certificate: certificate(self.seed),
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

pub fn patient(n: u8) -> PatientRef {
    PatientRef([n; 32])
}

/// A create entry at (chain, height, index) for patient 1 with a JSON-ish payload `body`.
pub fn create(chain: ChainId, height: u64, index: u32, body: &[u8]) -> Entry {
    Entry {
        kind: EntryKind::Create,
        record: RecordId::derive(&chain, height, index),
        patient: patient(1),
        actor: "dr-401542".into(),
        payload: Some(PayloadRef {
            hash: PayloadHash::of(body),
            len: body.len() as u64,
            content_type: "application/fhir+json".into(),
        }),
        parents: vec![],
    }
}

/// An amend of `record` from the version at `from`.
pub fn amend(record: RecordId, patient_ref: PatientRef, from: EntryRef, body: &[u8]) -> Entry {
    Entry {
        kind: EntryKind::Amend,
        record,
        patient: patient_ref,
        actor: "dr-7".into(),
        payload: Some(PayloadRef {
            hash: PayloadHash::of(body),
            len: body.len() as u64,
            content_type: "application/fhir+json".into(),
        }),
        parents: vec![Parent::Entry(from)],
    }
}

/// A derive entry at (chain, height, index) from the given parents.
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
    }
}

/// Commits `blocks` in one call.
pub fn commit(store: &mut Store, blocks: &[Block]) {
    let encoded: Vec<Vec<u8>> = blocks.iter().map(Block::encode).collect();
    let writes: Vec<BlockWrite<'_>> = blocks
        .iter()
        .zip(&encoded)
        .map(|(block, bytes)| BlockWrite {
            block,
            hash: block.hash(),
            encoded: bytes,
        })
        .collect();
    store.commit_blocks(&writes).unwrap();
}

/// Every index entry each of `blocks` implies is held.
pub fn assert_indexed<'a>(store: &Store, blocks: impl IntoIterator<Item = &'a Block>) {
    for block in blocks {
        assert_eq!(
            store.missing_index_entries(block, &block.hash()).unwrap(),
            vec![],
            "height {}",
            block.header.height
        );
    }
}

pub fn head_of(block: &Block) -> ChainHead {
    ChainHead {
        chain: block.header.chain,
        height: block.header.height,
        hash: block.hash(),
    }
}
