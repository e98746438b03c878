//! The signing gate's side of the ledger: pausing, the check before signing, what peers say
//! about our own chain, the confirmation round, and the operator's lift (see `super`).

use medchain_protocol::{ChainHead, ChainId};
use medchain_store::StoreError;
use medchain_store::signing::{OperatorLift, PersistedPause};

use super::{Confirmation, OwnClaim, PauseKind, PeerReport, Signing, SigningError};
use crate::ledger::Ledger;

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

    /// The epoch of the pauses (take it before a confirmation round asks its peers).
    pub fn signing_epoch(&self) -> Option<u64> {
        self.signing.as_ref().map(Signing::epoch)
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

    /// Pauses if `chain` is our own (fail closed: in memory even when the record cannot be
    /// saved); for the ledger's own observations.
    pub(crate) fn pause_if_own(
        &mut self,
        chain: &ChainId,
        kind: PauseKind,
        detail: impl FnOnce() -> String,
        now_ms: u64,
    ) {
        if self.own_chain() == Some(*chain) {
            let _ = self.pause_writes(kind, detail(), now_ms);
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
    /// our blocks that we lacked.
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

    /// What a peer's head of our chain says against our copy (`None` if it is not of our
    /// chain). Reads only.
    pub fn judge_own_head(&self, peer_head: &ChainHead) -> Result<Option<OwnClaim>, StoreError> {
        if self.own_chain() != Some(peer_head.chain) {
            return Ok(None);
        }
        let ours = self.store().head(&peer_head.chain)?;
        if ours.is_none_or(|h| peer_head.height > h.height) {
            return Ok(Some(OwnClaim::Ahead));
        }
        Ok(Some(
            match self
                .store()
                .block_hash_at(&peer_head.chain, peer_head.height)?
            {
                Some(hash) if hash == peer_head.hash => OwnClaim::Agrees,
                Some(_) => OwnClaim::Differs,
                None => OwnClaim::NotHeld,
            },
        ))
    }

    /// One peer's head of our chain, seen in any heads answer: a claim above our head pauses
    /// signing at once (the claimed blocks are fetched next; a peer that cannot deliver them is
    /// refuted by the caller). Another block claimed at a height we hold pauses nothing by
    /// itself: the caller fetches it, and only a block signed by our key is a fork.
    pub fn observe_own_head(
        &mut self,
        peer_head: &ChainHead,
        now_ms: u64,
    ) -> Result<Option<OwnClaim>, SigningError> {
        let claim = self.judge_own_head(peer_head)?;
        if claim == Some(OwnClaim::Ahead) {
            let detail = format!(
                "a peer claims this node's chain up to height {}, above its head",
                peer_head.height
            );
            self.pause_writes(PauseKind::PeerAhead, detail, now_ms)?;
        }
        Ok(claim)
    }

    /// Tries to lift a pause with one round of heads from every admitted peer, asked after
    /// [`Ledger::signing_epoch`] gave `epoch` (see the module documentation for the rule).
    pub fn confirm_own_head(
        &mut self,
        reports: &[PeerReport],
        epoch: u64,
    ) -> Result<Confirmation, SigningError> {
        let Some(chain) = self.own_chain() else {
            return Err(SigningError::NotAProvider);
        };
        if self.writes_paused().is_none() {
            return Ok(Confirmation::NotPaused);
        }
        if self.signing_epoch() != Some(epoch) {
            return Ok(Confirmation::Waiting(
                "this node's chain was paused again while the peers were asked",
            ));
        }
        if reports.contains(&PeerReport::Failed) {
            return Ok(Confirmation::Waiting("an admitted peer did not answer"));
        }
        let mut confirmed = false;
        for (peer, report) in reports.iter().enumerate() {
            let PeerReport::Holds(theirs) = report else {
                continue;
            };
            match self.judge_own_head(theirs)? {
                Some(OwnClaim::Agrees) => confirmed = true,
                Some(OwnClaim::Ahead) => {
                    return Ok(Confirmation::FetchFirst {
                        peer,
                        height: theirs.height,
                    });
                }
                Some(OwnClaim::Differs) => {
                    return Ok(Confirmation::VerifyFork {
                        peer,
                        height: theirs.height,
                    });
                }
                Some(OwnClaim::NotHeld) => {
                    return Ok(Confirmation::Waiting(
                        "this node's chain has a hole below its head",
                    ));
                }
                None => {}
            }
        }
        let holds = self.store().head(&chain)?.is_some();
        let never_had_chain = !holds
            && self
                .signing
                .as_ref()
                .is_some_and(|s| !s.record.state().had_chain);
        // A node that never had a chain is confirmed by every admitted peer answering without
        // it (its genesis is then the chain's first block); any other node needs a peer that
        // holds its chain.
        let confirmed_absent = never_had_chain && !reports.is_empty();
        if !confirmed && !confirmed_absent {
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
                "a fork of this node's chain was proven; only an operator can lift this pause",
            ));
        }
        if let Some(signing) = &mut self.signing {
            signing.resume(None)?;
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
    /// and why. Refused while any part of our chain awaits repair (the run may reach the head,
    /// whose heights would be signed again), and when it would sign a new genesis. Returns the
    /// pause lifted.
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
        signing.resume(Some(OperatorLift {
            at_ms: now_ms,
            by: by.to_owned(),
            why: why.to_owned(),
            lifted: paused.clone(),
        }))?;
        Ok(paused)
    }
}
