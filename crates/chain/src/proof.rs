//! Building an offline proof of one entry from what this node holds (the bundle and its checks
//! are `medchain_protocol::proof`): the entry's block, signature-checked as every read is, its
//! signer's certificate, and for each other chain held the first of its blocks that names the
//! entry's chain at or above the entry's block, with the headers linking that named head back.
//!
//! The first such block (found by bisection: a chain's witnesses of another chain only rise)
//! needs the fewest linking headers; every later block of that chain commits to it through its
//! own `prev` links, so it stands for the chain's whole later history.

use medchain_protocol::proof::{MAX_PROOF_WITNESSES, MAX_WITNESS_LINKS, ProofBundle, Witness};
use medchain_protocol::{Block, BlockHeader, ChainHead, ChainId, EntryRef};
use medchain_store::StoreError;

use crate::reads::Reads;

/// Why no proof could be built.
#[derive(Debug, thiserror::Error)]
pub enum ProofBuildError {
    /// The store failed or is damaged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such entry is held here.
    #[error("entry {0} is not held here")]
    NotHeld(EntryRef),
    /// The certificate a held block names is not in the store.
    #[error("the certificate of block {height} of chain {chain} is not held here")]
    NoCertificate {
        /// The block's chain.
        chain: ChainId,
        /// Its height.
        height: u64,
    },
}

/// The proof of the entry at `at`, for the consortium root with this SHA-256 fingerprint.
pub fn build(
    reads: &Reads,
    root_fingerprint: [u8; 32],
    at: EntryRef,
) -> Result<ProofBundle, ProofBuildError> {
    let block = reads
        .block_at(&at.chain, at.height)?
        .ok_or(ProofBuildError::NotHeld(at))?;
    let certificate = certificate_of(reads, &block)?;
    let mut witnesses = Vec::new();
    for head in reads.store().heads()? {
        if witnesses.len() == MAX_PROOF_WITNESSES {
            break;
        }
        if head.chain == at.chain {
            continue;
        }
        if let Some(witness) = witness_on(reads, &block.header, &head)? {
            witnesses.push((head.chain, witness));
        }
    }
    ProofBundle::new(root_fingerprint, &block, &certificate, at.index, witnesses)
        .ok_or(ProofBuildError::NotHeld(at))
}

/// The head of `block`'s chain that `witness` names at or above `block`, if any.
fn named_head(witness: &Block, block: &BlockHeader) -> Option<ChainHead> {
    witness
        .header
        .witnesses
        .iter()
        .find(|head| head.chain == block.chain && head.height >= block.height)
        .copied()
}

/// The first block of the chain whose head is `head` that names `block`'s chain at or above
/// `block`, with its linking headers; `None` if it has none, or needs more links than a proof
/// carries, or names a head this node does not hold (a fork: equivocation is for the
/// equivocation checks, not for a proof).
fn witness_on(
    reads: &Reads,
    block: &BlockHeader,
    head: &ChainHead,
) -> Result<Option<Witness>, ProofBuildError> {
    let Some(mut found) = reads.block_at(&head.chain, head.height)? else {
        return Ok(None);
    };
    if named_head(&found, block).is_none() {
        return Ok(None);
    }
    // Invariant: the block at `high` names it; none below `low` is known to.
    let (mut low, mut high) = (0, head.height);
    while low < high {
        let middle = low + (high - low) / 2;
        match reads.block_at(&head.chain, middle)? {
            Some(candidate) if named_head(&candidate, block).is_some() => {
                high = middle;
                found = candidate;
            }
            // Not naming it yet, or a hole (quarantined): look above.
            _ => low = middle + 1,
        }
    }
    let Some(named) = named_head(&found, block) else {
        return Ok(None);
    };
    let Some(links) = linking_headers(reads, block, &named)? else {
        return Ok(None);
    };
    let certificate = certificate_of(reads, &found)?;
    Ok(Some(Witness::new(&found, &certificate, &links)))
}

/// `block`'s chain's headers after `block` up to `named`, if held and linked, and few enough.
fn linking_headers(
    reads: &Reads,
    block: &BlockHeader,
    named: &ChainHead,
) -> Result<Option<Vec<BlockHeader>>, ProofBuildError> {
    let count = named.height - block.height;
    if count > MAX_WITNESS_LINKS as u64 {
        return Ok(None);
    }
    let mut links = Vec::with_capacity(count as usize);
    let mut previous = block.hash();
    for height in block.height + 1..=named.height {
        // One block at a time: only its header is kept.
        let Some(linked) = reads.block_at(&block.chain, height)? else {
            return Ok(None);
        };
        if linked.header.prev != previous {
            return Ok(None);
        }
        previous = linked.hash();
        links.push(linked.header);
    }
    // A witness naming another head than the one held here is left out.
    Ok((previous == named.hash).then_some(links))
}

/// The certificate `block` was signed under: carried, or held in the store by its hash.
fn certificate_of(reads: &Reads, block: &Block) -> Result<Vec<u8>, ProofBuildError> {
    if let Some(der) = &block.certificate {
        return Ok(der.clone());
    }
    reads
        .store()
        .certificate(&block.header.cert)?
        .ok_or(ProofBuildError::NoCertificate {
            chain: block.header.chain,
            height: block.header.height,
        })
}
