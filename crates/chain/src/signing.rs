//! Never equivocate: whether this node may sign the next block of its own chain.
//!
//! A provider's chain has one writer, so the only way an honest node forks its own chain is by
//! signing a height the network already holds: after its store lost blocks (moved aside and
//! rebuilt, restored from a backup, rolled back by sled, a quarantine of its own chain), or
//! while a second instance signs with the same key. So signing is gated:
//!
//! - At every start, and after every event that can leave our own chain short (a rebuild, a
//!   quarantine of our own chain, a block of our chain arriving from a peer, a peer showing our
//!   chain above our head), signing *pauses*. The pause is persisted in the signing record
//!   (outside the store) and survives restarts.
//! - It resumes only when, in one round, every admitted peer answered, at least one of them
//!   holds our chain, each that does holds it at or below our head with the very block we hold
//!   at that height, and no part of our chain awaits repair ([`Ledger::confirm_own_head`]). An
//!   empty or failed answer is no confirmation; a peer holding more means "fetch first". A node
//!   that never had a chain (and holds none) is confirmed by every admitted peer answering
//!   without it.
//! - A node that never had a chain (its record, written by `medchain init`, says so) may sign a
//!   genesis without confirmation; a node that had one and holds none of it never signs a new
//!   genesis.
//! - The check sits in [`Ledger::author`], under the same `&mut Ledger` as the signing itself.
//! - An operator can lift a pause by hand ([`Ledger::lift_pause`]), recorded with who and why;
//!   never over a hole in our own chain, and never to sign a new genesis.

use medchain_protocol::{ChainHead, ChainId};
use medchain_store::signing::{OperatorLift, PersistedPause};
use medchain_store::{SigningRecord, SigningRecordError, StoreError};

use crate::ledger::Ledger;

/// Why signing is paused (the stable codes persisted in the record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseKind {
    /// The node started: its head must be confirmed by a peer first.
    Started,
    /// The store was moved aside and is being rebuilt from peers.
    Rebuilt,
    /// Part of our own chain is in quarantine, being refetched.
    OwnChainQuarantined,
    /// A peer holds (or delivered) our chain above our head.
    PeerAhead,
    /// A peer holds a different block of our chain at a height we hold: our key signed twice.
    Forked,
}

impl PauseKind {
    /// The stable code.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseKind::Started => "started",
            PauseKind::Rebuilt => "rebuilt",
            PauseKind::OwnChainQuarantined => "own_chain_quarantined",
            PauseKind::PeerAhead => "peer_ahead",
            PauseKind::Forked => "forked",
        }
    }

    /// How much this reason says: a more telling reason replaces a pause in force.
    fn rank(self) -> u8 {
        match self {
            PauseKind::Started => 0,
            PauseKind::PeerAhead => 1,
            PauseKind::OwnChainQuarantined => 2,
            PauseKind::Rebuilt => 3,
            PauseKind::Forked => 4,
        }
    }
}

/// The rank of a persisted pause's code (an unknown code ranks highest: it is not replaced).
fn rank(code: &str) -> u8 {
    [
        PauseKind::Started,
        PauseKind::PeerAhead,
        PauseKind::OwnChainQuarantined,
        PauseKind::Rebuilt,
        PauseKind::Forked,
    ]
    .into_iter()
    .find(|k| k.as_str() == code)
    .map_or(u8::MAX, PauseKind::rank)
}

/// Why this node may not sign now.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// Signing is paused.
    #[error("writes are paused ({}): {}", .0.kind, .0.detail)]
    Paused(PersistedPause),
    /// The node had a chain, holds none of it, and never signs a new genesis.
    #[error(
        "this node had a chain before and holds none of it now; it never signs a new genesis \
         (that would fork its chain): its blocks come back from peers, or the consortium issues \
         this hospital a new key"
    )]
    NoNewGenesis,
    /// This ledger has no chain of its own (an auditor).
    #[error("this node has no chain of its own")]
    NotAProvider,
    /// Asked to sign a chain that is not this node's own.
    #[error("chain {0} is not this node's own chain")]
    NotOurChain(ChainId),
    /// The operator may not lift this pause now.
    #[error("the pause cannot be lifted: {0}")]
    CannotLift(String),
    /// The signing record could not be written.
    #[error("{0}")]
    Record(#[from] SigningRecordError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The signing state of a provider node: its chain and its signing record.
#[derive(Debug)]
pub struct Signing {
    chain: ChainId,
    record: SigningRecord,
}

/// What one admitted peer said about our chain in a heads round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerReport {
    /// It holds our chain up to this head.
    Holds(ChainHead),
    /// It answered, without our chain.
    Lacks,
    /// It did not answer with heads.
    Failed,
}

/// The outcome of [`Ledger::confirm_own_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Signing was not paused.
    NotPaused,
    /// The head is confirmed: signing resumes.
    Resumed,
    /// Peer number `peer` (in the order given) holds our chain up to `height`, above our head:
    /// fetch it first.
    FetchFirst {
        /// Index of the peer in the reports.
        peer: usize,
        /// Its head height of our chain.
        height: u64,
    },
    /// Not confirmed this round, and why.
    Waiting(&'static str),
    /// A peer holds another block at a height we hold: signing stays paused for good (until an
    /// operator decides).
    Forked {
        /// The height.
        height: u64,
    },
}

impl Signing {
    /// The signing state at start-up, from the record and whether the store holds our chain:
    /// paused (`Started`) unless the record already names a pause or the node never had a
    /// chain and holds none.
    pub fn at_start(
        chain: ChainId,
        mut record: SigningRecord,
        holds_chain: bool,
        now_ms: u64,
    ) -> Result<Self, SigningError> {
        record.update(|state| {
            state.had_chain |= holds_chain;
            if state.pause.is_none() && state.had_chain {
                state.pause = Some(pause(
                    PauseKind::Started,
                    "the node started: its head must be confirmed by a peer before it signs",
                    now_ms,
                ));
            }
        })?;
        Ok(Self { chain, record })
    }

    /// Our chain.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// Why signing is paused, if it is.
    pub fn paused(&self) -> Option<&PersistedPause> {
        self.record.state().pause.as_ref()
    }

    /// The operator lifts recorded (the last few).
    pub fn lifts(&self) -> &[OperatorLift] {
        &self.record.state().lifted
    }

    /// Pauses signing (durably; in memory even if the record cannot be saved). A pause already
    /// in force keeps its reason unless `kind` outranks it (a fork outranks a rebuild, which
    /// outranks a quarantine, a peer ahead, a start); returns whether this call paused or
    /// changed the reason.
    pub fn pause(
        &mut self,
        kind: PauseKind,
        detail: impl Into<String>,
        now_ms: u64,
    ) -> Result<bool, SigningError> {
        if self
            .paused()
            .is_some_and(|current| rank(&current.kind) >= kind.rank())
        {
            return Ok(false);
        }
        let detail = detail.into();
        self.record
            .update(|state| state.pause = Some(pause(kind, &detail, now_ms)))?;
        Ok(true)
    }

    /// Notes that our chain is held (a block of it was committed): the record must never again
    /// let this node sign a genesis.
    fn note_chain_held(&mut self) -> Result<(), SigningError> {
        self.record.update(|state| state.had_chain = true)?;
        Ok(())
    }

    /// Whether we may sign the block after `head` (our head in the store); for a genesis
    /// (`None`), records durably that we now have a chain before saying yes.
    fn may_sign(&mut self, head: Option<&ChainHead>) -> Result<(), SigningError> {
        if let Some(pause) = self.paused() {
            return Err(SigningError::Paused(pause.clone()));
        }
        if head.is_none() {
            if self.record.state().had_chain {
                return Err(SigningError::NoNewGenesis);
            }
            self.note_chain_held()?;
        }
        Ok(())
    }
}

fn pause(kind: PauseKind, detail: &str, now_ms: u64) -> PersistedPause {
    PersistedPause {
        kind: kind.as_str().to_owned(),
        detail: detail.to_owned(),
        since_ms: now_ms,
    }
}

impl Ledger {
    /// Gives this ledger its own chain's signing state (a provider node).
    pub fn with_signing(mut self, signing: Signing) -> Self {
        self.signing = Some(signing);
        self
    }

    /// The signing state, on a provider node.
    pub fn signing(&self) -> Option<&Signing> {
        self.signing.as_ref()
    }

    /// Our own chain, on a provider node.
    pub fn own_chain(&self) -> Option<ChainId> {
        self.signing.as_ref().map(Signing::chain)
    }

    /// Why signing is paused, if it is (`None` on an auditor).
    pub fn writes_paused(&self) -> Option<&PersistedPause> {
        self.signing.as_ref().and_then(Signing::paused)
    }

    /// Pauses signing of our own chain (durably); true if this call paused it.
    pub fn pause_writes(
        &mut self,
        kind: PauseKind,
        detail: impl Into<String>,
        now_ms: u64,
    ) -> Result<bool, SigningError> {
        match &mut self.signing {
            Some(signing) => signing.pause(kind, detail, now_ms),
            None => Err(SigningError::NotAProvider),
        }
    }

    /// The check before signing the next block of `chain`, in the same `&mut self` as the
    /// signing. Called by [`Ledger::author`].
    pub(crate) fn check_may_sign(&mut self, chain: &ChainId) -> Result<(), SigningError> {
        let head = self.store().head(chain)?;
        match &mut self.signing {
            Some(signing) if signing.chain == *chain => signing.may_sign(head.as_ref()),
            Some(_) => Err(SigningError::NotOurChain(*chain)),
            // A ledger built without a signing state (tests, benchmarks, tools) signs
            // unguarded; the node gives every provider's ledger one.
            None => Ok(()),
        }
    }

    /// Blocks of our own chain were committed from peers (not authored here): something had
    /// our blocks that we lacked. Pause unless already paused.
    pub(crate) fn note_own_blocks_from_peers(
        &mut self,
        highest: u64,
        now_ms: u64,
    ) -> Result<(), SigningError> {
        let Some(signing) = &mut self.signing else {
            return Ok(());
        };
        signing.note_chain_held()?;
        signing.pause(
            PauseKind::PeerAhead,
            format!("a peer delivered block {highest} of this node's own chain, which it lacked"),
            now_ms,
        )?;
        Ok(())
    }

    /// One peer's head of our chain, seen in an anti-entropy round while signing is allowed: a
    /// peer above our head, or with another block at a height we hold, pauses signing.
    /// Returns the pause kind when this paused.
    pub fn observe_own_head(
        &mut self,
        peer_head: &ChainHead,
        now_ms: u64,
    ) -> Result<Option<PauseKind>, SigningError> {
        let Some(chain) = self.own_chain().filter(|c| *c == peer_head.chain) else {
            return Ok(None);
        };
        let ours = self.store().head(&chain)?;
        let kind = match ours {
            Some(h) if peer_head.height <= h.height => {
                if self.store().block_hash_at(&chain, peer_head.height)? == Some(peer_head.hash) {
                    return Ok(None);
                }
                PauseKind::Forked
            }
            _ => PauseKind::PeerAhead,
        };
        let detail = match kind {
            PauseKind::Forked => format!(
                "a peer holds another block of this node's chain at height {}",
                peer_head.height
            ),
            _ => format!(
                "a peer holds this node's chain up to height {}, above its head",
                peer_head.height
            ),
        };
        let Some(signing) = &mut self.signing else {
            return Ok(None);
        };
        Ok(signing.pause(kind, detail, now_ms)?.then_some(kind))
    }

    /// Tries to lift a pause with one round of heads from every admitted peer (see the module
    /// documentation for the rule).
    pub fn confirm_own_head(
        &mut self,
        reports: &[PeerReport],
        now_ms: u64,
    ) -> Result<Confirmation, SigningError> {
        let Some(chain) = self.own_chain() else {
            return Err(SigningError::NotAProvider);
        };
        if self.writes_paused().is_none() {
            return Ok(Confirmation::NotPaused);
        }
        if reports.contains(&PeerReport::Failed) {
            return Ok(Confirmation::Waiting("an admitted peer did not answer"));
        }
        let ours = self.store().head(&chain)?;
        let mut confirmed = false;
        for (peer, report) in reports.iter().enumerate() {
            let PeerReport::Holds(theirs) = report else {
                continue;
            };
            match ours {
                Some(h) if theirs.height <= h.height => {
                    if self.store().block_hash_at(&chain, theirs.height)? != Some(theirs.hash) {
                        self.pause_writes(
                            PauseKind::Forked,
                            format!(
                                "a peer holds another block of this node's chain at height {}",
                                theirs.height
                            ),
                            now_ms,
                        )?;
                        return Ok(Confirmation::Forked {
                            height: theirs.height,
                        });
                    }
                    confirmed = true;
                }
                _ => {
                    return Ok(Confirmation::FetchFirst {
                        peer,
                        height: theirs.height,
                    });
                }
            }
        }
        let never_had_chain = ours.is_none()
            && self
                .signing
                .as_ref()
                .is_some_and(|s| !s.record.state().had_chain);
        let confirmed_absent = never_had_chain && !reports.is_empty();
        if !confirmed && !confirmed_absent {
            // A node that never had a chain is confirmed by every admitted peer answering
            // without it (its genesis is then the chain's first block); any other node needs a
            // peer that holds its chain.
            return Ok(Confirmation::Waiting(
                "no admitted peer holds this node's chain",
            ));
        }
        if self.own_chain_awaits_repair(&chain)? {
            return Ok(Confirmation::Waiting(
                "part of this node's chain is still in quarantine",
            ));
        }
        if self
            .writes_paused()
            .is_some_and(|p| p.kind == PauseKind::Forked.as_str())
        {
            return Ok(Confirmation::Waiting(
                "a fork of this node's chain was seen; only an operator can lift this pause",
            ));
        }
        if let Some(signing) = &mut self.signing {
            signing.record.update(|state| state.pause = None)?;
        }
        Ok(Confirmation::Resumed)
    }

    /// Whether an open quarantine event of our chain has heights not held again.
    fn own_chain_awaits_repair(&self, chain: &ChainId) -> Result<bool, StoreError> {
        Ok(self
            .store()
            .quarantine_events()?
            .iter()
            .any(|e| e.chain == *chain && e.restored_at_ms.is_none()))
    }

    /// An operator lifts the pause by hand (its only holder is offline, say), recorded with who
    /// and why. Refused while part of our chain awaits repair (signing above a hole is fine, but
    /// a cut that reached the head would be re-signed) and when it would sign a new genesis.
    /// Returns the pause lifted.
    pub fn lift_pause(
        &mut self,
        by: &str,
        why: &str,
        now_ms: u64,
    ) -> Result<PersistedPause, SigningError> {
        let Some(chain) = self.own_chain() else {
            return Err(SigningError::NotAProvider);
        };
        let Some(paused) = self.writes_paused().cloned() else {
            return Err(SigningError::CannotLift("writes are not paused".into()));
        };
        if self.own_chain_awaits_repair(&chain)? {
            return Err(SigningError::CannotLift(
                "part of this node's chain is in quarantine and not fetched back yet".into(),
            ));
        }
        let holds = self.store().head(&chain)?.is_some();
        let Some(signing) = &mut self.signing else {
            return Err(SigningError::NotAProvider);
        };
        if !holds && signing.record.state().had_chain {
            return Err(SigningError::NoNewGenesis);
        }
        let lift = OperatorLift {
            at_ms: now_ms,
            by: by.to_owned(),
            why: why.to_owned(),
            lifted: paused.clone(),
        };
        signing.record.update(|state| {
            state.pause = None;
            state.lifted.push(lift);
        })?;
        Ok(paused)
    }
}
