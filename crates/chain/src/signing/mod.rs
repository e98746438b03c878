//! Never equivocate: whether this node may sign the next block of its own chain.
//!
//! A provider's chain has one writer, so the only way an honest node forks its own chain is by
//! signing a height the network already holds: after its store lost blocks (moved aside and
//! rebuilt, restored from a backup, rolled back by sled, a quarantine of its own chain), after a
//! new data directory was set up for an old key, or while a second instance signs with the same
//! key. So signing is gated:
//!
//! - Signing *pauses* at every start (a node that never had a chain too: a record written by
//!   `medchain init` says what the operator claims, not what the network holds), and after every
//!   event that can leave our own chain short: a rebuild, a quarantine of our own chain, a block
//!   of our chain arriving from a peer or waiting ahead of our head, a peer claiming our chain
//!   above our head, a proven second block at a height we hold (evidence: `forked`). The pause is
//!   persisted in the signing record (outside the store) and survives restarts.
//! - It resumes only when, in one round, every admitted peer answered, and either one of them
//!   holds our chain and each that does holds it at or below our head with the very block we
//!   hold at that height, or (for a node that never had a chain and holds none) every one of them
//!   answered without it; and no part of our chain awaits repair
//!   ([`crate::Ledger::confirm_own_head`]). A failed answer is no confirmation; a peer claiming
//!   more means "fetch it first"; a peer claiming another block at a height we hold means "fetch
//!   that block": a fork is declared only on a block signed by our key, never on a claim. Every
//!   pause bumps an epoch, and a round whose epoch changed while it asked its peers decides
//!   nothing: a newer observation is never cleared by an older round.
//! - A node whose record says it had a chain, and that holds none of it, never signs a new
//!   genesis.
//! - The check sits in [`crate::Ledger::author`], under the same `&mut Ledger` as the signing.
//! - An operator can lift a pause by hand ([`crate::Ledger::lift_pause`]), recorded with who and
//!   why; never while part of our own chain awaits repair, and never to sign a new genesis.

mod ledger;

use std::sync::{Arc, RwLock};

use medchain_protocol::{ChainHead, ChainId};
use medchain_store::signing::{OperatorLift, PersistedPause};
use medchain_store::{SigningRecord, SigningRecordError, StoreError};

/// Why signing is paused (the stable codes persisted in the record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseKind {
    /// The node started: its head must be confirmed by a peer first.
    Started,
    /// The store was moved aside and is being rebuilt from peers.
    Rebuilt,
    /// Part of our own chain is in quarantine, being refetched.
    OwnChainQuarantined,
    /// A peer holds, claims or delivered our chain above our head.
    PeerAhead,
    /// A block signed by our key conflicts with one we hold at its height (evidence): our key
    /// signed twice.
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

/// The pause in force, readable without the ledger's lock (status and metrics).
pub type SharedPause = Arc<RwLock<Option<PersistedPause>>>;

/// The signing state of a provider node: its chain, its signing record, the epoch of its
/// pauses, and the pause as lock-free readers see it.
#[derive(Debug)]
pub struct Signing {
    chain: ChainId,
    pub(crate) record: SigningRecord,
    /// Bumped by every pause (and every observation that would pause): a confirmation round
    /// decides only if no pause came while it asked its peers.
    epoch: u64,
    shared: SharedPause,
}

/// What a peer's head of our chain says against our copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnClaim {
    /// At or below our head, with the very block we hold there.
    Agrees,
    /// Above our head: the peer holds (or claims) blocks of our chain we lack.
    Ahead,
    /// At a height we hold, with another block: a fork if the peer can show that block signed
    /// by our key.
    Differs,
    /// At a height below our head that we do not hold (a hole being repaired).
    NotHeld,
}

/// What one admitted peer said about our chain in a heads round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerReport {
    /// It holds (claims) our chain up to this head.
    Holds(ChainHead),
    /// It answered, without our chain (or with a claim it could not back: refuted).
    Lacks,
    /// It did not answer with heads.
    Failed,
}

/// The outcome of [`crate::Ledger::confirm_own_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// Signing was not paused.
    NotPaused,
    /// The head is confirmed: signing resumes.
    Resumed,
    /// Peer number `peer` (in the order given) claims our chain up to `height`, above our head:
    /// fetch it first.
    FetchFirst {
        /// Index of the peer in the reports.
        peer: usize,
        /// Its head height of our chain.
        height: u64,
    },
    /// Peer number `peer` claims another block of our chain at `height`, which we hold: fetch
    /// that block (a fork only if it is signed by our key).
    VerifyFork {
        /// Index of the peer in the reports.
        peer: usize,
        /// The height.
        height: u64,
    },
    /// Not confirmed this round, and why.
    Waiting(&'static str),
}

impl Signing {
    /// The signing state at start-up, from the record and whether the store holds our chain:
    /// paused (`started`, unless the record names a pause already), whatever the record says.
    pub fn at_start(
        chain: ChainId,
        mut record: SigningRecord,
        holds_chain: bool,
        now_ms: u64,
    ) -> Result<Self, SigningError> {
        record.update(|state| {
            state.had_chain |= holds_chain;
            if state.pause.is_none() {
                let detail = if state.had_chain {
                    "the node started: its head must be confirmed by its peers before it signs"
                } else {
                    "the node started and has never had a chain: it signs its genesis once its \
                     peers have answered that none of them holds its chain"
                };
                state.pause = Some(pause(PauseKind::Started, detail, now_ms));
            }
        })?;
        let shared = Arc::new(RwLock::new(record.state().pause.clone()));
        Ok(Self {
            chain,
            record,
            epoch: 0,
            shared,
        })
    }

    /// Our chain.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// Why signing is paused, if it is.
    pub fn paused(&self) -> Option<&PersistedPause> {
        self.record.state().pause.as_ref()
    }

    /// The pause in force, readable without the ledger's lock.
    pub fn shared_pause(&self) -> SharedPause {
        self.shared.clone()
    }

    /// The epoch of the pauses (see the module documentation).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The operator lifts recorded (the last few).
    pub fn lifts(&self) -> &[OperatorLift] {
        &self.record.state().lifted
    }

    /// Pauses signing (durably; in memory even if the record cannot be saved) and bumps the
    /// epoch. A pause already in force keeps its reason unless `kind` outranks it (a fork
    /// outranks a rebuild, which outranks a quarantine, a peer ahead, a start); returns whether
    /// this call paused or changed the reason.
    pub fn pause(
        &mut self,
        kind: PauseKind,
        detail: impl Into<String>,
        now_ms: u64,
    ) -> Result<bool, SigningError> {
        self.epoch = self.epoch.wrapping_add(1);
        if self
            .paused()
            .is_some_and(|current| rank(&current.kind) >= kind.rank())
        {
            return Ok(false);
        }
        let detail = detail.into();
        let saved = self
            .record
            .update(|state| state.pause = Some(pause(kind, &detail, now_ms)));
        self.publish();
        saved?;
        Ok(true)
    }

    /// Lifts the pause (a confirmation, or an operator's `lift`, recorded with it).
    pub(crate) fn resume(&mut self, lift: Option<OperatorLift>) -> Result<(), SigningError> {
        let saved = self.record.update(|state| {
            state.pause = None;
            state.lifted.extend(lift);
        });
        self.publish();
        Ok(saved?)
    }

    /// Makes the pause in force visible to lock-free readers.
    fn publish(&self) {
        let mut shared = self.shared.write().unwrap_or_else(|p| p.into_inner());
        *shared = self.record.state().pause.clone();
    }

    /// Notes that our chain is held (a block of it was committed): the record must never again
    /// let this node sign a genesis.
    pub(crate) fn note_chain_held(&mut self) -> Result<(), SigningError> {
        self.record.update(|state| state.had_chain = true)?;
        Ok(())
    }

    /// Whether we may sign the block after `head` (our head in the store); for a genesis
    /// (`None`), records durably that we now have a chain before saying yes.
    pub(crate) fn may_sign(&mut self, head: Option<&ChainHead>) -> Result<(), SigningError> {
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

pub(crate) fn pause(kind: PauseKind, detail: &str, now_ms: u64) -> PersistedPause {
    PersistedPause {
        kind: kind.as_str().to_owned(),
        detail: detail.to_owned(),
        since_ms: now_ms,
    }
}
