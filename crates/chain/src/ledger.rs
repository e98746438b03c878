//! The ledger: the one owner of the store's write path.
//!
//! The store crate cannot name [`VerifiedBlock`] (this crate depends on it, not the reverse), so
//! the proof is carried by ownership: the node holds a `Ledger`, whose only ways to write blocks
//! take a `VerifiedBlock` or run the validation pipeline themselves. Reads go through
//! [`Ledger::store`].

use medchain_protocol::{
    Block, BlockHash, BlockMessage, ChainId, EquivocationEvidence, PatientRef,
};
use medchain_store::{BlockWrite, Store, StoreError, StoreReader};

use crate::buffer::{Origin, OutOfOrder, Pending, Waiting};
use crate::error::Rejection;
use crate::signing::PauseKind;
use crate::trust::Trust;
use crate::validate::Admission;
use crate::validate::{Decoded, Position, VerifiedBlock, position};

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
    trust: Trust,
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
                let first = signed
                    .check_linkage(&self.store, now_ms)?
                    .check_payloads()?;
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

    /// A sync `Range` answer for `chain` from `from`: refused whole unless it is consecutive
    /// heights of that chain starting there (a peer must not slip other chains or heights in),
    /// then ingested as [`Ledger::ingest_messages`].
    pub fn ingest_range_answer(
        &mut self,
        chain: ChainId,
        from: u64,
        messages: Vec<BlockMessage>,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        let consecutive = messages.iter().enumerate().all(|(i, m)| {
            m.block.header.chain == chain
                && u64::try_from(i).ok().and_then(|i| from.checked_add(i))
                    == Some(m.block.header.height)
        });
        if !consecutive {
            return (Vec::new(), Some(Rejection::RangeShape { chain, from }));
        }
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
        // The last certificate a block of this range was checked under: a block we already
        // hold is skipped, and the next one may need its certificate (not in the store if
        // the range is refilling the hole the carrying block left).
        let mut seen_cert: Option<Vec<u8>> = None;
        for message in messages {
            match self.verify_in_run(message, run.last(), &mut seen_cert, now_ms) {
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
            Ok(committed) => {
                self.after_ingest(&committed, now_ms);
                (committed, failure)
            }
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
        seen_cert: &mut Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<Option<VerifiedBlock>, Rejection> {
        let header = &message.block.header;
        let below = previous.filter(|p| {
            p.chain() == header.chain && p.height().checked_add(1) == Some(header.height)
        });
        let known = below
            .map(|b| b.certificate().to_vec())
            .or_else(|| seen_cert.clone());
        let signed = Decoded::from_message(message)
            .check_structure()?
            .check_certificate_known(
                &self.trust,
                &self.store,
                known.as_deref(),
                Admission::History,
            )?
            .check_signature()?;
        *seen_cert = Some(signed.certificate().to_vec());
        let position = signed.position(&self.store)?;
        match position {
            Position::Held => return Ok(None),
            Position::Conflict(held) => {
                self.equivocation(&signed, &held, now_ms)?;
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

    /// Blocks from peers were committed: if any is of our own chain, signing pauses (we lacked
    /// a block of our own chain that a peer had). A signing record that cannot be saved still
    /// leaves the pause in force in memory, which is the safe side.
    fn after_ingest(&mut self, committed: &[Committed], now_ms: u64) {
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
