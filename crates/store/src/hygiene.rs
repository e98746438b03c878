//! Stray entries: keys and values that are not what their tree holds (malformed, planted, or
//! left over), found by the verifier and set aside so that no read or write trips over them.
//!
//! The verifier distrusts the store it checks: one malformed key in `reports`, one undecodable
//! quarantine event or one bad head value must be a finding, not a reason every scan and every
//! write fails. [`StoreReader::stray_entries`] walks the small trees (heads, chain index keys,
//! certificates, evidence, quarantine events and bytes, reports, meta) and names
//! every entry of the wrong shape (block keys are not walked: sled keeps values with their keys,
//! so it would read every block a second time, and a block key is only ever read by the hash
//! the chain index names); [`StoreReader::stray_index_keys`] (run only when the index
//! digest says something is extra) names index keys that are malformed or that no block
//! implies. [`Store::set_aside`] moves them, key and value, into the `stray` tree (kept for
//! forensics, like quarantined blocks): the copy is written before the entry is removed, then
//! one flush, so a crash in between leaves the entry where it was (and a copy): the next scan
//! finds it and sets it aside again. Nothing is ever lost, at worst kept twice.
//!
//! Not walked: blocks (the verifier checks each indexed block), payload locations (content
//! addressed: an unreferenced one is never read, a referenced one is read and its payload
//! re-hashed, and a malformed one is damage to that payload, repaired by storing it again),
//! index trees (see above).

use std::collections::HashMap;

use medchain_protocol::limits::MAX_EVIDENCE_BYTES;
use medchain_protocol::{Block, CertHash, ChainId, EquivocationEvidence, encoding};
use serde::{Deserialize, Serialize};
use sled::IVec;

use crate::error::{EngineResult, StoreError};
use crate::index::{IndexTree, implied};
use crate::keys::{self, HASH_LEN, HEIGHT_KEY_LEN};
use crate::open::{Store, StoreReader, name};
use crate::read::checked_block;

/// Most stray entries one walk reports (the rest are found by the next scan).
pub const MAX_STRAY_PER_SCAN: usize = 1024;

/// A key that is not what its tree holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrayEntry {
    /// The tree's name.
    pub tree: String,
    /// The key, exactly.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// What is wrong with it.
    pub why: String,
}

/// A stray entry as kept in the `stray` tree.
#[derive(Serialize, Deserialize)]
struct SetAside {
    tree: String,
    #[serde(with = "serde_bytes")]
    key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    value: Vec<u8>,
    why: String,
    time_ms: u64,
}

/// The checks of the small trees: tree name and a judge of (key, value).
type Judge = fn(&[u8], &[u8]) -> Option<String>;

fn judge_head(key: &[u8], value: &[u8]) -> Option<String> {
    if key.len() != HASH_LEN {
        return Some(format!("head key of {} bytes", key.len()));
    }
    keys::decode_head_value(value)
        .is_none()
        .then(|| format!("head value of {} bytes", value.len()))
}

fn judge_chain_index_key(key: &[u8], _: &[u8]) -> Option<String> {
    // Values of well-formed keys are the verifier's to judge, as the heights they are.
    (key.len() != HEIGHT_KEY_LEN).then(|| format!("chain index key of {} bytes", key.len()))
}

fn judge_certificate(key: &[u8], value: &[u8]) -> Option<String> {
    (key.len() != HASH_LEN || CertHash::of(value).as_bytes()[..] != key[..])
        .then(|| "certificate bytes do not hash to their key".to_owned())
}

fn judge_evidence(key: &[u8], value: &[u8]) -> Option<String> {
    let Ok(evidence) = encoding::decode::<EquivocationEvidence>(value, MAX_EVIDENCE_BYTES) else {
        return Some("evidence does not decode".into());
    };
    let first = &evidence.first.header;
    let expected = keys::evidence_key(&first.chain, first.height, &evidence.second.header.hash());
    (expected[..] != key[..]).then(|| "evidence stored under another key".to_owned())
}

fn judge_event(key: &[u8], value: &[u8]) -> Option<String> {
    match keys::decode_seq(key) {
        Some(u64::MAX) => Some("event number at the end of its range".into()),
        Some(_) => crate::quarantine::decode_event(key, value)
            .is_err()
            .then(|| "quarantine event does not decode".to_owned()),
        None => Some(format!("event key of {} bytes", key.len())),
    }
}

fn judge_quarantined(key: &[u8], _: &[u8]) -> Option<String> {
    (key.len() != 16).then(|| format!("quarantine key of {} bytes", key.len()))
}

fn judge_report(key: &[u8], _: &[u8]) -> Option<String> {
    match keys::decode_seq(key) {
        Some(u64::MAX) => Some("report number at the end of its range".into()),
        Some(_) => None,
        None => Some(format!("report key of {} bytes", key.len())),
    }
}

fn judge_meta(key: &[u8], _: &[u8]) -> Option<String> {
    // The schema version itself is checked when the store opens.
    (key != crate::open::SCHEMA_KEY && key != crate::schema::OBJECTS_KEY)
        .then(|| "unknown meta key".to_owned())
}

const JUDGES: [(&str, Judge); 8] = [
    (name::HEADS, judge_head),
    (name::CHAIN_INDEX, judge_chain_index_key),
    (name::CERTIFICATES, judge_certificate),
    (name::EVIDENCE, judge_evidence),
    (name::QUARANTINE_EVENTS, judge_event),
    (name::QUARANTINE, judge_quarantined),
    (name::REPORTS, judge_report),
    (name::META, judge_meta),
];

impl StoreReader {
    /// Every entry of the small trees that is not what its tree holds (at most
    /// [`MAX_STRAY_PER_SCAN`]).
    pub fn stray_entries(&self) -> Result<Vec<StrayEntry>, StoreError> {
        let mut out = Vec::new();
        for (tree_name, judge) in JUDGES {
            let tree = self.trees().by_name(tree_name);
            for item in tree.iter() {
                let (key, value) = item.engine()?;
                if let Some(why) = judge(&key, &value) {
                    out.push(StrayEntry {
                        tree: tree_name.to_owned(),
                        key: key.to_vec(),
                        why,
                    });
                    if out.len() >= MAX_STRAY_PER_SCAN {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Index keys that are malformed, or that point at a block this store holds (at its chain
    /// index height, up to `scanned`'s head of its chain) which does not imply them (at most
    /// [`MAX_STRAY_PER_SCAN`]). Keys pointing at heights not held (an open hole: the refill
    /// writes them anew) or above the heads the scan judged (committed since) are left alone.
    pub fn stray_index_keys(
        &self,
        scanned: &HashMap<ChainId, u64>,
    ) -> Result<Vec<StrayEntry>, StoreError> {
        let mut out = Vec::new();
        let mut implied_by: HashMap<(ChainId, u64), Option<std::collections::HashSet<Vec<u8>>>> =
            HashMap::new();
        for which in IndexTree::ALL {
            for item in which.tree(self.trees()).iter().keys() {
                let key = item.engine()?;
                let stray = match which.entry_of(&key) {
                    None => Some("malformed index key".to_owned()),
                    Some(at) if scanned.get(&at.chain).is_some_and(|h| at.height <= *h) => {
                        let keys = match implied_by.get(&(at.chain, at.height)) {
                            Some(keys) => keys,
                            None => {
                                if implied_by.len() >= 4096 {
                                    implied_by.clear();
                                }
                                let keys = self.implied_at(&at.chain, at.height)?;
                                implied_by.entry((at.chain, at.height)).or_insert(keys)
                            }
                        };
                        keys.as_ref()
                            .is_some_and(|keys| !keys.contains(&key[..]))
                            .then(|| format!("no block implies this {} key", which.name()))
                    }
                    Some(_) => None,
                };
                if let Some(why) = stray {
                    out.push(StrayEntry {
                        tree: which.name().to_owned(),
                        key: key.to_vec(),
                        why,
                    });
                    if out.len() >= MAX_STRAY_PER_SCAN {
                        return Ok(out);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The index keys the sound block at (chain, height) implies; `None` when no sound block is
    /// held there (the verifier reports the height itself).
    fn implied_at(
        &self,
        chain: &ChainId,
        height: u64,
    ) -> Result<Option<std::collections::HashSet<Vec<u8>>>, StoreError> {
        let Some(hash) = self.block_hash_at(chain, height).ok().flatten() else {
            return Ok(None);
        };
        let Some(raw) = self.trees().blocks.get(hash.as_bytes()).engine()? else {
            return Ok(None);
        };
        let block: Block = match checked_block(&hash, &raw) {
            Ok(block) if block.header.chain == *chain && block.header.height == height => block,
            _ => return Ok(None),
        };
        Ok(Some(implied(&block).into_iter().map(|i| i.key).collect()))
    }

    /// Entries set aside so far, oldest first, with when (ms since the epoch).
    pub fn set_aside_entries(&self) -> Result<Vec<(StrayEntry, u64)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees().stray.iter() {
            let (_, value) = item.engine()?;
            if let Ok(kept) = encoding::decode::<SetAside>(&value, usize::MAX) {
                let entry = StrayEntry {
                    tree: kept.tree,
                    key: kept.key,
                    why: kept.why,
                };
                out.push((entry, kept.time_ms));
            }
        }
        Ok(out)
    }
}

impl Store {
    /// Moves `entries` (key and current value) into the `stray` tree and removes them from their
    /// trees, then flushes. Entries no longer present are skipped. Returns how many were moved.
    pub fn set_aside(&mut self, entries: &[StrayEntry], time_ms: u64) -> Result<usize, StoreError> {
        let mut moved = 0;
        let mut seq = crate::logs::next_seq(&self.trees().stray, name::STRAY)?;
        for entry in entries {
            let Some(tree_name) = crate::open::TREE_NAMES
                .iter()
                .copied()
                .find(|n| *n == entry.tree)
            else {
                continue;
            };
            let tree = self.trees().by_name(tree_name);
            let Some(value) = tree.get(&entry.key).engine()? else {
                continue;
            };
            let kept = SetAside {
                tree: entry.tree.clone(),
                key: entry.key.clone(),
                value: value.to_vec(),
                why: entry.why.clone(),
                time_ms,
            };
            self.trees()
                .stray
                .insert(keys::seq_key(seq), IVec::from(encoding::encode(&kept)))
                .engine()?;
            tree.remove(&entry.key).engine()?;
            seq = seq.saturating_add(1);
            moved += 1;
        }
        self.flush_now()?;
        Ok(moved)
    }
}
