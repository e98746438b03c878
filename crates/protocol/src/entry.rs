//! Entries: the events recorded on a chain, one per change to a medical record.
//!
//! An entry says what happened to which record (create, amend, derive, merge, access, dispose;
//! and, from protocol version 2, grant, revoke and erase: who may read its sealed payloads),
//! for which patient (a pseudonym), by whom, with which payload (by hash: the bytes live apart
//! from the chain), and what it came from (its parents, on any chain). The structural rules that
//! need no other block are checked here; rules that need the store live in `medchain-chain`.

use serde::{Deserialize, Serialize};

use crate::hash::Domain;
use crate::ids::{EntryRef, PayloadHash, RecordId};
use crate::limits::{
    MAX_ACTOR_LEN, MAX_CONTENT_TYPE_LEN, MAX_ORG_LEN, MAX_PARENTS, MAX_PAYLOAD_BYTES,
};
use crate::patient::PatientRef;

/// What an entry does to its record. The variant order gives the wire values (postcard encodes
/// the index); the lowercase names are for human-readable formats (the API's JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A new record with its first version. No parents.
    Create,
    /// A new version of an existing record. Parents name the version(s) it replaces.
    Amend,
    /// A new record derived from one or more others (a report from an image, say).
    Derive,
    /// A new record combining two or more others.
    Merge,
    /// A read of a record: the audit trail of who saw what. No payload.
    Access,
    /// The disposal of a record: it is not to be used any more. No payload.
    Dispose,
    /// Read access to a record (or to all of its patient's records at this provider) granted
    /// to one member organisation, named in the entry's [`Terms`]: that member may be released
    /// the data keys. No payload.
    Grant,
    /// A grant withdrawn: no further key is released, and the grantee deletes the keys it
    /// holds. Same terms as the grant it withdraws. No payload.
    Revoke,
    /// Erasure of a record's payloads (or of all of its patient's records at this provider):
    /// every node deletes the data keys and the sealed payloads it holds. No payload.
    Erase,
}

impl EntryKind {
    /// Every kind, in wire order.
    pub const ALL: [EntryKind; 9] = [
        EntryKind::Create,
        EntryKind::Amend,
        EntryKind::Derive,
        EntryKind::Merge,
        EntryKind::Access,
        EntryKind::Dispose,
        EntryKind::Grant,
        EntryKind::Revoke,
        EntryKind::Erase,
    ];

    /// Whether this kind starts a new record, whose ID is derived from the entry's position.
    pub const fn creates_record(self) -> bool {
        matches!(
            self,
            EntryKind::Create | EntryKind::Derive | EntryKind::Merge
        )
    }

    /// Whether this kind carries a payload (and must).
    pub const fn has_payload(self) -> bool {
        matches!(
            self,
            EntryKind::Create | EntryKind::Amend | EntryKind::Derive | EntryKind::Merge
        )
    }

    /// Whether this kind changes who may read the record (and must carry [`Terms`]).
    pub const fn has_terms(self) -> bool {
        matches!(
            self,
            EntryKind::Grant | EntryKind::Revoke | EntryKind::Erase
        )
    }

    /// The allowed number of parents, inclusive.
    pub const fn parent_range(self) -> (usize, usize) {
        match self {
            EntryKind::Create => (0, 0),
            EntryKind::Amend | EntryKind::Derive => (1, MAX_PARENTS),
            EntryKind::Merge => (2, MAX_PARENTS),
            EntryKind::Access | EntryKind::Dispose => (0, 1),
            // The record's creating entry, which proves the record is this chain's own.
            EntryKind::Grant | EntryKind::Revoke | EntryKind::Erase => (1, 1),
        }
    }

    /// The lowercase name used by the API and the CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Create => "create",
            EntryKind::Amend => "amend",
            EntryKind::Derive => "derive",
            EntryKind::Merge => "merge",
            EntryKind::Access => "access",
            EntryKind::Dispose => "dispose",
            EntryKind::Grant => "grant",
            EntryKind::Revoke => "revoke",
            EntryKind::Erase => "erase",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EntryKind {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(EntryError::UnknownKind)
    }
}

/// Where an entry comes from: a precise version (entry) or a record as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Parent {
    /// One version of a record: the entry at this position.
    Entry(EntryRef),
    /// A record, whichever its latest version was when this entry was made.
    Record(RecordId),
}

/// A payload by reference: its content address, length and media type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PayloadRef {
    /// The content address of the payload bytes.
    pub hash: PayloadHash,
    /// The payload's length in bytes.
    pub len: u64,
    /// Its media type, e.g. `application/fhir+json`. Payloads are opaque bytes, so this may name
    /// an encrypted form.
    pub content_type: String,
}

/// What a grant, revoke or erase entry covers, and for grants and revokes, to whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Terms {
    /// The member organisation (its certificate's O) a grant or revoke names; `None` for an
    /// erase.
    pub to: Option<String>,
    /// Whether it covers every record of the entry's patient at this provider (for a grant:
    /// present and future ones), not only the entry's record.
    pub whole_patient: bool,
}

/// One event on one record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// What happened.
    pub kind: EntryKind,
    /// The record it happened to (for create, derive and merge: the new record's derived ID).
    pub record: RecordId,
    /// The patient, by pseudonym.
    pub patient: PatientRef,
    /// Who did it: the provider's own staff or system identifier (never a patient identifier).
    pub actor: String,
    /// The payload, for kinds that carry one.
    pub payload: Option<PayloadRef>,
    /// What it was derived from, amended from, merged from or accessed.
    pub parents: Vec<Parent>,
    /// For grant, revoke and erase entries (and only those): what they cover.
    pub terms: Option<Terms>,
}

/// Why an entry is structurally invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Not one of create, amend, derive, merge, access, dispose.
    #[error("unknown entry kind")]
    UnknownKind,
    /// A record-creating entry whose record ID is not derived from its position.
    #[error("record ID is not the one derived from the entry's position")]
    RecordIdMismatch,
    /// A payload on a kind that takes none, or none on a kind that needs one.
    #[error("{kind} entries {} a payload", if kind.has_payload() { "need" } else { "take no" })]
    PayloadPresence {
        /// The entry's kind.
        kind: EntryKind,
    },
    /// The payload is larger than the protocol allows.
    #[error("payload of {0} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}")]
    PayloadTooLarge(u64),
    /// The content type is empty, too long, or not a `type/subtype` token.
    #[error(
        "content type must be a type/subtype of printable ASCII, at most {MAX_CONTENT_TYPE_LEN} bytes"
    )]
    BadContentType,
    /// The actor is empty, too long, or holds control characters.
    #[error("actor must be 1 to {MAX_ACTOR_LEN} bytes of printable text")]
    BadActor,
    /// Terms on a kind that takes none, none on a kind that needs them, or terms of the wrong
    /// shape (a grant or revoke must name one organisation, an erase none).
    #[error("{kind} entries {}", match kind { EntryKind::Grant | EntryKind::Revoke => "need terms naming one member organisation", EntryKind::Erase => "need terms naming no organisation", _ => "take no terms" })]
    BadTerms {
        /// The entry's kind.
        kind: EntryKind,
    },
    /// A grant, revoke or erase whose one parent is not the record's creating entry on the
    /// entry's own chain: only the provider that created a record decides who reads it.
    #[error(
        "{kind} entries name the record's creating entry, on their own chain, as their one parent: only the record's own provider grants, revokes or erases"
    )]
    NotOwnRecord {
        /// The entry's kind.
        kind: EntryKind,
    },
    /// Too few or too many parents for the kind.
    #[error("{kind} entries take {min} to {max} parents, not {count}")]
    ParentCount {
        /// The entry's kind.
        kind: EntryKind,
        /// Parents given.
        count: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// The same parent named twice.
    #[error("duplicate parent")]
    DuplicateParent,
    /// A parent that is this entry itself or comes after it on the same chain.
    #[error("parent {0} is not earlier than the entry")]
    ParentNotEarlier(EntryRef),
}

impl Entry {
    /// The canonical bytes of this entry.
    pub fn encode(&self) -> Vec<u8> {
        crate::encoding::encode(self)
    }

    /// The entry's leaf hash in the entries Merkle tree.
    pub fn hash(&self) -> [u8; 32] {
        Domain::Entry.hash(&self.encode())
    }

    /// Checks the rules that need nothing but the entry and its position.
    pub fn check_structure(&self, position: EntryRef) -> Result<(), EntryError> {
        if self.kind.creates_record()
            && self.record != RecordId::derive(&position.chain, position.height, position.index)
        {
            return Err(EntryError::RecordIdMismatch);
        }
        match (&self.payload, self.kind.has_payload()) {
            (Some(payload), true) => check_payload(payload)?,
            (None, false) => {}
            _ => return Err(EntryError::PayloadPresence { kind: self.kind }),
        }
        if !is_printable_text(&self.actor, MAX_ACTOR_LEN) {
            return Err(EntryError::BadActor);
        }
        self.check_terms()?;
        self.check_parents(position)?;
        self.check_own_record(position)
    }

    /// Grant, revoke and erase: the one parent is the entry that created the record, on this
    /// chain (the record ID is derived from that position, so the rule needs no store). Only the
    /// provider that created a record can then grant, revoke or erase it.
    fn check_own_record(&self, position: EntryRef) -> Result<(), EntryError> {
        if !self.kind.has_terms() {
            return Ok(());
        }
        match self.parents.as_slice() {
            [Parent::Entry(created)]
                if created.chain == position.chain
                    && RecordId::derive(&created.chain, created.height, created.index)
                        == self.record =>
            {
                Ok(())
            }
            _ => Err(EntryError::NotOwnRecord { kind: self.kind }),
        }
    }

    fn check_terms(&self) -> Result<(), EntryError> {
        let fits = match (self.kind, &self.terms) {
            (EntryKind::Grant | EntryKind::Revoke, Some(Terms { to: Some(org), .. })) => {
                is_printable_text(org, MAX_ORG_LEN)
            }
            (EntryKind::Erase, Some(Terms { to: None, .. })) => true,
            (kind, None) => !kind.has_terms(),
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(EntryError::BadTerms { kind: self.kind })
        }
    }

    fn check_parents(&self, position: EntryRef) -> Result<(), EntryError> {
        let (min, max) = self.kind.parent_range();
        let count = self.parents.len();
        if count < min || count > max {
            return Err(EntryError::ParentCount {
                kind: self.kind,
                count,
                min,
                max,
            });
        }
        for (i, parent) in self.parents.iter().enumerate() {
            if self.parents[..i].contains(parent) {
                return Err(EntryError::DuplicateParent);
            }
            if let Parent::Entry(at) = parent
                && is_not_earlier(at, &position)
            {
                return Err(EntryError::ParentNotEarlier(*at));
            }
        }
        Ok(())
    }
}

fn is_not_earlier(parent: &EntryRef, position: &EntryRef) -> bool {
    parent.chain == position.chain
        && (parent.height, parent.index) >= (position.height, position.index)
}

fn check_payload(payload: &PayloadRef) -> Result<(), EntryError> {
    if payload.len > MAX_PAYLOAD_BYTES as u64 {
        return Err(EntryError::PayloadTooLarge(payload.len));
    }
    if !is_content_type(&payload.content_type) {
        return Err(EntryError::BadContentType);
    }
    Ok(())
}

/// `type/subtype`, optionally with parameters, in printable ASCII without spaces around the slash.
pub fn is_content_type(value: &str) -> bool {
    if value.is_empty() || value.len() > MAX_CONTENT_TYPE_LEN {
        return false;
    }
    if !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return false;
    }
    let essence = value.split(';').next().unwrap_or_default();
    let mut halves = essence.split('/');
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!((halves.next(), halves.next(), halves.next()),
        (Some(t), Some(s), None) if token(t) && token(s))
}

/// 1 to `max` bytes of text with no control characters and no surrounding whitespace.
pub fn is_printable_text(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.trim() == value
        && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod tests;
