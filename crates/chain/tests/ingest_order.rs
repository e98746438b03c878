//! Chains of several providers, delivered in any order, end in the same state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{Decoded, Ledger};
use medchain_protocol::Block;
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Three providers' chains (5, 4 and 3 blocks, each with 1 to 3 entries), made once.
fn chains() -> &'static (Vec<Block>, Vec<medchain_protocol::ChainHead>, TestCa) {
    static CHAINS: OnceLock<(Vec<Block>, Vec<medchain_protocol::ChainHead>, TestCa)> =
        OnceLock::new();
    CHAINS.get_or_init(|| {
        let c = TestCa::new("Consortium");
        let mut source = c.ledger();
        let mut blocks = Vec::new();
        for (n, org) in [(5, "A"), (4, "B"), (3, "C")] {
            let author = c.provider(org);
            for i in 0..n {
                let drafts = (0..=(i % 3))
                    .map(|j| create(&format!("MRN-{org}-{i}-{j}"), "{}"))
                    .collect();
                source.author(&author, drafts, now_ms()).unwrap();
            }
            blocks.extend(chain_blocks(&source, &author.chain()));
        }
        let heads = source.store().heads().unwrap();
        (blocks, heads, c)
    })
}

fn deliver(node: &mut Ledger, blocks: &[Block]) {
    for block in blocks {
        // Refusals here are duplicates and early blocks: the end state is what is checked.
        let _ = node.ingest(Decoded::from_block(block.clone(), vec![]), now_ms());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_order_same_state(order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(), dup in 0..12usize) {
        let (blocks, heads, c) = chains();
        let mut node = c.ledger();
        let mut shuffled: Vec<Block> = order.iter().map(|&i| blocks[i].clone()).collect();
        shuffled.push(blocks[dup].clone()); // a duplicate delivery changes nothing
        deliver(&mut node, &shuffled);
        prop_assert_eq!(&node.store().heads().unwrap(), heads);
        for block in blocks {
            let held = node.store().block(&block.hash()).unwrap();
            prop_assert_eq!(held.as_ref(), Some(block));
            for (i, entry) in block.entries.iter().enumerate() {
                let at = block.entry_ref(i as u32);
                prop_assert!(node.store().record_entries(&entry.record).unwrap().contains(&at));
                prop_assert!(node.store().patient_entries(&entry.patient).unwrap().contains(&at));
            }
        }
        prop_assert_eq!(node.buffered(), 0);
    }
}
