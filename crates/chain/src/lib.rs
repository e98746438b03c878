//! `medchain-chain`: the rules of the ledger.
//!
//! - [`validate`]: validation as typestate; a block becomes a [`VerifiedBlock`] only through
//!   decode, structure, certificate, signature, linkage and payload checks.
//! - [`ledger`]: the [`Ledger`], sole owner of the store's write path: ingest with an
//!   out-of-order [`buffer`], range ingest for sync, commits, equivocation evidence.
//! - [`author`]: the local provider writes entries as the next blocks of its chain, each
//!   payload sealed under a fresh data key; [`keyring`]: the node's key-wrapping key, which keeps
//!   data keys wrapped in the store and opens payloads for reads.
//! - [`equivocation`]: checking evidence of a provider signing two blocks for one height.
//! - [`reads`]: reads that serve only blocks signed by their chain's key (checked once each).
//! - [`proof`]: an offline proof of one entry, built from the store.
//! - [`provenance`], [`render`]: a record's history across chains, as data, text and DOT.
//! - [`verifier`]: the full scan of stored chains; [`stored_report`]: the ledger's scan that keeps
//!   its report in the store, and past reports; [`repair`]: quarantine of what it finds, the
//!   holes to fetch, restores.
//! - [`signing`]: whether this node may sign the next block of its own chain (never twice at
//!   one height), with the signing record kept outside the store.
//! - [`trust`]: the consortium root and CRLs, with a verified-certificate cache.
//! - [`error`]: why a block is refused and how the network should treat the sender.
//!
//! Allowed dependencies: `medchain-protocol`, `medchain-store`.

pub mod author;
pub mod backup;
mod backup_gaps;
pub mod buffer;
pub mod equivocation;
pub mod error;
pub mod grants;
pub mod keyring;
pub mod ledger;
mod payload_compaction;
pub mod proof;
pub mod provenance;
pub mod range_intake;
pub mod reads;
pub mod released;
pub mod render;
pub mod repair;
pub mod signing;
pub mod stored_report;
pub mod svg;
pub mod trust;
pub mod validate;
pub mod verifier;

pub use author::{Author, AuthorError, Authored, EntryDraft, PayloadDraft};
pub use backup::{RestoreError, Restored};
pub use buffer::Origin;
pub use error::{Rejection, Verdict};
pub use keyring::{KeyRing, OpenError, RewrapError, Rewrapped};
pub use ledger::{Committed, Gap, Ingested, Ledger};
pub use provenance::{History, Limits, history};
pub use range_intake::{PrecheckedRange, precheck_range};
pub use reads::Reads;
pub use released::KeepError;
pub use repair::Repair;
pub use signing::{
    Confirmation, OwnClaim, PauseKind, PeerReport, SharedPause, Signing, SigningError,
};
pub use trust::Trust;
pub use validate::{Admission, Decoded, VerifiedBlock};
pub use verifier::{Report, Violation, ViolationKind};
