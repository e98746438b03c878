//! Building an offline proof of one entry from what this node holds (the bundle and its checks
//! are `medchain_protocol::proof`): the entry's block, signature-checked as every read is, its
//! signer's certificate, and for each other chain held the first of its blocks that names the
//! entry's chain at or above the entry's block, with the headers linking that named head back.
//!
//! The first such block (found by bisection: a chain's witnesses of another chain only rise)
//! needs the fewest linking headers; every later block of that chain commits to it through its
//! own `prev` links, so it stands for the chain's whole later history.
//!
//! A witness is left out when its signer's certificate is not held, does not verify under this
//! node's trust (as the chain rules take history), or belongs to the entry's own organisation
//! (a member does not vouch for itself); and once the proof would pass [`MAX_BUILT_BYTES`].
//! The linking headers are read once and shared by every witness.

use medchain_protocol::identity::org_of;
use medchain_protocol::proof::{MAX_PROOF_WITNESSES, MAX_WITNESS_LINKS, ProofBundle, Witness};
use medchain_protocol::{Block, BlockHeader, ChainHead, ChainId, EntryRef};
use medchain_store::StoreError;

use crate::reads::Reads;
use crate::trust::Trust;

/// Most bytes a built proof's witnesses may take (as hex, about twice their binary size): well
/// within what a verifier reads (`MAX_PROOF_BYTES`, 4 MiB).
pub const MAX_BUILT_BYTES: usize = 1 << 20;

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

/// The proof of the entry at `at`, for the consortium `trust` holds.
pub fn build(reads: &Reads, trust: &Trust, at: EntryRef) -> Result<ProofBundle, ProofBuildError> {
    let block = reads
        .block_at(&at.chain, at.height)?
        .ok_or(ProofBuildError::NotHeld(at))?;
    let certificate = reads
        .certificate_of(&block)?
        .ok_or(ProofBuildError::NoCertificate {
            chain: at.chain,
            height: at.height,
        })?;
    let own_org = org_of(&certificate);
    let mut links = Links::new(&block.header);
    let mut witnesses = Vec::new();
    let mut spent = 0;
    for head in reads.store().heads()? {
        if witnesses.len() == MAX_PROOF_WITNESSES {
            break;
        }
        if head.chain == at.chain {
            continue;
        }
        let Some((found, named, certificate)) = witness_on(reads, trust, &block.header, &head)?
        else {
            continue;
        };
        if org_of(&certificate) == own_org {
            continue;
        }
        let Some(linking) = links.up_to(reads, &named)? else {
            continue;
        };
        let size = 2 * (found.header.encode().len() + certificate.len())
            + linking.iter().map(|h| 2 * h.encode().len()).sum::<usize>();
        if spent + size > MAX_BUILT_BYTES {
            break;
        }
        spent += size;
        witnesses.push((head.chain, Witness::new(&found, &certificate, linking)));
    }
    ProofBundle::new(
        trust.consortium().root_fingerprint(),
        &block,
        &certificate,
        at.index,
        witnesses,
    )
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
/// `block`, the head it names, and its signer's certificate; `None` if it has none, or its
/// certificate is not held or does not verify as history.
fn witness_on(
    reads: &Reads,
    trust: &Trust,
    block: &BlockHeader,
    head: &ChainHead,
) -> Result<Option<(Block, ChainHead, Vec<u8>)>, ProofBuildError> {
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
    let Some(certificate) = reads.certificate_of(&found)? else {
        return Ok(None);
    };
    if trust
        .provider_in_history(&certificate, found.header.time_ms)
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some((found, named, certificate)))
}

/// The entry's chain's headers after its block, read once as far as any witness needs them.
struct Links {
    /// The entry's block's header.
    from: BlockHeader,
    /// Headers at heights `from + 1 ..`, each checked to follow the one before.
    read: Vec<BlockHeader>,
    /// Whether a height was met that is not held or does not follow: nothing past it is read.
    ended: bool,
}

impl Links {
    fn new(from: &BlockHeader) -> Self {
        Self {
            from: from.clone(),
            read: Vec::new(),
            ended: false,
        }
    }

    /// The headers up to `named` if they are held, linked, few enough, and end at its hash (a
    /// witness naming another head than the one held here is left out: a fork is for the
    /// equivocation checks, not for a proof).
    fn up_to(
        &mut self,
        reads: &Reads,
        named: &ChainHead,
    ) -> Result<Option<&[BlockHeader]>, ProofBuildError> {
        let count = named.height - self.from.height;
        if count > MAX_WITNESS_LINKS as u64 {
            return Ok(None);
        }
        while (self.read.len() as u64) < count && !self.ended {
            let height = self.from.height + 1 + self.read.len() as u64;
            let previous = self.read.last().unwrap_or(&self.from).hash();
            // One block at a time: only its header is kept.
            match reads.block_at(&self.from.chain, height)? {
                Some(linked) if linked.header.prev == previous => self.read.push(linked.header),
                _ => self.ended = true,
            }
        }
        if (self.read.len() as u64) < count {
            return Ok(None);
        }
        let linking = &self.read[..count as usize];
        let last = linking.last().unwrap_or(&self.from).hash();
        Ok((last == named.hash).then_some(linking))
    }
}
