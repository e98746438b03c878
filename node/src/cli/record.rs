//! `medchain record ...`: records, grants and erasure through a node's API.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Connect;

/// `medchain record ...`
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Write a record entry (create, amend, derive, merge, dispose).
    Add(RecordAdd),
    /// Read a record's latest version (audited).
    Get(RecordGet),
    /// A record's history across chains (audited).
    History(RecordHistory),
    /// Grant another member read access to a record (or to all of its patient's records).
    Grant(RecordGrant),
    /// Revoke a member's read access to a record (or to all of its patient's records).
    Revoke(RecordRevoke),
    /// Erase a record's payloads (or all of its patient's) on every node, by key destruction.
    Erase(RecordErase),
    /// The grants in force on a record, and every grant, revoke and erase covering it.
    Grants(RecordGrants),
    /// Save an offline proof of one of a record's entries (audited); check it with
    /// `medchain proof verify`.
    Proof(RecordProof),
}

/// Arguments of `record proof`.
#[derive(Debug, Args)]
pub struct RecordProof {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// The entry to prove (chain/height/index); default: the record's latest version.
    #[arg(long)]
    pub entry: Option<String>,
    /// Who asks (recorded in the audit trail).
    #[arg(long)]
    pub actor: String,
    /// Where to save the proof (`-` for standard output). The bytes are written as the node sent
    /// them: the proof's one byte form.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `record grant`.
#[derive(Debug, Args)]
pub struct RecordGrant {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// The member organisation granted access (its certificate's O).
    #[arg(long)]
    pub to: String,
    /// All of the record's patient's records at this provider, present and future.
    #[arg(long)]
    pub patient: bool,
    /// Who grants (recorded on the chain).
    #[arg(long)]
    pub actor: String,
}

/// Arguments of `record revoke`.
#[derive(Debug, Args)]
pub struct RecordRevoke {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// The member organisation whose access ends.
    #[arg(long)]
    pub org: String,
    /// Revoke a patient grant (all of the patient's records), not only this record's.
    #[arg(long)]
    pub patient: bool,
    /// Who revokes (recorded on the chain).
    #[arg(long)]
    pub actor: String,
}

/// Arguments of `record erase`.
#[derive(Debug, Args)]
pub struct RecordErase {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// All of the record's patient's records at this provider.
    #[arg(long)]
    pub patient: bool,
    /// Who erases (recorded on the chain).
    #[arg(long)]
    pub actor: String,
}

/// Arguments of `record grants`.
#[derive(Debug, Args)]
pub struct RecordGrants {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
}

/// Arguments of `record add`.
#[derive(Debug, Args)]
pub struct RecordAdd {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// create, amend, derive, merge or dispose.
    #[arg(long, default_value = "create")]
    pub kind: String,
    /// The patient's identifier (pseudonymised by the node; never stored).
    #[arg(long)]
    pub patient: String,
    /// A JSON file with the payload, or - for standard input.
    #[arg(long)]
    pub payload: Option<PathBuf>,
    /// The payload's media type.
    #[arg(long)]
    pub content_type: Option<String>,
    /// A parent: chain/height/index or a record ID (repeatable).
    #[arg(long = "parent")]
    pub parents: Vec<String>,
    /// The record acted on (amend, dispose).
    #[arg(long)]
    pub record: Option<String>,
    /// Who acts (this hospital's staff or system identifier).
    #[arg(long)]
    pub actor: String,
}

/// Arguments of `record get`.
#[derive(Debug, Args)]
pub struct RecordGet {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// Who reads (recorded in the audit trail).
    #[arg(long)]
    pub actor: String,
}

/// Arguments of `record history`.
#[derive(Debug, Args)]
pub struct RecordHistory {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// The record ID.
    pub id: String,
    /// Who reads (recorded in the audit trail).
    #[arg(long)]
    pub actor: String,
    /// text (default), json, dot or svg.
    #[arg(long, default_value = "text")]
    pub format: String,
}
