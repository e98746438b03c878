//! The ledger: the one owner of the store's write path.
//!
//! The store crate cannot name [`VerifiedBlock`] (this crate depends on it, not the reverse), so
//! the proof is carried by ownership: the node holds a `Ledger`, whose only ways to write blocks
//! take a `VerifiedBlock` or run the validation pipeline themselves. Reads go through
//! [`Ledger::store`].

use medchain_protocol::{Block, BlockHash, BlockMessage, ChainId, EquivocationEvidence};
use medchain_store::{BlockWrite, Store, StoreError};

use crate::buffer::{OutOfOrder, Pending};
use crate::error::Rejection;
use crate::trust::Trust;
use crate::validate::Admission;
use crate::validate::{Decoded, Position, Signed, VerifiedBlock, position};

/// A block now durably held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its chain.
    pub chain: ChainId,
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: BlockHash,
    /// How many entries it holds.
    pub entries: usize,
}

/// Missing heights of a chain: `from` up to, not including, `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The chain.
    pub chain: ChainId,
    /// First missing height.
    pub from: u64,
    /// First height not missing.
    pub to: u64,
}

/// What ingesting one block did.
#[derive(Debug)]
pub enum Ingested {
    /// The block, and any buffered blocks it released, are committed (in order).
    Committed(Vec<Committed>),
    /// The block is ahead of a gap and waits in the buffer; fetch the gap.
    Buffered(Gap),
    /// The block conflicts with the one we hold at its height: evidence (new or already known).
    Equivocation {
        /// The evidence: our block first, the conflicting one second.
        evidence: Box<EquivocationEvidence>,
        /// Whether this evidence is new to us (and should be gossiped).
        new: bool,
    },
}

/// The validated, durable copy of every chain this node holds.
pub struct Ledger {
    store: Store,
    trust: Trust,
    buffer: OutOfOrder,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// A ledger over `store`, trusting `trust`.
    pub fn new(store: Store, trust: Trust) -> Self {
        Self {
            store,
            trust,
            buffer: OutOfOrder::default(),
        }
    }

    /// Read access to the store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The trust configuration.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Replaces the trust configuration (a new CRL): takes effect for the next block.
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
    }

    /// Blocks waiting in the out-of-order buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Validates one block and commits it if it is the next of its chain (with any buffered
    /// successors it releases). The store is flushed before this returns `Committed`.
    pub fn ingest(&mut self, decoded: Decoded, now_ms: u64) -> Result<Ingested, Rejection> {
        let structured = decoded.check_structure()?;
        let hash = structured.hash();
        let header = &structured.block().header;
        let (chain, height, cert) = (header.chain, header.height, header.cert);
        let at = position(&self.store, structured.block(), &hash)?;
        if let Position::Held = at {
            return Err(Rejection::Duplicate(hash));
        }
        let cert_known =
            structured.block().certificate.is_some() || self.store.certificate(&cert)?.is_some();
        if !cert_known {
            // Ahead of a genesis we lack: the certificate comes with an earlier block, and the
            // full check runs when that block arrives.
            return match at {
                Position::Ahead { expected } => {
                    self.buffer_ahead(Pending::Unverified(structured), chain, expected, height)
                }
                _ => Err(Rejection::UnknownCertificate(cert)),
            };
        }
        let signed = structured
            .check_certificate(&self.trust, &self.store, None, Admission::New)?
            .check_signature()?;
        match at {
            Position::Held => Err(Rejection::Duplicate(hash)),
            Position::Conflict(held) => self.equivocation(&signed, &held),
            Position::Ahead { expected } => {
                self.buffer_ahead(Pending::Signed(signed), chain, expected, height)
            }
            Position::Next | Position::Hole => {
                let first = signed
                    .check_linkage(&self.store, now_ms)?
                    .check_payloads()?;
                let run = self.release_buffered(first, now_ms);
                Ok(Ingested::Committed(self.commit(&run)?))
            }
        }
    }

    fn buffer_ahead(
        &mut self,
        pending: Pending,
        chain: ChainId,
        expected: u64,
        height: u64,
    ) -> Result<Ingested, Rejection> {
        if !self.buffer.insert(pending) {
            return Err(Rejection::BufferFull);
        }
        Ok(Ingested::Buffered(Gap {
            chain,
            from: expected,
            to: height,
        }))
    }

    /// Ingests consecutive blocks of one chain (a sync range response): each is validated
    /// against its predecessor in memory and the valid prefix is committed in one transaction.
    /// Blocks we already hold are skipped. Returns what was committed and the first rejection,
    /// if any (the blocks after it are not considered).
    pub fn ingest_range(
        &mut self,
        blocks: Vec<Block>,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        let messages = blocks
            .into_iter()
            .map(|block| BlockMessage {
                block,
                payloads: Vec::new(),
            })
            .collect();
        self.ingest_messages(messages, now_ms)
    }

    /// [`Ledger::ingest_range`] for blocks that come with payloads (a sync `Range` answer): the
    /// payloads are checked against the entries and stored in the same transaction.
    pub fn ingest_messages(
        &mut self,
        messages: Vec<BlockMessage>,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        let mut run: Vec<VerifiedBlock> = Vec::new();
        let mut failure = None;
        for message in messages {
            match self.verify_in_run(message, run.last(), now_ms) {
                Ok(Some(verified)) => run.push(verified),
                Ok(None) => {}
                Err(rejection) => {
                    failure = Some(rejection);
                    break;
                }
            }
        }
        if let Some(last) = run.pop() {
            let released = self.release_buffered(last, now_ms);
            run.extend(released);
        }
        match self.commit(&run) {
            Ok(committed) => (committed, failure),
            Err(error) => (Vec::new(), Some(error.into())),
        }
    }

    /// Validates `message`'s block as the successor of `previous` (in memory) if it is the block
    /// right below, else against the store (the next block, or one filling a hole).
    /// `Ok(None)` for a block we already hold.
    fn verify_in_run(
        &mut self,
        message: BlockMessage,
        previous: Option<&VerifiedBlock>,
        now_ms: u64,
    ) -> Result<Option<VerifiedBlock>, Rejection> {
        let header = &message.block.header;
        let below = previous.filter(|p| {
            p.chain() == header.chain && p.height().checked_add(1) == Some(header.height)
        });
        let signed = Decoded::from_message(message)
            .check_structure()?
            .check_certificate(&self.trust, &self.store, below, Admission::History)?
            .check_signature()?;
        let position = signed.position(&self.store)?;
        match position {
            Position::Held => return Ok(None),
            Position::Conflict(held) => {
                self.equivocation(&signed, &held)?;
                return Err(Rejection::Equivocation {
                    chain: signed.block().header.chain,
                    height: signed.block().header.height,
                });
            }
            Position::Next | Position::Ahead { .. } | Position::Hole => {}
        }
        let linked = match below {
            Some(previous) => {
                if let Position::Hole = position {
                    signed.check_held_successor(&self.store)?;
                }
                signed.check_link_to(Some(previous.block()), now_ms)?
            }
            None => signed.check_linkage(&self.store, now_ms)?,
        };
        linked.check_payloads().map(Some)
    }

    /// After `first` is accepted, takes the buffered blocks that follow it, in order, as long as
    /// each links to the one before.
    fn release_buffered(&mut self, first: VerifiedBlock, now_ms: u64) -> Vec<VerifiedBlock> {
        let chain = first.chain();
        let mut run = vec![first];
        while let Some(last) = run.last() {
            let Some(next) = self.buffer.take(&chain, last.height() + 1) else {
                break;
            };
            let checked = match next {
                Pending::Signed(signed) => Ok(signed),
                Pending::Unverified(structured) => structured
                    .check_certificate(&self.trust, &self.store, Some(last), Admission::History)
                    .and_then(|certified| certified.check_signature()),
            };
            match checked
                .and_then(|signed| signed.check_link_to(Some(last.block()), now_ms))
                .and_then(|linked| linked.check_payloads())
            {
                Ok(verified) => run.push(verified),
                Err(_) => break,
            }
        }
        if let Some(last) = run.last() {
            self.buffer.drop_through(&chain, last.height());
        }
        run
    }

    /// Commits verified blocks (and their inline payloads) in one transaction, flushed.
    pub fn commit(&mut self, blocks: &[VerifiedBlock]) -> Result<Vec<Committed>, StoreError> {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        // Hashed once, by validation: the store does not hash them again.
        let payloads: Vec<(medchain_protocol::PayloadHash, &[u8])> = blocks
            .iter()
            .flat_map(|b| {
                b.payload_hashes()
                    .iter()
                    .copied()
                    .zip(b.payloads().iter().map(Vec::as_slice))
            })
            .collect();
        if !payloads.is_empty() {
            self.store.put_hashed_payloads(&payloads)?;
        }
        let writes: Vec<BlockWrite<'_>> = blocks
            .iter()
            .map(|b| BlockWrite {
                block: b.block(),
                hash: b.hash(),
                encoded: b.encoded(),
            })
            .collect();
        self.store.commit_blocks(&writes)?;
        Ok(blocks
            .iter()
            .map(|b| Committed {
                chain: b.chain(),
                height: b.height(),
                hash: b.hash(),
                entries: b.block().entries.len(),
            })
            .collect())
    }

    /// Keeps the evidence that `signed` conflicts with our block `held`; ours stays.
    fn equivocation(&mut self, signed: &Signed, held: &BlockHash) -> Result<Ingested, Rejection> {
        let ours = self
            .store
            .block(held)?
            .ok_or(Rejection::Store(StoreError::Corrupt(
                medchain_store::Corruption::MissingBlock {
                    chain: signed.block().header.chain,
                    height: signed.block().header.height,
                    hash: *held,
                },
            )))?;
        let evidence = EquivocationEvidence {
            certificate: signed.certificate().to_vec(),
            first: ours.signed_header(),
            second: signed.block().signed_header(),
        };
        let new = self.store.put_evidence(&evidence)?;
        Ok(Ingested::Equivocation {
            evidence: Box::new(evidence),
            new,
        })
    }

    /// Checks equivocation evidence that arrived from the network and keeps it. Returns whether
    /// it was new. The evidence must show two different headers for one chain and height, both
    /// signed by the key of a valid provider certificate for that chain.
    pub fn ingest_evidence(&mut self, evidence: &EquivocationEvidence) -> Result<bool, Rejection> {
        crate::equivocation::check(&self.trust, evidence)?;
        Ok(self.store.put_evidence(evidence)?)
    }
}
