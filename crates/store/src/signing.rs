//! The signing record: what a provider node knows about its own chain that must survive the loss
//! of its store. It lives in a small file *outside* the store directory (`signing.json` in the
//! data directory), because everything it guards against is the store being wrong: moved aside
//! and rebuilt from peers, restored from a backup, or silently rolled back by sled.
//!
//! - `had_chain`: whether this node ever held a block of its own chain. `medchain init` writes
//!   `false`; it becomes `true` (durably, before the signature) when the node signs its genesis,
//!   and whenever a block of its chain is committed. A node whose record says `true` and whose
//!   store holds none of its chain never signs a new genesis: that would fork its chain.
//! - `pause`: why the node may not sign now (see the chain crate's `signing` module), kept
//!   across restarts so a rebuild in progress is not forgotten by a restart.
//! - `lifted`: the last operator decisions that lifted a pause by hand, with who and why.
//!
//! The file is JSON (operators read it in a runbook) and is replaced atomically: written to a
//! temporary file, synced, renamed over the old one, and the directory synced.

use std::io::Write;
use std::path::{Path, PathBuf};

use medchain_protocol::ChainId;
use serde::{Deserialize, Serialize};

/// The record file's format version.
pub const SIGNING_RECORD_VERSION: u32 = 1;
/// Most operator lifts kept in the record (older ones stay in the node's log).
pub const MAX_LIFTS_KEPT: usize = 32;
/// Largest record file read (a damaged or planted file must not make the node allocate much).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Why the node does not sign, as persisted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedPause {
    /// A stable code (`started`, `rebuilt`, `own_chain_quarantined`, `peer_ahead`, `forked`).
    pub kind: String,
    /// For operators.
    pub detail: String,
    /// When the pause began, ms since the epoch.
    pub since_ms: u64,
}

/// One pause lifted by an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorLift {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Who (as they named themselves to the API).
    pub by: String,
    /// Why, in their words.
    pub why: String,
    /// The pause that was lifted.
    pub lifted: PersistedPause,
}

/// The record's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningState {
    /// [`SIGNING_RECORD_VERSION`].
    pub version: u32,
    /// The chain this record is about (the node's own).
    pub chain: ChainId,
    /// Whether this node ever held a block of its own chain.
    pub had_chain: bool,
    /// Why the node may not sign now, if it may not.
    pub pause: Option<PersistedPause>,
    /// The last operator lifts, oldest first.
    pub lifted: Vec<OperatorLift>,
}

/// Why the record cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SigningRecordError {
    /// The file could not be read or written.
    #[error("signing record {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a signing record of this version.
    #[error("signing record {path} is not readable: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The record is about another chain (another member's data directory?).
    #[error("signing record {path} is for chain {found}, but this node's chain is {expected}")]
    OtherChain {
        /// The file.
        path: String,
        /// The chain in the file.
        found: ChainId,
        /// This node's chain.
        expected: ChainId,
    },
}

/// The signing record file and its contents.
#[derive(Debug)]
pub struct SigningRecord {
    path: PathBuf,
    state: SigningState,
}

impl SigningRecord {
    /// Writes a new record for a node that has never had a chain (what `medchain init` does).
    /// Refuses to replace an existing file.
    pub fn create_fresh(path: &Path, chain: ChainId) -> Result<Self, SigningRecordError> {
        if path.exists() {
            return Err(SigningRecordError::Malformed {
                path: path.display().to_string(),
                reason: "a signing record already exists; refusing to replace it".into(),
            });
        }
        let record = Self {
            path: path.to_path_buf(),
            state: SigningState {
                version: SIGNING_RECORD_VERSION,
                chain,
                had_chain: false,
                pause: None,
                lifted: Vec::new(),
            },
        };
        record.save()?;
        Ok(record)
    }

    /// Reads the record at `path` for `chain`. `Ok(None)` if there is no file.
    pub fn load(path: &Path, chain: ChainId) -> Result<Option<Self>, SigningRecordError> {
        let shown = || path.display().to_string();
        let io = |source| SigningRecordError::Io {
            path: shown(),
            source,
        };
        let bytes = match std::fs::File::open(path) {
            Ok(file) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, MAX_RECORD_BYTES),
                    &mut bytes,
                )
                .map_err(io)?;
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let state: SigningState =
            serde_json::from_slice(&bytes).map_err(|e| SigningRecordError::Malformed {
                path: shown(),
                reason: e.to_string(),
            })?;
        if state.version != SIGNING_RECORD_VERSION {
            return Err(SigningRecordError::Malformed {
                path: shown(),
                reason: format!(
                    "version {} (this build reads version {SIGNING_RECORD_VERSION})",
                    state.version
                ),
            });
        }
        if state.chain != chain {
            return Err(SigningRecordError::OtherChain {
                path: shown(),
                found: state.chain,
                expected: chain,
            });
        }
        Ok(Some(Self {
            path: path.to_path_buf(),
            state,
        }))
    }

    /// A record for a node whose history is unknown (the file is missing): it is assumed to
    /// have had a chain, the safe side (it will not sign a new genesis). Saved at once.
    pub fn assume_had_chain(path: &Path, chain: ChainId) -> Result<Self, SigningRecordError> {
        let record = Self {
            path: path.to_path_buf(),
            state: SigningState {
                version: SIGNING_RECORD_VERSION,
                chain,
                had_chain: true,
                pause: None,
                lifted: Vec::new(),
            },
        };
        record.save()?;
        Ok(record)
    }

    /// The contents.
    pub fn state(&self) -> &SigningState {
        &self.state
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the contents with `change` and saves them durably. The change takes effect in
    /// memory even when the save fails (the error says so): every change the node makes fails
    /// closed that way (a pause holds; a resume that was not saved is undone by the pause every
    /// start begins with), and a genesis is signed only after this returned `Ok`.
    pub fn update(
        &mut self,
        change: impl FnOnce(&mut SigningState),
    ) -> Result<(), SigningRecordError> {
        let before = self.state.clone();
        change(&mut self.state);
        if self.state.lifted.len() > MAX_LIFTS_KEPT {
            let excess = self.state.lifted.len() - MAX_LIFTS_KEPT;
            self.state.lifted.drain(..excess);
        }
        if self.state == before {
            return Ok(());
        }
        self.save()
    }

    /// Writes the record atomically and durably (temporary file, fsync, rename, fsync of the
    /// directory).
    fn save(&self) -> Result<(), SigningRecordError> {
        let io = |source| SigningRecordError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut text =
            serde_json::to_vec_pretty(&self.state).map_err(|e| SigningRecordError::Malformed {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
        text.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code

    use super::*;

    #[test]
    fn a_record_round_trips_and_refuses_another_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.json");
        let chain = ChainId([7; 32]);
        let mut record = SigningRecord::create_fresh(&path, chain).unwrap();
        assert!(!record.state().had_chain);
        assert!(SigningRecord::create_fresh(&path, chain).is_err());
        record
            .update(|s| {
                s.had_chain = true;
                s.pause = Some(PersistedPause {
                    kind: "rebuilt".into(),
                    detail: "store moved aside".into(),
                    since_ms: 5,
                });
            })
            .unwrap();
        let again = SigningRecord::load(&path, chain).unwrap().unwrap();
        assert_eq!(again.state(), record.state());
        assert!(matches!(
            SigningRecord::load(&path, ChainId([8; 32])),
            Err(SigningRecordError::OtherChain { .. })
        ));
        assert!(
            SigningRecord::load(&dir.path().join("missing.json"), chain)
                .unwrap()
                .is_none()
        );
        std::fs::write(&path, b"{ not json").unwrap();
        assert!(matches!(
            SigningRecord::load(&path, chain),
            Err(SigningRecordError::Malformed { .. })
        ));
    }

    #[test]
    fn lifts_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.json");
        let mut record = SigningRecord::create_fresh(&path, ChainId([1; 32])).unwrap();
        for i in 0..(MAX_LIFTS_KEPT as u64 + 5) {
            record
                .update(|s| {
                    s.lifted.push(OperatorLift {
                        at_ms: i,
                        by: "ops".into(),
                        why: "drill".into(),
                        lifted: PersistedPause {
                            kind: "started".into(),
                            detail: String::new(),
                            since_ms: i,
                        },
                    })
                })
                .unwrap();
        }
        let lifted = &record.state().lifted;
        assert_eq!(lifted.len(), MAX_LIFTS_KEPT);
        assert_eq!(lifted.first().map(|l| l.at_ms), Some(5));
    }
}
