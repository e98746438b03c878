//! Ledgers for verifier and repair tests: chains grown by authoring, a node and a clean copy of
//! the same chains, payloads copied, a damaged chain refilled from the clean copy.

use medchain_chain::{Author, Ledger};
use medchain_protocol::{Block, BlockHash, ChainId};

use crate::clock::now_ms;
use crate::drafts::create;
use crate::pki::TestCa;

/// Every block of `chain` held by `ledger`, in order.
pub fn chain_blocks(ledger: &Ledger, chain: &ChainId) -> Vec<Block> {
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
    /// The consortium.
    pub c: TestCa,
    /// Hospital A.
    pub a: Author,
    /// Hospital B.
    pub b: Author,
    /// The node under test.
    pub node: Ledger,
    /// The clean copy (what peers hold).
    pub clean: Ledger,
}

/// [`World`] built.
pub fn world() -> World {
    let c = TestCa::new("Consortium");
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

/// Puts every payload `from` holds for `chain` into `to`.
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

/// The hash of `chain`'s block at height `h` in `l`.
pub fn hash_at(l: &Ledger, chain: &ChainId, h: u64) -> BlockHash {
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
