//! Key backups, one per block: this node's own (made when it authored the block) and those of
//! other providers' chains that it keeps for them, off chain. Opaque here: making and opening
//! them is `medchain_protocol::key_backup`'s, with keys this node may not hold.

use medchain_protocol::ChainId;

use crate::error::{EngineResult, StoreError, bad};
use crate::keys::{decode_height_key, height_key};
use crate::open::{Store, StoreReader, name};

impl Store {
    /// Stores encoded key backups (chain, height, bytes), replacing any held for that block; no
    /// flush (the commit of the block they belong to, or [`Store::flush`], makes them durable).
    pub fn put_key_backups(
        &mut self,
        backups: &[(ChainId, u64, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (chain, height, bytes) in backups {
            batch.insert(&height_key(chain, *height)[..], bytes.as_slice());
        }
        self.trees().key_backups.apply_batch(batch).engine()
    }
}

impl StoreReader {
    /// At most `limit` encoded backups of `chain` from height `from`, ascending.
    pub fn key_backups_from(
        &self,
        chain: &ChainId,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let range = height_key(chain, from)..=height_key(chain, u64::MAX);
        for item in self.trees().key_backups.range(range).take(limit) {
            let (key, value) = item.engine()?;
            let (_, height) =
                decode_height_key(&key).ok_or_else(|| bad(name::KEY_BACKUPS, &key))?;
            out.push((height, value.to_vec()));
        }
        Ok(out)
    }

    /// The heights in `heights` of `chain` with a backup held (keys only: no backup is read).
    pub fn key_backup_heights(
        &self,
        chain: &ChainId,
        heights: std::ops::RangeInclusive<u64>,
    ) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        let range = height_key(chain, *heights.start())..=height_key(chain, *heights.end());
        let mut out = std::collections::BTreeSet::new();
        for key in self.trees().key_backups.range(range).keys() {
            let key = key.engine()?;
            let (_, height) =
                decode_height_key(&key).ok_or_else(|| bad(name::KEY_BACKUPS, &key))?;
            out.insert(height);
        }
        Ok(out)
    }

    /// The height of the last backup held of `chain`.
    pub fn last_key_backup(&self, chain: &ChainId) -> Result<Option<u64>, StoreError> {
        let range = height_key(chain, 0)..=height_key(chain, u64::MAX);
        match self.trees().key_backups.range(range).next_back() {
            None => Ok(None),
            Some(item) => {
                let (key, _) = item.engine()?;
                let (_, height) =
                    decode_height_key(&key).ok_or_else(|| bad(name::KEY_BACKUPS, &key))?;
                Ok(Some(height))
            }
        }
    }

    /// How many backups of `chain` are held.
    pub fn key_backup_count(&self, chain: &ChainId) -> usize {
        self.trees()
            .key_backups
            .scan_prefix(chain.as_bytes())
            .count()
    }
}
