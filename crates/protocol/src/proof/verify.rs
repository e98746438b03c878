//! Checking a proof bundle against a consortium root (and, if given, its revocation lists),
//! offline: what it proves, or the first reason it does not.

use crate::encoding::{self, DecodeError};
use crate::entry::{Entry, EntryError};
use crate::identity::{CertError, Consortium, Member};
use crate::ids::{BlockHash, EntryRef};
use crate::limits::{MAX_BLOCK_BYTES, PROTOCOL_VERSION};
use crate::merkle;
use crate::{BlockHeader, ChainHead};

use super::signers::Signers;
use super::{MAX_PROOF_WITNESSES, MAX_WITNESS_LINKS, ProofBundle, Unusable};

/// What a valid proof shows.
#[derive(Clone, Debug)]
pub struct Proven {
    /// SHA-256 of the consortium root the proof verified under.
    pub root_fingerprint: [u8; 32],
    /// The entry.
    pub entry: Entry,
    /// Where it is: its chain, block height and index in the block.
    pub position: EntryRef,
    /// The hash of the block holding it.
    pub block_hash: BlockHash,
    /// The block's time as its signer stated it (ms since the Unix epoch, UTC).
    pub time_ms: u64,
    /// The signer, from its certificate.
    pub signer: Member,
    /// The signer certificate's revocation status.
    pub revocation: Revocation,
    /// The other chains' blocks committing to the entry's block.
    pub witnesses: Vec<ProvenWitness>,
}

/// A witness that checked.
#[derive(Clone, Debug)]
pub struct ProvenWitness {
    /// The witnessing block's chain, height, hash.
    pub head: ChainHead,
    /// Its time as its signer stated it (ms since the epoch).
    pub time_ms: u64,
    /// Its signer.
    pub signer: Member,
    /// Its signer's revocation status.
    pub revocation: Revocation,
    /// The height of the entry's chain it names (at or above the entry's block).
    pub witnessed_height: u64,
}

/// What is known of a signer certificate's revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// No revocation list was given: not checked.
    NotChecked,
    /// The lists given do not revoke it.
    NotRevoked,
    /// Revoked at this time (unix seconds), after the block was signed: the block stands, as in
    /// the chain rules (a revocation stops new blocks, not history).
    RevokedLater(i64),
}

/// Why a proof does not prove anything (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    /// The file parses, but is not the bundle's one byte form: it was changed.
    #[error("the file is not in the canonical form a node writes: it has been changed")]
    NotCanonical,
    /// Made for another consortium root than the one given.
    #[error(
        "the proof is for consortium root sha256:{} but the given CA is sha256:{}",
        hex::encode(proof),
        hex::encode(given)
    )]
    OtherConsortium {
        /// In the proof.
        proof: [u8; 32],
        /// Given to the verifier.
        given: [u8; 32],
    },
    /// A header's bytes are not a canonical header.
    #[error("{part}: the header is malformed: {error}")]
    MalformedHeader {
        /// Which header.
        part: String,
        /// Why.
        error: DecodeError,
    },
    /// The entry's bytes are not a canonical entry.
    #[error("the entry is malformed: {0}")]
    MalformedEntry(DecodeError),
    /// A header of a protocol version this verifier does not check.
    #[error("{part}: protocol version {version} (this verifier checks {PROTOCOL_VERSION})")]
    Version {
        /// Which header.
        part: String,
        /// Its version.
        version: u8,
    },
    /// The certificate is not the one the header names.
    #[error("{part}: the certificate is not the one the signed header names")]
    CertificateNotNamed {
        /// Which header.
        part: String,
    },
    /// The certificate's key does not own the header's chain.
    #[error("{part}: the certificate's key does not own the chain the header is on")]
    KeyNotChain {
        /// Which header.
        part: String,
    },
    /// The signature does not verify.
    #[error("{part}: the signature does not verify under the certificate's key")]
    BadSignature {
        /// Which header.
        part: String,
    },
    /// The certificate does not verify as a provider's at the block's time.
    #[error("{part}: the signer's certificate does not verify at the block's time: {error}")]
    Certificate {
        /// Which header.
        part: String,
        /// Why.
        error: CertError,
    },
    /// The entry count and the Merkle path disagree.
    #[error("the Merkle path is over {path} entries but the block holds {block}")]
    LeafCount {
        /// In the path.
        path: u32,
        /// In the header.
        block: u32,
    },
    /// The entry is not under the block's entries root.
    #[error("the entry is not in the block: its Merkle path does not lead to the header's root")]
    NotInBlock,
    /// The entry breaks the entry rules at its position.
    #[error("the entry is invalid at its position: {0}")]
    Entry(EntryError),
    /// More witnesses than a proof may carry.
    #[error("{0} witnesses: a proof carries at most {MAX_PROOF_WITNESSES}")]
    TooManyWitnesses(usize),
    /// A witness on the entry's own chain, or witnesses out of order.
    #[error("witness {0}: witnesses must be on other chains, one per chain, sorted by chain")]
    WitnessOrder(usize),
    /// A witness that does not name the entry's chain at or above the block.
    #[error("witness {0}: it names no head of the entry's chain at or above the entry's block")]
    WitnessNamesNoHead(usize),
    /// The links do not cover the witnessed heights.
    #[error(
        "witness {witness}: {found} linking headers for {expected} heights (at most {MAX_WITNESS_LINKS})"
    )]
    LinkCount {
        /// Which witness.
        witness: usize,
        /// Heights between the block and the witnessed head.
        expected: u64,
        /// Headers given.
        found: usize,
    },
    /// A linking header that does not follow the one before it.
    #[error("witness {witness}, link {link}: the header does not follow the one before it")]
    BrokenLink {
        /// Which witness.
        witness: usize,
        /// Which link (0 = the first after the entry's block).
        link: usize,
    },
    /// The last link is not the head the witness signed.
    #[error("witness {0}: the linking headers do not end at the head the witness signed")]
    WrongHead(usize),
    /// A witness signed by the entry's own signer's organisation: it vouches for nothing.
    #[error("witness {0}: signed by the entry's own organisation, not by another member")]
    WitnessSameMember(usize),
    /// A header that breaks the block rules (section 6).
    #[error("{part}: the header breaks the block rules: {rule}")]
    HeaderRule {
        /// Which header.
        part: String,
        /// The rule.
        rule: &'static str,
    },
    /// The signer's certificate is revoked, and no witness that is not revoked shows the block
    /// existed before the revocation: its stated time could be a revoked key's backdating.
    #[error(
        "the signer's certificate was revoked at unix time {revoked_at}, and no witness signed by a member that is not revoked shows the block existed before that: the block's own time is only its signer's word"
    )]
    RevokedUnwitnessed {
        /// The revocation time (unix seconds).
        revoked_at: i64,
    },
}

/// Why a proof check failed: unusable input (exit 2) or an invalid proof (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// Not a proof at all.
    #[error(transparent)]
    Unusable(#[from] Unusable),
    /// A proof that proves nothing.
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Checks the proof file `bytes` under `consortium` (the root the verifier trusts, and the
/// revocation lists it was given, if any).
pub fn verify(bytes: &[u8], consortium: &Consortium) -> Result<Proven, ProofError> {
    let bundle = ProofBundle::parse(bytes)?;
    if bundle.to_canonical_json() != bytes {
        return Err(Invalid::NotCanonical.into());
    }
    let given = consortium.root_fingerprint();
    if bundle.consortium_root_sha256.0 != given {
        return Err(Invalid::OtherConsortium {
            proof: bundle.consortium_root_sha256.0,
            given,
        }
        .into());
    }
    Ok(check(&bundle, consortium)?)
}

fn check(bundle: &ProofBundle, consortium: &Consortium) -> Result<Proven, Invalid> {
    let signers = Signers::new(consortium);
    let part = "the entry's block";
    let (header, signer, revocation) = signers.check(part, &bundle.block)?;
    let entry: Entry =
        encoding::decode(&bundle.entry.0, MAX_BLOCK_BYTES).map_err(Invalid::MalformedEntry)?;
    let path = &bundle.merkle_path;
    if path.leaf_count != header.entry_count {
        return Err(Invalid::LeafCount {
            path: path.leaf_count,
            block: header.entry_count,
        });
    }
    let proof = merkle::Proof {
        index: path.index,
        leaf_count: path.leaf_count,
        siblings: path.siblings.iter().map(|s| s.0).collect(),
    };
    if !merkle::verify(&header.entries_root, &entry.hash(), &proof) {
        return Err(Invalid::NotInBlock);
    }
    let position = EntryRef {
        chain: header.chain,
        height: header.height,
        index: path.index,
    };
    entry.check_structure(position).map_err(Invalid::Entry)?;
    let witnesses = check_witnesses(bundle, &header, &signer, &signers)?;
    // A revoked key can sign a header with any time: only a member that is not revoked, whose
    // block commits to this one and is timed before the revocation, shows it came first.
    if let Revocation::RevokedLater(revoked_at) = revocation {
        let anchored = witnesses.iter().any(|w| {
            w.revocation == Revocation::NotRevoked
                && i64::try_from(w.time_ms / 1000).is_ok_and(|at| at < revoked_at)
        });
        if !anchored {
            return Err(Invalid::RevokedUnwitnessed { revoked_at });
        }
    }
    Ok(Proven {
        root_fingerprint: consortium.root_fingerprint(),
        entry,
        position,
        block_hash: header.hash(),
        time_ms: header.time_ms,
        signer,
        revocation,
        witnesses,
    })
}

fn check_witnesses(
    bundle: &ProofBundle,
    block: &BlockHeader,
    block_signer: &Member,
    signers: &Signers<'_>,
) -> Result<Vec<ProvenWitness>, Invalid> {
    if bundle.witnesses.len() > MAX_PROOF_WITNESSES {
        return Err(Invalid::TooManyWitnesses(bundle.witnesses.len()));
    }
    let mut proven: Vec<ProvenWitness> = Vec::with_capacity(bundle.witnesses.len());
    for (n, witness) in bundle.witnesses.iter().enumerate() {
        let (header, signer, revocation) =
            signers.check(&format!("witness {n}"), &witness.block)?;
        let after_previous = proven.last().is_none_or(|p| p.head.chain < header.chain);
        if header.chain == block.chain || !after_previous {
            return Err(Invalid::WitnessOrder(n));
        }
        if signer.org == block_signer.org {
            return Err(Invalid::WitnessSameMember(n));
        }
        let named = header
            .witnesses
            .iter()
            .find(|head| head.chain == block.chain && head.height >= block.height)
            .ok_or(Invalid::WitnessNamesNoHead(n))?;
        let expected = named.height - block.height;
        if witness.links.len() > MAX_WITNESS_LINKS || witness.links.len() as u64 != expected {
            return Err(Invalid::LinkCount {
                witness: n,
                expected,
                found: witness.links.len(),
            });
        }
        let mut previous = block.hash();
        for (link, bytes) in witness.links.iter().enumerate() {
            let linked: BlockHeader =
                encoding::decode(&bytes.0, MAX_BLOCK_BYTES).map_err(|error| {
                    Invalid::MalformedHeader {
                        part: format!("witness {n}, link {link}"),
                        error,
                    }
                })?;
            let follows = linked.chain == block.chain
                && linked.height == block.height + 1 + link as u64
                && linked.prev == previous;
            if !follows {
                return Err(Invalid::BrokenLink { witness: n, link });
            }
            previous = linked.hash();
        }
        if previous != named.hash {
            return Err(Invalid::WrongHead(n));
        }
        proven.push(ProvenWitness {
            head: ChainHead {
                chain: header.chain,
                height: header.height,
                hash: header.hash(),
            },
            time_ms: header.time_ms,
            signer,
            revocation,
            witnessed_height: named.height,
        });
    }
    Ok(proven)
}
