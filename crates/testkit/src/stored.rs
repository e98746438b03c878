//! The store under test: committing signed blocks in one call and checking that every index
//! entry they imply is held.

use medchain_protocol::{Block, ChainHead};
use medchain_store::{BlockWrite, Store};

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

/// The head `block` makes.
pub fn head_of(block: &Block) -> ChainHead {
    ChainHead {
        chain: block.header.chain,
        height: block.header.height,
        hash: block.hash(),
    }
}
