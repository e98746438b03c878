//! Authoring: the local provider turns submitted entries into the next blocks of its own chain.
//!
//! Many entries go into one block (up to the protocol's limit), which is what makes throughput:
//! one signature, one transaction and one flush per block, not per record. Each payload is
//! sealed here, where its position is known, under a fresh data key (`keyring`); the block
//! commits to the ciphertext, and the data key is kept wrapped in the store, written before the
//! block so it is durable when the block is. No plaintext payload reaches the store. Every authored block
//! then runs through the same validation pipeline as a block from a peer before it is committed,
//! so our own node cannot write what it would refuse from others (an expired or revoked
//! certificate of our own, say).

use medchain_protocol::identity::MemberKey;
use medchain_protocol::limits::{
    MAX_ENTRIES_PER_BLOCK, MAX_INLINE_PAYLOAD_BYTES, MAX_INLINE_PAYLOADS_TOTAL, MAX_WITNESSES,
};
use medchain_protocol::sealed::{PayloadPlace, SealError};
use medchain_protocol::{
    BlockDraft, BlockHash, CertHash, ChainHead, ChainId, Entry, EntryError, EntryKind, EntryRef,
    Parent, PatientRef, PayloadHash, PayloadRef, RecordId, Terms,
};
use medchain_store::StoreError;
use zeroize::Zeroizing;

use crate::error::Rejection;
use crate::keyring::KeyRing;
use crate::ledger::Ledger;
use crate::validate::{Decoded, VerifiedBlock, verify_block};

/// The local provider: its key and certificate, and the node's key ring.
pub struct Author {
    key: MemberKey,
    /// The member certificate: replaced by a renewal for the same key while the node runs.
    certificate: std::sync::RwLock<Vec<u8>>,
    chain: ChainId,
    keys: KeyRing,
}

impl std::fmt::Debug for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Author")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

/// A payload submitted with an entry.
#[derive(Clone)]
pub struct PayloadDraft {
    /// The plaintext bytes (sealed when the entry gets its position; wiped on drop).
    pub bytes: Zeroizing<Vec<u8>>,
    /// Their media type.
    pub content_type: String,
}

impl std::fmt::Debug for PayloadDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes: a debug line must not carry a patient's data.
        f.debug_struct("PayloadDraft")
            .field("len", &self.bytes.len())
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// An entry as submitted, before it has a position.
#[derive(Clone, Debug)]
pub struct EntryDraft {
    /// What happens.
    pub kind: EntryKind,
    /// The record acted on, for amend, access and dispose; `None` for kinds that create a
    /// record (its ID is derived from the entry's position).
    pub record: Option<RecordId>,
    /// The patient, already pseudonymised.
    pub patient: PatientRef,
    /// Who acts.
    pub actor: String,
    /// The payload, for kinds that carry one.
    pub payload: Option<PayloadDraft>,
    /// Parents.
    pub parents: Vec<Parent>,
    /// For grant, revoke and erase: what it covers.
    pub terms: Option<Terms>,
}

/// Why authoring failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AuthorError {
    /// The certificate's key is not the author's key.
    #[error("the member certificate does not certify this node's key")]
    KeyMismatch,
    /// Nothing to write.
    #[error("no entries")]
    Empty,
    /// A draft breaks an entry rule.
    #[error("entry {index}: {error}")]
    Entry {
        /// Index among the submitted drafts.
        index: usize,
        /// The rule broken.
        error: EntryError,
    },
    /// A creating kind was given a record ID, or another kind none.
    #[error("entry {index}: {kind} entries {}", if kind.creates_record() { "get a new record ID and take none" } else { "need the record ID they act on" })]
    RecordId {
        /// Index among the submitted drafts.
        index: usize,
        /// The kind.
        kind: EntryKind,
    },
    /// This node may not sign now (see `crate::signing`): paused until its head is confirmed,
    /// or it would sign a new genesis over a chain it had.
    #[error("{0}")]
    Signing(#[from] crate::signing::SigningError),
    /// Our own block failed validation (e.g. our certificate expired or was revoked).
    #[error("our own block does not validate: {0}")]
    SelfCheck(Rejection),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A payload could not be sealed (the random number generator failed).
    #[error("entry {index}: the payload cannot be sealed: {error}")]
    Seal {
        /// Index among the submitted drafts.
        index: usize,
        /// Why.
        error: SealError,
    },
    /// The block's key backup could not be made (the random number generator, or a recovery
    /// key that is not a usable X25519 key).
    #[error("the block's keys cannot be backed up: {0}")]
    Backup(medchain_protocol::key_backup::BackupError),
    /// Our chain's head is at the last height there is (a damaged head record): no block can
    /// follow it.
    #[error("this node's chain is at the last possible height; its head record is damaged")]
    ChainFull,
}

/// A block this node authored, committed and flushed, with the positions of its entries.
#[derive(Debug, Clone)]
pub struct Authored {
    /// The block.
    pub block: VerifiedBlock,
    /// Where each submitted entry went, in submission order.
    pub refs: Vec<EntryRef>,
    /// The record ID of each entry.
    pub records: Vec<RecordId>,
}

impl Author {
    /// The local provider with `key` and its member certificate (DER); its payloads' data keys
    /// are wrapped by `keys`.
    pub fn new(key: MemberKey, certificate: Vec<u8>, keys: KeyRing) -> Result<Self, AuthorError> {
        let certified = medchain_protocol::identity::public_key_of(&certificate);
        if certified != Some(key.public_key()) {
            return Err(AuthorError::KeyMismatch);
        }
        let chain = ChainId::from_public_key(&key.public_key());
        Ok(Self {
            key,
            certificate: std::sync::RwLock::new(certificate),
            chain,
            keys,
        })
    }

    /// Takes a renewed certificate for the same key: the next block carries it (the protocol's
    /// rule after a renewal). Refused if it certifies another key.
    pub fn renew(&self, certificate: Vec<u8>) -> Result<(), AuthorError> {
        let certified = medchain_protocol::identity::public_key_of(&certificate);
        if certified != Some(self.key.public_key()) {
            return Err(AuthorError::KeyMismatch);
        }
        *self.certificate.write().unwrap_or_else(|p| p.into_inner()) = certificate;
        Ok(())
    }

    /// The node's key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Our chain.
    pub fn chain(&self) -> ChainId {
        self.chain
    }

    /// Our certificate (DER), as now in force.
    pub fn certificate(&self) -> Vec<u8> {
        self.certificate
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Our chain's key, to sign what only this chain's provider may (key backups).
    pub(crate) fn member_key(&self) -> &MemberKey {
        &self.key
    }
}

impl Ledger {
    /// Writes `drafts` as the next block(s) of the author's chain: validated, committed and
    /// flushed before this returns. All drafts are checked first; if any is invalid nothing is
    /// written.
    pub fn author(
        &mut self,
        author: &Author,
        drafts: Vec<EntryDraft>,
        now_ms: u64,
    ) -> Result<Vec<Authored>, AuthorError> {
        if drafts.is_empty() {
            return Err(AuthorError::Empty);
        }
        check_record_ids(&drafts)?;
        // The check that allows signing, under the same `&mut self` as the signing.
        self.check_may_sign(&author.chain)?;
        let mut out = Vec::new();
        let mut offset = 0;
        let mut chunks = drafts.into_iter().peekable();
        while chunks.peek().is_some() {
            let chunk: Vec<EntryDraft> = chunks.by_ref().take(MAX_ENTRIES_PER_BLOCK).collect();
            let len = chunk.len();
            let authored = self
                .author_block(author, chunk, now_ms)
                .map_err(|e| shift_index(e, offset))?;
            offset += len;
            out.push(authored);
        }
        Ok(out)
    }

    fn author_block(
        &mut self,
        author: &Author,
        drafts: Vec<EntryDraft>,
        now_ms: u64,
    ) -> Result<Authored, AuthorError> {
        let store = self.store().clone();
        let head = store.head(&author.chain)?;
        let (height, prev) = match head {
            None => (0, BlockHash::ZERO),
            // A head at the end of the height range (only a damaged or planted head record gets
            // there) has no next height: never wrap around to sign a second genesis.
            Some(h) => match h.height.checked_add(1) {
                Some(next) => (next, h.hash),
                None => return Err(AuthorError::ChainFull),
            },
        };
        let previous = match head {
            Some(h) => store.block(&h.hash)?,
            None => None,
        };
        let time_ms = previous
            .as_ref()
            .map_or(now_ms, |p| now_ms.max(p.header.time_ms));
        // One read of the certificate for the whole block: a renewal in between takes effect
        // at the next one.
        let certificate = author.certificate();
        let carry_certificate = previous
            .as_ref()
            .is_none_or(|p| p.header.cert != CertHash::of(&certificate));

        let mut entries = Vec::with_capacity(drafts.len());
        let mut payloads: Vec<(PayloadHash, Vec<u8>)> = Vec::new();
        let mut data_keys: Vec<(EntryRef, Vec<u8>)> = Vec::new();
        let mut backed_up = Vec::new();
        for (index, draft) in drafts.into_iter().enumerate() {
            let position = EntryRef {
                chain: author.chain,
                height,
                index: u32::try_from(index).unwrap_or(u32::MAX),
            };
            let (entry, payload) = draft
                .sealed_at(position, &author.keys)
                .map_err(|error| AuthorError::Seal { index, error })?;
            entry
                .check_structure(position)
                .map_err(|error| AuthorError::Entry { index, error })?;
            if let (Some((bytes, wrapped_key, key)), Some(reference)) = (payload, &entry.payload) {
                payloads.push((reference.hash, bytes));
                data_keys.push((position, wrapped_key));
                backed_up.push((position.index, key));
            }
            entries.push(entry);
        }
        let block = BlockDraft {
            chain: author.chain,
            height,
            prev,
            time_ms,
            certificate,
            carry_certificate,
            witnesses: witnesses(&store.heads()?, &author.chain),
            entries,
        }
        .seal(&author.key);

        // Every payload is kept locally; the small ones travel inline with the block (and are
        // stored with it by the commit), the others are stored here, before the block. So are
        // the data keys (sled writes its log in order: they are durable once the block is).
        self.store.put_data_keys(&data_keys)?;
        self.back_up_keys(author, height, &backed_up)?;
        let (inline, kept_apart) = inline_selection(payloads);
        if !kept_apart.is_empty() {
            let apart: Vec<(PayloadHash, &[u8])> =
                kept_apart.iter().map(|(h, p)| (*h, p.as_slice())).collect();
            self.store.put_hashed_payloads(&apart)?;
        }
        let verified = match verify_block(
            Decoded::from_block(block, inline),
            self.trust(),
            &store,
            now_ms,
        ) {
            Ok(verified) => verified,
            Err(rejection) => {
                // Refused before the commit: the keys of positions the block never took go too
                // (best effort; such a key opens nothing and is never read). Not after a failed
                // commit: a flush error may follow a write that landed, whose keys must stay.
                let positions: Vec<EntryRef> = data_keys.iter().map(|(at, _)| *at).collect();
                let _ = self.store.delete_data_keys(&positions);
                return Err(AuthorError::SelfCheck(rejection));
            }
        };
        self.commit(std::slice::from_ref(&verified))?;
        let refs = verified.entry_refs();
        let records = verified.block().entries.iter().map(|e| e.record).collect();
        Ok(Authored {
            block: verified,
            refs,
            records,
        })
    }
}

fn check_record_ids(drafts: &[EntryDraft]) -> Result<(), AuthorError> {
    for (index, draft) in drafts.iter().enumerate() {
        if draft.kind.creates_record() == draft.record.is_some() {
            return Err(AuthorError::RecordId {
                index,
                kind: draft.kind,
            });
        }
    }
    Ok(())
}

fn shift_index(error: AuthorError, offset: usize) -> AuthorError {
    match error {
        AuthorError::Entry { index, error } => AuthorError::Entry {
            index: index + offset,
            error,
        },
        other => other,
    }
}

/// A payload sealed at its entry's position: the sealed bytes, its data key wrapped for the
/// store, and the data key (for the block's key backup).
pub type SealedPayload = (Vec<u8>, Vec<u8>, medchain_protocol::sealed::DataKey);

impl EntryDraft {
    /// The entry this draft becomes at `position` (its record ID derived from the position when
    /// its kind creates a record), with its payload sealed there under a fresh data key: the
    /// sealed bytes the entry's reference hashes, and the data key wrapped by `keys`. The entry
    /// rules are checked apart (`Entry::check_structure`), as authoring does.
    pub fn sealed_at(
        self,
        position: EntryRef,
        keys: &KeyRing,
    ) -> Result<(Entry, Option<SealedPayload>), SealError> {
        let record = match self.record {
            Some(record) => record,
            None => RecordId::derive(&position.chain, position.height, position.index),
        };
        let (payload_ref, sealed) = match self.payload {
            Some(p) => {
                let place = PayloadPlace {
                    at: position,
                    record,
                    content_type: &p.content_type,
                };
                let (bytes, wrapped_key, key) = keys.seal(&place, &p.bytes)?;
                let reference = PayloadRef {
                    hash: PayloadHash::of(&bytes),
                    len: bytes.len() as u64,
                    content_type: p.content_type,
                };
                (Some(reference), Some((bytes, wrapped_key, key)))
            }
            None => (None, None),
        };
        let entry = Entry {
            kind: self.kind,
            record,
            patient: self.patient,
            actor: self.actor,
            payload: payload_ref,
            parents: self.parents,
            terms: self.terms,
        };
        Ok((entry, sealed))
    }
}

/// Up to [`MAX_WITNESSES`] heads of other chains, sorted by chain (as the protocol requires).
fn witnesses(heads: &[ChainHead], own: &ChainId) -> Vec<ChainHead> {
    let mut out: Vec<ChainHead> = heads.iter().filter(|h| &h.chain != own).copied().collect();
    out.sort_by_key(|h| h.chain);
    out.truncate(MAX_WITNESSES);
    out
}

/// A payload with its hash.
type Hashed = (PayloadHash, Vec<u8>);

/// Splits a block's payloads into those that travel inline and those kept apart (too large, or
/// over the block's inline total); each payload once, by the hashes already computed for the
/// entries' payload references.
fn inline_selection(payloads: Vec<Hashed>) -> (Vec<Vec<u8>>, Vec<Hashed>) {
    let mut total = 0;
    let mut seen = std::collections::HashSet::new();
    let (mut inline, mut apart) = (Vec::new(), Vec::new());
    for (hash, p) in payloads {
        if !seen.insert(hash) {
            continue;
        }
        if p.len() <= MAX_INLINE_PAYLOAD_BYTES && total + p.len() <= MAX_INLINE_PAYLOADS_TOTAL {
            total += p.len();
            inline.push(p);
        } else {
            apart.push((hash, p));
        }
    }
    (inline, apart)
}
