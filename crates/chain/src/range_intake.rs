//! Ranges of one chain from a peer (sync `Range` answers, a repair's refetch), in two steps:
//!
//! 1. [`precheck_range`]: what needs nothing but the answer (its shape, each block's structure,
//!    hash and inline payload hashes, most of a range's CPU), done by the caller on any thread,
//!    without the ledger: the node runs it off the ledger's lock while the one writer commits
//!    the range before.
//! 2. [`Ledger::ingest_prechecked`]: what needs the store and the trust (certificate,
//!    signature, position, links), then one commit, by the ledger, in chain order.
//!
//! A block that fails either step ends the range: the valid prefix before it is committed and
//! the first rejection is returned (the blocks after it are not considered).

use medchain_protocol::{Block, BlockMessage, ChainId};

use crate::error::Rejection;
use crate::ledger::{Committed, Ledger};
use crate::validate::{Admission, Decoded, Position, Structured, VerifiedBlock};

/// A range whose blocks passed every check that needs no store, in chain order; made only by
/// [`precheck_range`] or [`precheck_blocks`].
#[derive(Debug)]
pub struct PrecheckedRange {
    blocks: Vec<Structured>,
    /// Why the block after the last one kept failed, if one did.
    failure: Option<Rejection>,
}

impl PrecheckedRange {
    /// Blocks that passed.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block passed.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Why the block after the last one that passed failed, if one did.
    pub fn failure(&self) -> Option<&Rejection> {
        self.failure.as_ref()
    }

    /// The height after the last block that passed, if any did.
    pub fn next_height(&self) -> Option<u64> {
        let last = self.blocks.last()?;
        last.block().header.height.checked_add(1)
    }
}

/// A sync `Range` answer for `chain` from `from`: refused whole unless it is consecutive heights
/// of that chain starting there (a peer must not slip other chains or heights in), then each
/// block's structure and inline payloads checked, up to the first that fails.
pub fn precheck_range(chain: ChainId, from: u64, messages: Vec<BlockMessage>) -> PrecheckedRange {
    let consecutive = messages.iter().enumerate().all(|(i, m)| {
        m.block.header.chain == chain
            && u64::try_from(i).ok().and_then(|i| from.checked_add(i))
                == Some(m.block.header.height)
    });
    if !consecutive {
        return PrecheckedRange {
            blocks: Vec::new(),
            failure: Some(Rejection::RangeShape { chain, from }),
        };
    }
    precheck_blocks(messages)
}

/// Each block's structure and inline payloads checked, up to the first that fails (no shape
/// rule: for blocks the caller already trusts to be a run, such as its own tests').
pub fn precheck_blocks(messages: Vec<BlockMessage>) -> PrecheckedRange {
    let mut blocks = Vec::with_capacity(messages.len());
    for message in messages {
        match Decoded::from_message(message).check_structure() {
            Ok(structured) => blocks.push(structured),
            Err(rejection) => {
                return PrecheckedRange {
                    blocks,
                    failure: Some(rejection),
                };
            }
        }
    }
    PrecheckedRange {
        blocks,
        failure: None,
    }
}

impl Ledger {
    /// Ingests consecutive blocks of one chain without payloads (see [`Ledger::ingest_messages`]).
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

    /// A sync `Range` answer, both steps on this thread: [`precheck_range`], then
    /// [`Ledger::ingest_prechecked`].
    pub fn ingest_range_answer(
        &mut self,
        chain: ChainId,
        from: u64,
        messages: Vec<BlockMessage>,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        self.ingest_prechecked(precheck_range(chain, from, messages), now_ms)
    }

    /// Consecutive blocks of one chain with their inline payloads, both steps on this thread:
    /// [`precheck_blocks`], then [`Ledger::ingest_prechecked`].
    pub fn ingest_messages(
        &mut self,
        messages: Vec<BlockMessage>,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        self.ingest_prechecked(precheck_blocks(messages), now_ms)
    }

    /// The second step: each block validated against its predecessor in memory (or the store,
    /// for the first), and the valid prefix committed with its inline payloads. Blocks we
    /// already hold are skipped. Returns what was committed and the first rejection, if any.
    pub fn ingest_prechecked(
        &mut self,
        range: PrecheckedRange,
        now_ms: u64,
    ) -> (Vec<Committed>, Option<Rejection>) {
        let PrecheckedRange {
            blocks,
            mut failure,
        } = range;
        let mut run: Vec<VerifiedBlock> = Vec::new();
        // The last certificate a block of this range was checked under: a block we already
        // hold is skipped, and the next one may need its certificate (not in the store if
        // the range is refilling the hole the carrying block left).
        let mut seen_cert: Option<Vec<u8>> = None;
        for structured in blocks {
            match self.verify_in_run(structured, run.last(), &mut seen_cert, now_ms) {
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

    /// Validates `structured` as the successor of `previous` (in memory) if it is the block
    /// right below, else against the store (the next block, or one filling a hole).
    /// `Ok(None)` for a block we already hold.
    fn verify_in_run(
        &mut self,
        structured: Structured,
        previous: Option<&VerifiedBlock>,
        seen_cert: &mut Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<Option<VerifiedBlock>, Rejection> {
        let header = &structured.block().header;
        let below = previous.filter(|p| {
            p.chain() == header.chain && p.height().checked_add(1) == Some(header.height)
        });
        let known = below
            .map(|b| b.certificate().to_vec())
            .or_else(|| seen_cert.clone());
        let signed = structured
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
        Ok(Some(linked.into_verified()))
    }
}
