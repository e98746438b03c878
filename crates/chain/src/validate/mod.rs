//! Block validation as typestate: bytes become a [`VerifiedBlock`] only through every check.
//!
//! ```text
//! Decoded --check_structure--> Structured --check_certificate--> Certified
//!   --check_signature--> Signed --check_linkage--> Linked --into_verified--> VerifiedBlock
//! ```
//!
//! Each stage is a type whose only constructor is the previous stage's check, and
//! `VerifiedBlock`'s fields are private to this module, so no code path can hand the store a
//! block that skipped a check. The cheap checks come first (structure before any signature
//! work); the certificate is checked before the signature so that a forged block from a
//! non-member is refused with the reason that matters ("unknown issuer").
//!
//! The structure check needs nothing but the message, so it also checks the inline payloads
//! against the entries (their hashes are most of a range's hashing): a caller can run it off the
//! ledger's lock, on another thread, while the one writer commits (`crate::range_intake`).

mod verified;

pub use verified::VerifiedBlock;

use medchain_protocol::message::check_inline_payloads;
use medchain_protocol::{Block, BlockHash, BlockMessage, PayloadHash};
use medchain_store::StoreReader;

use crate::error::Rejection;
use crate::trust::{Provider, Trust};

/// How far ahead of our clock a block's time may be (clock skew between hospitals).
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// Which certificate rule a block is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A new block (gossip, `POST /v1/blocks`): its certificate must not be revoked at all.
    New,
    /// A block of the shared history (a synced range): a revoked certificate still covers
    /// blocks timed before its revocation date.
    History,
    /// A stored block re-verified by the verifier: it was accepted under the trust of its time,
    /// so revocation is set aside for the certificate check (the verifier reports revoked
    /// chains apart) and the signature and links are still checked.
    Audit,
}

/// A canonically decoded block (and any inline payloads that came with it).
#[derive(Debug)]
pub struct Decoded {
    block: Block,
    encoded: Vec<u8>,
    payloads: Vec<serde_bytes::ByteBuf>,
}

impl Decoded {
    /// Decodes canonical block bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Rejection> {
        Ok(Self {
            block: Block::decode(bytes)?,
            encoded: bytes.to_vec(),
            payloads: Vec::new(),
        })
    }

    /// Decodes canonical block bytes the caller owns (no copy).
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, Rejection> {
        Ok(Self {
            block: Block::decode(&bytes)?,
            encoded: bytes,
            payloads: Vec::new(),
        })
    }

    /// A block that arrived by gossip with its inline payloads.
    pub fn from_message(message: BlockMessage) -> Self {
        Self {
            encoded: message.block.encode(),
            block: message.block,
            payloads: message.payloads,
        }
    }

    /// A block already in memory (from a sync response, or our own authoring), with payloads
    /// that travel with it.
    pub fn from_block(block: Block, payloads: Vec<Vec<u8>>) -> Self {
        Self {
            encoded: block.encode(),
            block,
            payloads: payloads.into_iter().map(Into::into).collect(),
        }
    }

    /// The block, unverified.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Structure: version, counts, entries root, genesis and certificate-hash rules, witnesses,
    /// every entry's own rules, the encoded size limit, and the inline payloads (each within
    /// its limits, once, and referenced by an entry with its exact hash and length).
    pub fn check_structure(self) -> Result<Structured, Rejection> {
        if self.encoded.len() > medchain_protocol::limits::MAX_BLOCK_BYTES {
            return Err(medchain_protocol::DecodeError::TooLarge {
                len: self.encoded.len(),
                max: medchain_protocol::limits::MAX_BLOCK_BYTES,
            }
            .into());
        }
        self.block.check_structure()?;
        let payload_hashes = check_inline_payloads(&self.block, &self.payloads)?;
        let hash = self.block.hash();
        Ok(Structured {
            d: self,
            hash,
            payload_hashes,
        })
    }
}

/// A structurally valid block with its hash, and its inline payloads checked against its
/// entries.
#[derive(Debug)]
pub struct Structured {
    d: Decoded,
    hash: BlockHash,
    /// The inline payloads' hashes, in order.
    payload_hashes: Vec<PayloadHash>,
}

impl Structured {
    /// The block, not yet proven to be signed by anyone.
    pub fn block(&self) -> &Block {
        &self.d.block
    }

    /// The block hash.
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// Bytes held: the encoded block and its inline payloads, as received.
    pub fn size(&self) -> usize {
        self.d.encoded.len() + self.d.payloads.iter().map(|p| p.len()).sum::<usize>()
    }

    /// Certificate: the block's signer certificate chains to the consortium root, carries the
    /// provider role, was valid at the block's time, is not revoked, and its key owns the
    /// block's chain. The certificate is the one the block carries, else its verified
    /// predecessor's (when validating a run in memory), else the one the store holds.
    pub fn check_certificate(
        self,
        trust: &Trust,
        store: &StoreReader,
        previous: Option<&VerifiedBlock>,
        admission: Admission,
    ) -> Result<Certified, Rejection> {
        let known = previous
            .filter(|p| p.block.header.cert == self.d.block.header.cert)
            .map(|p| p.certificate.clone());
        self.check_certificate_known(trust, store, known.as_deref(), admission)
    }

    /// [`Structured::check_certificate`] with a certificate the caller already holds (the
    /// verifier keeps those its walk has seen carried): used only if it hashes to the one the
    /// header names; else the carried one, else the store's.
    pub fn check_certificate_known(
        self,
        trust: &Trust,
        store: &StoreReader,
        known: Option<&[u8]>,
        admission: Admission,
    ) -> Result<Certified, Rejection> {
        let header = &self.d.block.header;
        let known = known.filter(|der| medchain_protocol::CertHash::of(der) == header.cert);
        let cert = match (&self.d.block.certificate, known) {
            (Some(der), _) => der.clone(),
            (None, Some(der)) => der.to_vec(),
            (None, None) => store
                .certificate(&header.cert)?
                .ok_or(Rejection::UnknownCertificate(header.cert))?,
        };
        let provider = match admission {
            Admission::New => trust.provider(&cert, header.time_ms),
            Admission::History => trust.provider_in_history(&cert, header.time_ms),
            Admission::Audit => trust.provider_ignoring_revocation(&cert, header.time_ms),
        }
        .map_err(Rejection::Certificate)?;
        if provider.chain != header.chain {
            return Err(Rejection::ChainKeyMismatch(header.chain));
        }
        Ok(Certified {
            s: self,
            provider,
            certificate: cert,
        })
    }
}

/// A block whose signer is a valid provider of its chain.
#[derive(Debug)]
pub struct Certified {
    s: Structured,
    provider: Provider,
    certificate: Vec<u8>,
}

impl Certified {
    /// Signature: Ed25519 by the certificate's key over the domain-prefixed block hash.
    pub fn check_signature(self) -> Result<Signed, Rejection> {
        let block = &self.s.d.block;
        if !block.verify_signature(&self.provider.member.public_key) {
            return Err(Rejection::BadSignature);
        }
        Ok(Signed { c: self })
    }
}

/// A block proven to be signed by its chain's provider. It may still not fit our copy of the
/// chain (gap, duplicate, equivocation).
#[derive(Debug)]
pub struct Signed {
    c: Certified,
}

/// Where a signed block stands against our copy of its chain.
pub enum Position {
    /// The block is the next one.
    Next,
    /// We hold blocks up to `expected - 1`; this block is further ahead.
    Ahead {
        /// The next height we need.
        expected: u64,
    },
    /// Below our head, at a height we hold nothing: a range the verifier moved into quarantine,
    /// to be filled again from peers.
    Hole,
    /// We hold this very block.
    Held,
    /// We hold a different block at this height.
    Conflict(BlockHash),
}

/// Where a block with this header and hash stands against the store.
pub fn position(
    store: &StoreReader,
    block: &Block,
    hash: &BlockHash,
) -> Result<Position, Rejection> {
    let header = &block.header;
    // A head record at the last height (damaged, or a chain that long) has nothing after it.
    let expected = store
        .head(&header.chain)?
        .map_or(0, |head| head.height.saturating_add(1));
    if header.height < expected {
        return Ok(match store.block_hash_at(&header.chain, header.height)? {
            Some(held) if &held == hash => Position::Held,
            Some(held) => Position::Conflict(held),
            None => Position::Hole,
        });
    }
    if header.height > expected {
        return Ok(Position::Ahead { expected });
    }
    Ok(Position::Next)
}

impl Signed {
    /// The block.
    pub fn block(&self) -> &Block {
        &self.c.s.d.block
    }

    /// The block hash.
    pub fn hash(&self) -> BlockHash {
        self.c.s.hash
    }

    /// The signer's certificate DER.
    pub fn certificate(&self) -> &[u8] {
        &self.c.certificate
    }

    /// Bytes held: the encoded block and its inline payloads, as received.
    pub fn size(&self) -> usize {
        self.c.s.size()
    }

    /// Where this block stands against the store.
    pub fn position(&self, store: &StoreReader) -> Result<Position, Rejection> {
        position(store, self.block(), &self.hash())
    }

    /// Linkage against the store: the block must be the next one of its chain, or fill a hole,
    /// and link to the block we hold below it; a block filling a hole must also be the one the
    /// block we hold above it links to.
    pub fn check_linkage(self, store: &StoreReader, now_ms: u64) -> Result<Linked, Rejection> {
        let header = &self.block().header;
        let position = self.position(store)?;
        match position {
            Position::Next => {}
            Position::Hole => self.check_held_successor(store)?,
            Position::Held => return Err(Rejection::Duplicate(self.hash())),
            Position::Conflict(_) => {
                return Err(Rejection::Equivocation {
                    chain: header.chain,
                    height: header.height,
                });
            }
            Position::Ahead { expected } => {
                return Err(Rejection::Gap {
                    chain: header.chain,
                    from: expected,
                    to: header.height,
                });
            }
        }
        let previous = match header.height {
            0 => None,
            h => Some(
                store
                    .block_at(&header.chain, h - 1)?
                    .ok_or(Rejection::Gap {
                        chain: header.chain,
                        from: h - 1,
                        to: h,
                    })?,
            ),
        };
        self.check_link_to(previous.as_ref(), now_ms)
    }

    /// A block filling a hole must be the one the block we hold above it names as its
    /// predecessor. Both are signed by the chain's provider, so a mismatch means the peer's copy
    /// and ours differ: the block is refused and the hole waits for another peer.
    pub fn check_held_successor(&self, store: &StoreReader) -> Result<(), Rejection> {
        let header = &self.block().header;
        let Some(above) = header.height.checked_add(1) else {
            return Ok(());
        };
        match store.block_at(&header.chain, above)? {
            Some(successor) if successor.header.prev != self.hash() => Err(Rejection::BrokenLink {
                height: header.height,
            }),
            _ => Ok(()),
        }
    }

    /// Linkage against a given predecessor (`None` for genesis): used when validating a run of
    /// consecutive blocks in memory before committing them together, and by the verifier.
    pub fn check_link_to(self, previous: Option<&Block>, now_ms: u64) -> Result<Linked, Rejection> {
        let header = &self.block().header;
        if header.time_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
            return Err(Rejection::FromTheFuture {
                ahead_ms: header.time_ms - now_ms,
            });
        }
        if let Some(previous) = previous {
            let (prev_hash, prev) = (previous.hash(), &previous.header);
            if prev.chain != header.chain || prev.height.checked_add(1) != Some(header.height) {
                return Err(Rejection::BrokenLink {
                    height: header.height.saturating_sub(1),
                });
            }
            if header.prev != prev_hash {
                return Err(Rejection::BrokenLink {
                    height: prev.height,
                });
            }
            if header.time_ms < prev.time_ms {
                return Err(Rejection::TimeGoesBackwards);
            }
            if self.block().certificate.is_none() && header.cert != prev.cert {
                return Err(Rejection::CertificateNotCarried);
            }
        }
        Ok(Linked { s: self })
    }
}

/// A block that fits our copy of its chain.
#[derive(Debug)]
pub struct Linked {
    s: Signed,
}

impl Linked {
    /// The end of validation: every check passed (the inline payloads were checked with the
    /// structure: each referenced by an entry with its exact hash and length).
    pub fn into_verified(self) -> VerifiedBlock {
        let Signed { c } = self.s;
        let Certified {
            s,
            provider,
            certificate,
        } = c;
        let Structured {
            d,
            hash,
            payload_hashes,
        } = s;
        let Decoded {
            block,
            encoded,
            payloads,
        } = d;
        VerifiedBlock {
            block,
            hash,
            encoded,
            payloads: payloads.into_iter().map(|p| p.into_vec()).collect(),
            payload_hashes,
            provider,
            certificate,
        }
    }
}

/// Runs every check against the store: the whole pipeline for one block.
pub fn verify_block(
    decoded: Decoded,
    trust: &Trust,
    store: &StoreReader,
    now_ms: u64,
) -> Result<VerifiedBlock, Rejection> {
    decoded
        .check_structure()?
        .check_certificate(trust, store, None, Admission::New)?
        .check_signature()?
        .check_linkage(store, now_ms)
        .map(Linked::into_verified)
}
