//! Provenance: the history of a record across chains (the paper's Figure 5).
//!
//! A record's versions are its entries (create, amend, dispose; accesses are counted). Records
//! are linked by their entries' parents: a derive or merge entry names the records (or precise
//! versions) it came from, on any provider's chain. [`history`] walks those links both ways from
//! one record: up to what it was derived from (ancestors) and down to what was derived from it
//! (descendants). The walk is breadth-first, cycle-safe (each record is visited once) and bounded
//! in depth and in the number of records, saying when it stopped early.

use std::collections::{BTreeMap, HashMap, VecDeque};

use medchain_protocol::identity::org_of;
use medchain_protocol::{Block, ChainId, EntryKind, EntryRef, Parent, PayloadHash, RecordId};
use medchain_store::StoreError;

use crate::reads::Reads;
use serde::Serialize;

/// Most access entries counted per record in a history (beyond, `accesses_at_least`).
pub const MAX_COUNTED_ACCESSES: u64 = 10_000;

/// Bounds of one history query.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most derivation steps followed from the record, each way.
    pub max_depth: usize,
    /// Most records in the answer.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_records: 512,
        }
    }
}

/// One version (entry) of a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Version {
    /// Where the entry is.
    pub at: EntryRef,
    /// What it did.
    pub kind: EntryKind,
    /// Who did it.
    pub actor: String,
    /// The block's time, ms since the epoch.
    pub time_ms: u64,
    /// The payload's media type.
    pub content_type: Option<String>,
    /// The payload's hash (of its sealed form).
    pub payload: Option<PayloadHash>,
    /// Whether this node holds the sealed payload (it verifies it and serves it to peers
    /// whether or not it holds the key that reads it).
    pub payload_held: bool,
}

/// A record in a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordNode {
    /// The record.
    pub record: RecordId,
    /// The chain of its first entry, if we hold any.
    pub chain: Option<ChainId>,
    /// The organisation of that chain's certificate, if known.
    pub org: Option<String>,
    /// Its versions in chain order (access entries excluded).
    pub versions: Vec<Version>,
    /// How many access entries it has (at most [`MAX_COUNTED_ACCESSES`]; see
    /// `accesses_at_least`).
    pub accesses: usize,
    /// Whether it has more access entries than were counted (`GET /v1/records/{id}/accesses`
    /// pages through all of them).
    pub accesses_at_least: bool,
    /// Whether it has been disposed of.
    pub disposed: bool,
}

/// "`to` was derived from `from`", by the entry `via` of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Derivation {
    /// The source record.
    pub from: RecordId,
    /// The derived record.
    pub to: RecordId,
    /// The entry of `to` that names `from` as a parent.
    pub via: EntryRef,
    /// That entry's kind (derive, merge, amend).
    pub kind: EntryKind,
}

/// The history of one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct History {
    /// The record asked about.
    pub root: RecordId,
    /// Every record reached, the root first.
    pub records: Vec<RecordNode>,
    /// Every derivation link between them.
    pub derivations: Vec<Derivation>,
    /// Parent entries named by some entry that we do not hold (their chain is behind).
    pub unresolved: Vec<EntryRef>,
    /// Whether a limit stopped the walk.
    pub truncated: bool,
}

/// Why a history cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// We hold no entry of this record.
    #[error("record {0} is not known here")]
    UnknownRecord(RecordId),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Reads blocks once per query, each checked to be signed by its chain's key.
struct Reader<'a> {
    reads: &'a Reads,
    blocks: HashMap<(ChainId, u64), Option<Block>>,
    orgs: HashMap<ChainId, Option<String>>,
}

impl<'a> Reader<'a> {
    fn block(&mut self, chain: ChainId, height: u64) -> Result<Option<&Block>, StoreError> {
        if !self.blocks.contains_key(&(chain, height)) {
            let block = self.reads.block_at(&chain, height)?;
            self.blocks.insert((chain, height), block);
        }
        Ok(self.blocks.get(&(chain, height)).and_then(Option::as_ref))
    }

    fn entry(
        &mut self,
        at: &EntryRef,
    ) -> Result<Option<(medchain_protocol::Entry, u64)>, StoreError> {
        Ok(self
            .block(at.chain, at.height)?
            .and_then(|b| Some((b.entries.get(at.index as usize)?.clone(), b.header.time_ms))))
    }

    fn org(&mut self, chain: ChainId) -> Result<Option<String>, StoreError> {
        if let Some(org) = self.orgs.get(&chain) {
            return Ok(org.clone());
        }
        let cert = match self.block(chain, 0)? {
            Some(genesis) => genesis.certificate.clone(),
            None => None,
        };
        let org = cert.as_deref().and_then(org_of);
        self.orgs.insert(chain, org.clone());
        Ok(org)
    }

    /// The record's node, and the parents named by its entries (with the naming entry).
    fn record(&mut self, record: RecordId) -> Result<(RecordNode, NamedParents), StoreError> {
        // Only entries held here that are versions of this record: an index key planted or
        // left by damage names another entry.
        let mut versions = Vec::new();
        for at in self.reads.store().record_entries(&record)? {
            if let Some((entry, time_ms)) = self.entry(&at)?
                && entry.record == record
            {
                versions.push((at, entry, time_ms));
            }
        }
        let mut node = RecordNode {
            record,
            chain: versions.first().map(|(at, _, _)| at.chain),
            org: None,
            versions: Vec::new(),
            accesses: 0,
            accesses_at_least: false,
            disposed: false,
        };
        if let Some(chain) = node.chain {
            node.org = self.org(chain)?;
        }
        // Counted from their own index, up to a bound: reading a record never walks its
        // accesses, nor counts a million of them.
        let counted = self
            .reads
            .store()
            .access_count(&record, MAX_COUNTED_ACCESSES + 1)?;
        node.accesses = usize::try_from(counted.min(MAX_COUNTED_ACCESSES)).unwrap_or(usize::MAX);
        node.accesses_at_least = counted > MAX_COUNTED_ACCESSES;
        let mut parents = Vec::new();
        for (at, entry, time_ms) in versions {
            match entry.kind {
                // Access entries are indexed apart; one here was planted: not a version.
                EntryKind::Access => {}
                kind => {
                    node.disposed |= kind == EntryKind::Dispose;
                    parents.extend(entry.parents.iter().map(|p| (at, kind, *p)));
                    let payload_held = match &entry.payload {
                        Some(p) => self.reads.store().has_payload(&p.hash)?,
                        None => false,
                    };
                    node.versions.push(Version {
                        at,
                        kind,
                        actor: entry.actor.clone(),
                        time_ms,
                        content_type: entry.payload.as_ref().map(|p| p.content_type.clone()),
                        payload: entry.payload.as_ref().map(|p| p.hash),
                        payload_held,
                    });
                }
            }
        }
        Ok((node, parents))
    }
}

/// The history of `record`: its versions, what it was derived from and what was derived from it.
pub fn history(reads: &Reads, record: RecordId, limits: Limits) -> Result<History, HistoryError> {
    let mut reader = Reader {
        reads,
        blocks: HashMap::new(),
        orgs: HashMap::new(),
    };
    let (root, _) = reader.record(record)?;
    if root.versions.is_empty() && root.accesses == 0 {
        return Err(HistoryError::UnknownRecord(record));
    }
    let mut walk = Walk {
        nodes: BTreeMap::new(),
        parents: HashMap::new(),
        order: Vec::new(),
        derivations: Vec::new(),
        unresolved: Vec::new(),
        truncated: false,
        limits,
    };
    walk.up(&mut reader, record)?;
    walk.down(&mut reader, record)?;
    let mut records = Vec::with_capacity(walk.order.len());
    for id in &walk.order {
        if let Some(node) = walk.nodes.remove(id) {
            records.push(node);
        }
    }
    walk.derivations.sort_by_key(|d| (d.via, d.from));
    walk.derivations.dedup();
    walk.unresolved.sort();
    walk.unresolved.dedup();
    Ok(History {
        root: record,
        records,
        derivations: walk.derivations,
        unresolved: walk.unresolved,
        truncated: walk.truncated,
    })
}

/// The parents named by a record's entries, with the naming entry and its kind.
type NamedParents = Vec<(EntryRef, EntryKind, Parent)>;

struct Walk {
    nodes: BTreeMap<RecordId, RecordNode>,
    parents: HashMap<RecordId, NamedParents>,
    order: Vec<RecordId>,
    derivations: Vec<Derivation>,
    unresolved: Vec<EntryRef>,
    truncated: bool,
    limits: Limits,
}

impl Walk {
    /// The parents of `record`, loading it into the answer first if it is not there yet;
    /// `None` when the answer is full.
    fn visit(
        &mut self,
        reader: &mut Reader<'_>,
        record: RecordId,
    ) -> Result<Option<NamedParents>, StoreError> {
        if let Some(parents) = self.parents.get(&record) {
            return Ok(Some(parents.clone()));
        }
        if self.nodes.len() >= self.limits.max_records {
            self.truncated = true;
            return Ok(None);
        }
        let (node, parents) = reader.record(record)?;
        self.nodes.insert(record, node);
        self.order.push(record);
        self.parents.insert(record, parents.clone());
        Ok(Some(parents))
    }

    /// Breadth-first towards the sources.
    fn up(&mut self, reader: &mut Reader<'_>, root: RecordId) -> Result<(), StoreError> {
        let mut queue = VecDeque::from([(root, 0usize)]);
        let mut expanded = std::collections::HashSet::new();
        while let Some((record, depth)) = queue.pop_front() {
            if !expanded.insert(record) {
                continue;
            }
            let Some(parents) = self.visit(reader, record)? else {
                continue;
            };
            for (via, kind, parent) in parents {
                let source = match parent {
                    Parent::Record(id) => Some(id),
                    Parent::Entry(at) => match reader.entry(&at)? {
                        Some((entry, _)) => Some(entry.record),
                        None => {
                            self.unresolved.push(at);
                            None
                        }
                    },
                };
                let Some(source) = source.filter(|s| *s != record) else {
                    continue;
                };
                self.derivations.push(Derivation {
                    from: source,
                    to: record,
                    via,
                    kind,
                });
                if depth + 1 > self.limits.max_depth {
                    self.truncated = true;
                } else {
                    queue.push_back((source, depth + 1));
                }
            }
        }
        Ok(())
    }

    /// Breadth-first towards what was derived.
    fn down(&mut self, reader: &mut Reader<'_>, root: RecordId) -> Result<(), StoreError> {
        let mut queue = VecDeque::from([(root, 0usize)]);
        let mut expanded = std::collections::HashSet::new();
        while let Some((record, depth)) = queue.pop_front() {
            if !expanded.insert(record) {
                continue;
            }
            if self.visit(reader, record)?.is_none() {
                continue;
            }
            let mut named_by: Vec<(Parent, EntryRef)> = reader
                .reads
                .store()
                .children_of(&Parent::Record(record))?
                .into_iter()
                .map(|child| (Parent::Record(record), child))
                .collect();
            for at in reader.reads.store().record_entries(&record)? {
                // Only the record's own entries (the index could name another).
                if !matches!(reader.entry(&at)?, Some((entry, _)) if entry.record == record) {
                    continue;
                }
                let parent = Parent::Entry(at);
                let children = reader.reads.store().children_of(&parent)?;
                named_by.extend(children.into_iter().map(|child| (parent, child)));
            }
            for (parent, via) in named_by {
                let Some((entry, _)) = reader.entry(&via)? else {
                    continue;
                };
                // The child must really name this parent (the index could say otherwise).
                if entry.record == record || !entry.parents.contains(&parent) {
                    continue;
                }
                self.derivations.push(Derivation {
                    from: record,
                    to: entry.record,
                    via,
                    kind: entry.kind,
                });
                if depth + 1 > self.limits.max_depth {
                    self.truncated = true;
                } else {
                    queue.push_back((entry.record, depth + 1));
                }
            }
        }
        Ok(())
    }
}
