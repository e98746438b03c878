//! The ledger: the one owner of the store's write path.
//!
//! The store crate cannot name [`VerifiedBlock`] (this crate depends on it, not the reverse), so
//! the proof is carried by ownership: the node holds a `Ledger`, whose only ways to write blocks
//! take a `VerifiedBlock` or run the validation pipeline themselves. Reads go through
//! [`Ledger::store`].

use medchain_protocol::{Block, BlockHash, ChainId, EquivocationEvidence, PatientRef};
use medchain_store::{BlockWrite, Store, StoreError, StoreReader};

use crate::buffer::{Origin, OutOfOrder, Pending, Waiting};
use crate::error::Rejection;
use crate::signing::PauseKind;
use crate::trust::Trust;
use crate::validate::Admission;
use crate::validate::{Decoded, Linked, Position, VerifiedBlock, position};

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
    /// The patients of its payload entries, in block order (repeats kept): whose records may
    /// now have a payload a grant opens to this node.
    pub payload_patients: Vec<PatientRef>,
    /// The patients of its grant, revoke and erase entries (usually none): whose keys may now
    /// have to be fetched or deleted.
    pub terms_patients: Vec<PatientRef>,
}

impl Committed {
    /// What committing `block` did.
    pub fn of(block: &VerifiedBlock) -> Self {
        Self {
            chain: block.chain(),
            height: block.height(),
            hash: block.hash(),
            entries: block.block().entries.len(),
            payload_patients: patients_where(block.block(), |e| e.payload.is_some()),
            terms_patients: patients_where(block.block(), |e| e.kind.has_terms()),
        }
    }
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
    /// The write capability: the one `Store` of this database. Never handed out.
    pub(crate) store: Store,
    pub(crate) trust: Trust,
    buffer: OutOfOrder,
    /// Our own chain's signing state, on a provider node (see `crate::signing`).
    pub(crate) signing: Option<crate::signing::Signing>,
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
            signing: None,
        }
    }

    /// Read access to the store (clone it for a reader that outlives this borrow).
    pub fn store(&self) -> &StoreReader {
        &self.store
    }

    /// The write capability, for attack simulation in tests only (cargo feature `tamper`):
    /// `medchain_store::tamper` needs it. The shipped node does not enable the feature.
    #[cfg(feature = "tamper")]
    pub fn store_for_tampering(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Flushes the store (a clean shutdown).
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.store.flush()
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
        self.ingest_from(decoded, Origin::default(), now_ms)
    }

    /// [`Ledger::ingest`] of a new block (gossip, `POST /v1/blocks`) that came through
    /// `origin`: if it must wait for earlier heights, it counts against that origin's share of
    /// the out-of-order buffer, and it is judged as new when released.
    pub fn ingest_from(
        &mut self,
        decoded: Decoded,
        origin: Origin,
        now_ms: u64,
    ) -> Result<Ingested, Rejection> {
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
                    let pending = Pending::Unverified(structured);
                    self.buffer_ahead(pending, origin, (chain, expected, height), now_ms)
                }
                _ => Err(Rejection::UnknownCertificate(cert)),
            };
        }
        let signed = structured
            .check_certificate(&self.trust, &self.store, None, Admission::New)?
            .check_signature()?;
        match at {
            Position::Held => Err(Rejection::Duplicate(hash)),
            Position::Conflict(held) => self.equivocation(&signed, &held, now_ms),
            Position::Ahead { expected } => {
                // A block signed by our key above our head: something signed our chain there.
                self.pause_if_own(
                    &chain,
                    PauseKind::PeerAhead,
                    || format!("a block of this node's chain at height {height}, above its head, arrived from a peer"),
                    now_ms,
                );
                let pending = Pending::Signed(signed);
                self.buffer_ahead(pending, origin, (chain, expected, height), now_ms)
            }
            Position::Next | Position::Hole => {
                let first = signed.check_linkage(&self.store, now_ms)?.into_verified();
                let run = self.release_buffered(first, now_ms);
                let committed = self.commit(&run)?;
                self.after_ingest(&committed, now_ms);
                Ok(Ingested::Committed(committed))
            }
        }
    }

    /// Buffers a new block ahead of a gap: `(chain, expected, height)` says which gap.
    fn buffer_ahead(
        &mut self,
        pending: Pending,
        origin: Origin,
        (chain, expected, height): (ChainId, u64, u64),
        now_ms: u64,
    ) -> Result<Ingested, Rejection> {
        let waiting = Waiting {
            pending,
            admission: Admission::New,
            origin,
            since_ms: now_ms,
        };
        match self.buffer.insert(waiting, now_ms) {
            Ok(true) => {}
            Ok(false) => return Err(Rejection::AlreadyWaiting { chain, height }),
            Err(_) => return Err(Rejection::BufferFull),
        }
        Ok(Ingested::Buffered(Gap {
            chain,
            from: expected,
            to: height,
        }))
    }

    /// After `first` is accepted, takes the buffered blocks that follow it, in order, as long as
    /// each links to the one before.
    pub(crate) fn release_buffered(
        &mut self,
        first: VerifiedBlock,
        now_ms: u64,
    ) -> Vec<VerifiedBlock> {
        let chain = first.chain();
        let mut run = vec![first];
        while let Some(last) = run.last() {
            let Some(above) = last.height().checked_add(1) else {
                break;
            };
            let Some(next) = self.buffer.take(&chain, above, now_ms) else {
                break;
            };
            // Judged under the admission it arrived with: a new block stays new.
            let checked = match next.pending {
                Pending::Signed(signed) => Ok(signed),
                Pending::Unverified(structured) => structured
                    .check_certificate(&self.trust, &self.store, Some(last), next.admission)
                    .and_then(|certified| certified.check_signature()),
            };
            match checked
                .and_then(|signed| signed.check_link_to(Some(last.block()), now_ms))
                .map(Linked::into_verified)
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

    /// Blocks from peers were committed: if any is of our own chain, signing pauses (we lacked
    /// a block of our own chain that a peer had). A signing record that cannot be saved still
    /// leaves the pause in force in memory, which is the safe side.
    pub(crate) fn after_ingest(&mut self, committed: &[Committed], now_ms: u64) {
        let Some(own) = self.own_chain() else {
            return;
        };
        if let Some(highest) = committed
            .iter()
            .filter(|c| c.chain == own)
            .map(|c| c.height)
            .max()
        {
            let _ = self.note_own_blocks_from_peers(highest, now_ms);
        }
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
        Ok(blocks.iter().map(Committed::of).collect())
    }
}

fn patients_where(
    block: &Block,
    wanted: impl Fn(&medchain_protocol::Entry) -> bool,
) -> Vec<PatientRef> {
    block
        .entries
        .iter()
        .filter(|e| wanted(e))
        .map(|e| e.patient)
        .collect()
}
