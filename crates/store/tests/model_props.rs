//! Property test against a model: blocks of several chains committed in random batches and
//! random order, with quarantines mixed in, leave exactly the heads, chain index and entry
//! indexes that a straightforward model of "which blocks are stored" predicts.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use medchain_protocol::*;
use medchain_store::Store;
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;
use proptest::prelude::*;

const CHAINS: usize = 3;
const HEIGHTS: u64 = 5;

/// Three chains of five blocks each, built once (signing is the slow part). Block h of chain k
/// creates a record, amends the chain's first record from (h-1, 0), and derives from the entry
/// and a record of the next chain, so provenance edges cross chains.
fn pool() -> &'static Vec<Chain> {
    static POOL: OnceLock<Vec<Chain>> = OnceLock::new();
    POOL.get_or_init(|| {
        let ids: Vec<ChainId> = (0..CHAINS).map(|k| Chain::new(k as u8 + 1).id).collect();
        (0..CHAINS)
            .map(|k| {
                let mut chain = Chain::new(k as u8 + 1);
                let other = ids[(k + 1) % CHAINS];
                for h in 0..HEIGHTS {
                    let mut entries = vec![create(chain.id, h, 0, &[k as u8, h as u8])];
                    if h > 0 {
                        let first = RecordId::derive(&chain.id, 0, 0);
                        let p = patient(10 + (h % 2) as u8);
                        entries.push(amend(first, p, chain.at(h - 1, 0), b"v"));
                    }
                    let parents = vec![
                        Parent::Entry(EntryRef {
                            chain: other,
                            height: h,
                            index: 0,
                        }),
                        Parent::Record(RecordId::derive(&other, 0, 0)),
                    ];
                    let index = entries.len() as u32;
                    entries.push(derive(chain.id, h, index, parents));
                    chain.push(entries);
                }
                chain
            })
            .collect()
    })
}

fn block(chain: usize, height: u64) -> &'static Block {
    &pool()[chain].blocks[height as usize]
}

#[derive(Clone, Debug)]
enum Op {
    /// Commit these (chain, height) blocks in this order, in one batch.
    Commit(Vec<(usize, u64)>),
    /// Quarantine chain from height through to height (inclusive; `u64::MAX`: to the top).
    Quarantine(usize, u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((0..CHAINS, 0..HEIGHTS), 1..6).prop_map(Op::Commit),
        1 => (0..CHAINS, 0..HEIGHTS + 1).prop_map(|(c, h)| Op::Quarantine(c, h, u64::MAX)),
        1 => (0..CHAINS, 0..HEIGHTS, 0..HEIGHTS)
            .prop_map(|(c, a, b)| Op::Quarantine(c, a.min(b), a.max(b))),
    ]
}

/// The model: which blocks are stored, and each chain's head height.
#[derive(Default)]
struct Model {
    stored: BTreeSet<(usize, u64)>,
    heads: BTreeMap<usize, u64>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Commit(blocks) => {
                for &(c, h) in blocks {
                    self.stored.insert((c, h));
                    let head = self.heads.entry(c).or_insert(h);
                    *head = (*head).max(h);
                }
            }
            Op::Quarantine(c, from, to) => {
                let cut = *from..=*to;
                self.stored
                    .retain(|&(sc, sh)| sc != *c || !cut.contains(&sh));
                // A head outside the cut whose block is held stays; otherwise the head becomes
                // the highest held block outside the cut and not above the old head (below the
                // cut if there was none), if there is one.
                let limit = match self.heads.get(c) {
                    Some(&h) if !cut.contains(&h) && self.stored.contains(&(*c, h)) => return,
                    Some(&h) => Some(h),
                    None => from.checked_sub(1),
                };
                let new = limit.and_then(|limit| {
                    self.stored
                        .iter()
                        .filter(|&&(sc, sh)| sc == *c && sh <= limit && !cut.contains(&sh))
                        .map(|&(_, sh)| sh)
                        .max()
                });
                match new {
                    Some(h) => {
                        self.heads.insert(*c, h);
                    }
                    None => {
                        self.heads.remove(c);
                    }
                }
            }
        }
    }

    /// What every index should hold: (records, patients, parents, prov_down) as sorted sets.
    #[allow(clippy::type_complexity)]
    fn indexes(
        &self,
    ) -> (
        BTreeMap<RecordId, BTreeSet<EntryRef>>,
        BTreeMap<PatientRef, BTreeSet<EntryRef>>,
        BTreeMap<EntryRef, BTreeSet<Parent>>,
        BTreeMap<Parent, BTreeSet<EntryRef>>,
    ) {
        let (mut records, mut patients) = (BTreeMap::new(), BTreeMap::new());
        let (mut up, mut down) = (BTreeMap::new(), BTreeMap::new());
        for &(c, h) in &self.stored {
            let b = block(c, h);
            for (i, entry) in (0u32..).zip(&b.entries) {
                let at = b.entry_ref(i);
                records
                    .entry(entry.record)
                    .or_insert_with(BTreeSet::new)
                    .insert(at);
                patients
                    .entry(entry.patient)
                    .or_insert_with(BTreeSet::new)
                    .insert(at);
                for parent in &entry.parents {
                    up.entry(at).or_insert_with(BTreeSet::new).insert(*parent);
                    down.entry(*parent).or_insert_with(BTreeSet::new).insert(at);
                }
            }
        }
        (records, patients, up, down)
    }
}

fn check(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    let pool = pool();
    // Heads, one per chain that has one, sorted by chain.
    let mut heads: Vec<ChainHead> = model
        .heads
        .iter()
        .map(|(&c, &h)| head_of(block(c, h)))
        .collect();
    heads.sort();
    prop_assert_eq!(store.heads().unwrap(), heads);
    for (c, chain) in pool.iter().enumerate() {
        let index: Vec<(u64, BlockHash)> = model
            .stored
            .iter()
            .filter(|(sc, _)| *sc == c)
            .map(|&(_, h)| (h, block(c, h).hash()))
            .collect();
        prop_assert_eq!(store.chain_index(&chain.id).unwrap(), index);
        let prefix: Vec<Block> = (0..HEIGHTS)
            .take_while(|h| model.stored.contains(&(c, *h)))
            .map(|h| block(c, h).clone())
            .collect();
        prop_assert_eq!(store.blocks_range(&chain.id, 0, 100).unwrap(), prefix);
    }
    let (records, patients, up, down) = model.indexes();
    // Query every key the pool could ever index, so entries that should be gone are checked too.
    let mut all_records = BTreeSet::new();
    let mut all_patients = BTreeSet::new();
    let mut all_entries = BTreeSet::new();
    let mut all_parents = BTreeSet::new();
    for chain in pool {
        for b in &chain.blocks {
            for (i, entry) in (0u32..).zip(&b.entries) {
                all_records.insert(entry.record);
                all_patients.insert(entry.patient);
                all_entries.insert(b.entry_ref(i));
                all_parents.extend(entry.parents.iter().copied());
            }
        }
    }
    let or_empty = |set: Option<&BTreeSet<EntryRef>>| -> Vec<EntryRef> {
        set.map(|s| s.iter().copied().collect()).unwrap_or_default()
    };
    for record in &all_records {
        prop_assert_eq!(
            store.record_entries(record).unwrap(),
            or_empty(records.get(record))
        );
    }
    for p in &all_patients {
        prop_assert_eq!(store.patient_entries(p).unwrap(), or_empty(patients.get(p)));
    }
    for at in &all_entries {
        let expected: Vec<Parent> = up
            .get(at)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        prop_assert_eq!(store.parents_of(at).unwrap(), expected);
    }
    for parent in &all_parents {
        prop_assert_eq!(
            store.children_of(parent).unwrap(),
            or_empty(down.get(parent))
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_matches_the_model(ops in prop::collection::vec(op(), 1..10)) {
        let mut store = Store::open_temporary().unwrap();
        let mut model = Model::default();
        for op in &ops {
            match op {
                Op::Commit(positions) => {
                    let blocks: Vec<Block> =
                        positions.iter().map(|&(c, h)| block(c, h).clone()).collect();
                    commit(&mut store, &blocks);
                }
                Op::Quarantine(c, from, to) => {
                    store
                        .quarantine_range(&pool()[*c].id, *from..=*to, 0, "model test")
                        .unwrap();
                }
            }
            model.apply(op);
            check(&store, &model)?;
        }
    }
}
