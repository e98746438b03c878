//! The store's sled trees: their names and one handle on each (the layout is in the crate
//! documentation).

/// Tree names, also used in [`crate::Corruption::BadIndexValue`].
pub(crate) mod name {
    pub(crate) const BLOCKS: &str = "blocks";
    pub(crate) const CHAIN_INDEX: &str = "chain_index";
    pub(crate) const HEADS: &str = "heads";
    pub(crate) const PAYLOAD_INDEX: &str = "payload_index";
    pub(crate) const RECORDS: &str = "records";
    pub(crate) const PATIENTS: &str = "patients";
    pub(crate) const PROV_DOWN: &str = "prov_down";
    pub(crate) const CERTIFICATES: &str = "certificates";
    pub(crate) const EVIDENCE: &str = "evidence";
    pub(crate) const QUARANTINE: &str = "quarantine";
    pub(crate) const QUARANTINE_EVENTS: &str = "quarantine_events";
    pub(crate) const REPORTS: &str = "reports";
    pub(crate) const META: &str = "meta";
    pub(crate) const STRAY: &str = "stray";
    pub(crate) const ACCESSES: &str = "accesses";
    pub(crate) const DATA_KEYS: &str = "data_keys";
    pub(crate) const TERMS: &str = "terms";
    pub(crate) const KEY_BACKUPS: &str = "key_backups";
}

/// Every tree's name, in the order of the layout table.
pub(crate) const TREE_NAMES: [&str; 18] = [
    name::BLOCKS,
    name::CHAIN_INDEX,
    name::HEADS,
    name::PAYLOAD_INDEX,
    name::RECORDS,
    name::PATIENTS,
    name::PROV_DOWN,
    name::CERTIFICATES,
    name::EVIDENCE,
    name::QUARANTINE,
    name::QUARANTINE_EVENTS,
    name::REPORTS,
    name::META,
    name::STRAY,
    name::ACCESSES,
    name::DATA_KEYS,
    name::TERMS,
    name::KEY_BACKUPS,
];

/// Every tree of the store (see the layout in the crate documentation).
pub(crate) struct Trees {
    pub(crate) blocks: sled::Tree,
    pub(crate) chain_index: sled::Tree,
    pub(crate) heads: sled::Tree,
    pub(crate) payload_index: sled::Tree,
    pub(crate) records: sled::Tree,
    pub(crate) patients: sled::Tree,
    pub(crate) prov_down: sled::Tree,
    pub(crate) certificates: sled::Tree,
    pub(crate) evidence: sled::Tree,
    pub(crate) quarantine: sled::Tree,
    pub(crate) quarantine_events: sled::Tree,
    pub(crate) reports: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) stray: sled::Tree,
    pub(crate) accesses: sled::Tree,
    pub(crate) data_keys: sled::Tree,
    pub(crate) terms: sled::Tree,
    pub(crate) key_backups: sled::Tree,
}

impl Trees {
    pub(crate) fn open(db: &sled::Db) -> sled::Result<Self> {
        Ok(Self {
            blocks: db.open_tree(name::BLOCKS)?,
            chain_index: db.open_tree(name::CHAIN_INDEX)?,
            heads: db.open_tree(name::HEADS)?,
            payload_index: db.open_tree(name::PAYLOAD_INDEX)?,
            records: db.open_tree(name::RECORDS)?,
            patients: db.open_tree(name::PATIENTS)?,
            prov_down: db.open_tree(name::PROV_DOWN)?,
            certificates: db.open_tree(name::CERTIFICATES)?,
            evidence: db.open_tree(name::EVIDENCE)?,
            quarantine: db.open_tree(name::QUARANTINE)?,
            quarantine_events: db.open_tree(name::QUARANTINE_EVENTS)?,
            reports: db.open_tree(name::REPORTS)?,
            meta: db.open_tree(name::META)?,
            stray: db.open_tree(name::STRAY)?,
            accesses: db.open_tree(name::ACCESSES)?,
            data_keys: db.open_tree(name::DATA_KEYS)?,
            terms: db.open_tree(name::TERMS)?,
            key_backups: db.open_tree(name::KEY_BACKUPS)?,
        })
    }

    /// The tree called `tree` (one of the names in [`name`]); `meta` for an unknown name.
    pub(crate) fn by_name(&self, tree: &str) -> &sled::Tree {
        match tree {
            name::BLOCKS => &self.blocks,
            name::CHAIN_INDEX => &self.chain_index,
            name::HEADS => &self.heads,
            name::PAYLOAD_INDEX => &self.payload_index,
            name::RECORDS => &self.records,
            name::PATIENTS => &self.patients,
            name::PROV_DOWN => &self.prov_down,
            name::CERTIFICATES => &self.certificates,
            name::EVIDENCE => &self.evidence,
            name::QUARANTINE => &self.quarantine,
            name::QUARANTINE_EVENTS => &self.quarantine_events,
            name::REPORTS => &self.reports,
            name::STRAY => &self.stray,
            name::ACCESSES => &self.accesses,
            name::DATA_KEYS => &self.data_keys,
            name::TERMS => &self.terms,
            name::KEY_BACKUPS => &self.key_backups,
            _ => &self.meta,
        }
    }
}
