//! Committing blocks with all their index entries.
//!
//! A block commits in ONE sled transaction over the nine trees it touches (consecutive small
//! blocks share one), then the database is flushed: sled writes are durable only after a flush, and a block must never be
//! acknowledged, nor be visible without its index entries, before it is durable (BRIEF section 5).
//! Every key is computed before the transaction, because sled may run the closure more than once.
//!
//! sled 0.34 notes that shape this code: a transaction cannot iterate, so everything it needs
//! is a point read; inside the closure only the transactional views may be used (a plain tree
//! call there would take sled's global concurrency lock, already held for writing, and
//! deadlock); and every transactional `insert` also reads the key's old value, so a commit costs
//! a point read per index entry on top of the write.

use medchain_protocol::ChainId;
use sled::IVec;
use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use crate::error::{StoreError, bad, from_transaction};
use crate::index::{IndexTree, carried_certificate, implied};
use crate::keys;
use crate::open::{Store, name};
use crate::types::BlockWrite;

/// One block's writes, computed outside the transaction.
struct Prepared {
    hash: IVec,
    bytes: IVec,
    height_key: IVec,
    chain: ChainId,
    height: u64,
    head_value: IVec,
    index: Vec<(IndexTree, IVec)>,
    certificate: Option<(IVec, IVec)>,
}

fn prepare(write: &BlockWrite<'_>) -> Prepared {
    let header = &write.block.header;
    Prepared {
        hash: IVec::from(&write.hash.as_bytes()[..]),
        bytes: IVec::from(write.encoded),
        height_key: IVec::from(&keys::height_key(&header.chain, header.height)[..]),
        chain: header.chain,
        height: header.height,
        head_value: IVec::from(&keys::head_value(header.height, &write.hash)[..]),
        index: implied(write.block)
            .into_iter()
            .map(|entry| (entry.tree, IVec::from(entry.key)))
            .collect(),
        certificate: carried_certificate(write.block)
            .map(|(hash, der)| (IVec::from(&hash.as_bytes()[..]), IVec::from(der))),
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Most index entries (or payload locations) written in one sled transaction or batch. sled copies a
/// tree node on every write to it and frees the old copy only when the transaction's epoch
/// ends, so one transaction over a whole sync range (twenty thousand records) held hundreds of
/// megabytes of old node copies at once (heap profile in docs/performance.md).
pub(crate) const MAX_WRITES_PER_TRANSACTION: usize = 64;

/// `prepared` cut into consecutive groups of whole blocks, each of at most
/// [`MAX_WRITES_PER_TRANSACTION`] index entries (a bigger block is a group of its own).
fn groups(prepared: &[Prepared]) -> Vec<&[Prepared]> {
    let mut out = Vec::new();
    let (mut start, mut writes) = (0, 0);
    for (i, block) in prepared.iter().enumerate() {
        if i > start && writes + block.index.len() > MAX_WRITES_PER_TRANSACTION {
            out.push(&prepared[start..i]);
            (start, writes) = (i, 0);
        }
        writes += block.index.len();
    }
    out.push(&prepared[start..]);
    out
}

/// The block's bytes, its chain index entry and its carried certificate.
fn write_block(
    block: &Prepared,
    blocks: &TransactionalTree,
    chain_index: &TransactionalTree,
    certs: &TransactionalTree,
) -> TxResult<()> {
    blocks.insert(block.hash.clone(), block.bytes.clone())?;
    chain_index.insert(block.height_key.clone(), block.hash.clone())?;
    // Written when absent, and when what is held is not these bytes (damaged or planted: a
    // refetched block must repair its certificate too).
    if let Some((hash, der)) = &block.certificate
        && certs.get(hash)?.as_ref() != Some(der)
    {
        certs.insert(hash.clone(), der.clone())?;
    }
    Ok(())
}

/// The height of the head stored in the transaction's view of `heads`.
fn head_height(heads: &TransactionalTree, chain: &ChainId) -> TxResult<Option<u64>> {
    match heads.get(chain.as_bytes())? {
        None => Ok(None),
        Some(value) => match keys::decode_head_value(&value) {
            Some((height, _)) => Ok(Some(height)),
            None => Err(ConflictableTransactionError::Abort(bad(
                name::HEADS,
                chain.as_bytes(),
            ))),
        },
    }
}

impl Store {
    /// Commits the blocks and ALL their index entries, each block in ONE sled transaction over
    /// the trees (blocks, chain_index, heads, records, patients, prov_down, certificates,
    /// accesses, terms), then flushes before returning. Consecutive blocks share a transaction up
    /// to [`MAX_WRITES_PER_TRANSACTION`] index entries; a crash before the flush leaves a prefix
    /// of them, each whole (blocks arrive in chain order, so a prefix is a shorter valid chain). Heads move only upward (a head is replaced only by a higher one).
    /// Committing a block already stored (same hash, and named by the chain index at its height)
    /// is a no-op for it: its bytes and index entries are not rewritten; only the head rule still
    /// applies, which in a consistent store changes nothing (it matters after a quarantine that
    /// found no block right below its cut and removed the head). A stored block the chain index
    /// does not name (an orphan left by a quarantine) is committed again in full. The caller
    /// commits at most one block per (chain, height); a second would overwrite the chain index
    /// entry.
    pub fn commit_blocks(&mut self, blocks: &[BlockWrite<'_>]) -> Result<(), StoreError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let prepared: Vec<Prepared> = blocks.iter().map(prepare).collect();
        for group in groups(&prepared) {
            self.commit_group(group)?;
        }
        self.flush_now()
    }

    /// One transaction over the trees for `prepared` (see [`Store::commit_blocks`]).
    fn commit_group(&self, prepared: &[Prepared]) -> Result<(), StoreError> {
        let trees = self.trees();
        // Nine trees, as a slice (one view per tree, in this order).
        let all: [&sled::Tree; 9] = [
            &trees.blocks,
            &trees.chain_index,
            &trees.heads,
            &trees.records,
            &trees.patients,
            &trees.prov_down,
            &trees.certificates,
            &trees.accesses,
            &trees.terms,
        ];
        let result = all[..].transaction(|views| {
            let [
                blocks,
                chain_index,
                heads,
                records,
                patients,
                prov_down,
                certs,
                accesses,
                terms,
            ] = views.as_slice()
            else {
                unreachable!("one view per tree given");
            };
            for block in prepared {
                // Stored and named by the chain index: only the head rule applies. Bytes the
                // index does not name (an orphan a quarantine could not attribute) are
                // committed again. Reads see this transaction's own writes, so a block repeated
                // within the batch is skipped too.
                let indexed = chain_index.get(&block.height_key)?;
                let stored =
                    indexed.as_ref() == Some(&block.hash) && blocks.get(&block.hash)?.is_some();
                if !stored {
                    write_block(block, blocks, chain_index, certs)?;
                    for (which, key) in &block.index {
                        let tree = match which {
                            IndexTree::Records => records,
                            IndexTree::Patients => patients,
                            IndexTree::ProvDown => prov_down,
                            IndexTree::Accesses => accesses,
                            IndexTree::Terms => terms,
                        };
                        tree.insert(key.clone(), IVec::default())?;
                    }
                }
                let current = head_height(heads, &block.chain)?;
                if current.is_none_or(|h| block.height > h) {
                    heads.insert(block.chain.as_bytes(), block.head_value.clone())?;
                }
            }
            Ok(())
        });
        from_transaction(result)
    }
}
