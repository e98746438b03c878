//! `medchain-chain`: the rules of the ledger.
//!
//! - [`validate`]: validation as typestate; a block becomes a [`VerifiedBlock`] only through
//!   decode, structure, certificate, signature, linkage and payload checks.
//! - [`ledger`]: the [`Ledger`], sole owner of the store's write path: ingest with an
//!   out-of-order [`buffer`], range ingest for sync, commits, equivocation evidence.
//! - [`author`]: the local provider writes entries as the next blocks of its chain.
//! - [`equivocation`]: checking evidence of a provider signing two blocks for one height.
//! - [`provenance`], [`render`]: a record's history across chains, as data, text and DOT.
//! - [`verifier`]: the full scan of stored chains (its reports are kept in the store by
//!   `stored_report`); [`repair`]: quarantine of what it finds, the holes to fetch, restores.
//! - [`trust`]: the consortium root and CRLs, with a verified-certificate cache.
//! - [`error`]: why a block is refused and how the network should treat the sender.
//!
//! Allowed dependencies: `medchain-protocol`, `medchain-store`.

pub mod author;
pub mod buffer;
pub mod equivocation;
pub mod error;
pub mod ledger;
pub mod provenance;
pub mod render;
pub mod repair;
mod stored_report;
pub mod svg;
pub mod trust;
pub mod validate;
pub mod verifier;

pub use author::{Author, AuthorError, Authored, EntryDraft, PayloadDraft};
pub use error::{Rejection, Verdict};
pub use ledger::{Committed, Gap, Ingested, Ledger};
pub use provenance::{History, Limits, history};
pub use repair::Repair;
pub use trust::Trust;
pub use validate::{Admission, Decoded, VerifiedBlock};
pub use verifier::{Report, Violation, ViolationKind};
