//! Reads that serve only what a chain's key signed.
//!
//! The store's checked reads re-hash every block against its key and its entries against the
//! header's root, but the signature is outside the header hash: an attacker with the files can
//! rewrite a block's entries, recompute the root and the hash, store it under the new hash and
//! point the chain index at it, and the checked read passes. The verifier's next scan finds it;
//! until then, [`Reads`] checks the signature of every block it serves against the key that
//! owns the block's chain (the chain ID is the hash of that key, so no certificate can lie
//! about it), once per block: verified hashes are remembered, so a record read twice costs one
//! Ed25519 verification in all. A block that fails is `Corrupt(Forged)`, never data.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use medchain_protocol::identity::public_key_of;
use medchain_protocol::{Block, BlockHash, ChainId};
use medchain_store::{Corruption, StoreError, StoreReader};

/// Most block hashes remembered as verified (about 32 bytes each); the set is cleared when
/// full, costing one verification per block read again.
const MAX_REMEMBERED_BLOCKS: usize = 1 << 16;
/// Most chain keys remembered (one per provider).
const MAX_REMEMBERED_KEYS: usize = 4096;

/// Signature-checked reads over a store reader; cheap to share (`Sync`).
#[derive(Debug)]
pub struct Reads {
    store: StoreReader,
    keys: Mutex<HashMap<ChainId, [u8; 32]>>,
    signed: Mutex<HashSet<BlockHash>>,
}

impl Reads {
    /// Reads over `store`.
    pub fn new(store: StoreReader) -> Self {
        Self {
            store,
            keys: Mutex::default(),
            signed: Mutex::default(),
        }
    }

    /// The store, for index lookups (whose answers are checked against the blocks read here).
    pub fn store(&self) -> &StoreReader {
        &self.store
    }

    /// The block at (chain, height), checked by the store (hash, entries root, index) and here
    /// (signed by the chain's key).
    pub fn block_at(&self, chain: &ChainId, height: u64) -> Result<Option<Block>, StoreError> {
        let Some(block) = self.store.block_at(chain, height)? else {
            return Ok(None);
        };
        self.check_signed(&block)?;
        Ok(Some(block))
    }

    /// Consecutive blocks from `from` (at most `limit`), each checked as by
    /// [`Reads::block_at`].
    pub fn blocks_range(
        &self,
        chain: &ChainId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Block>, StoreError> {
        let blocks = self.store.blocks_range(chain, from, limit)?;
        for block in &blocks {
            self.check_signed(block)?;
        }
        Ok(blocks)
    }

    /// The public key that owns `chain` (whose hash the chain ID is), from the certificate of
    /// the chain's head block held here; `None` when no block of it is held.
    pub fn owner_key(&self, chain: &ChainId) -> Result<Option<[u8; 32]>, StoreError> {
        if let Some(key) = lock(&self.keys).get(chain) {
            return Ok(Some(*key));
        }
        let Some(head) = self.store.head(chain)? else {
            return Ok(None);
        };
        match self.store.block_at(chain, head.height)? {
            Some(block) => self.chain_key(&block),
            None => Ok(None),
        }
    }

    /// `Corrupt(Forged)` unless `block` is signed by the key that owns its chain.
    fn check_signed(&self, block: &Block) -> Result<(), StoreError> {
        let hash = block.hash();
        if lock(&self.signed).contains(&hash) {
            return Ok(());
        }
        let header = &block.header;
        let forged = || Corruption::Forged {
            chain: header.chain,
            height: header.height,
        };
        let key = self.chain_key(block)?.ok_or_else(forged)?;
        if !block.verify_signature(&key) {
            return Err(forged().into());
        }
        let mut signed = lock(&self.signed);
        if signed.len() >= MAX_REMEMBERED_BLOCKS {
            signed.clear();
        }
        signed.insert(hash);
        Ok(())
    }

    /// The certificate `block` was signed under: the one it carries, or the one its header names
    /// (held in the store by its hash); `None` if neither.
    pub fn certificate_of(&self, block: &Block) -> Result<Option<Vec<u8>>, StoreError> {
        match &block.certificate {
            Some(der) => Ok(Some(der.clone())),
            None => self.store.certificate(&block.header.cert),
        }
    }

    /// The public key owning `block`'s chain, from the certificate the block carries or names
    /// (held in the store): `None` if that certificate's key is not the chain's.
    fn chain_key(&self, block: &Block) -> Result<Option<[u8; 32]>, StoreError> {
        let chain = block.header.chain;
        if let Some(key) = lock(&self.keys).get(&chain) {
            return Ok(Some(*key));
        }
        let Some(der) = self.certificate_of(block)? else {
            return Ok(None);
        };
        let Some(key) = public_key_of(&der).filter(|k| ChainId::from_public_key(k) == chain) else {
            return Ok(None);
        };
        let mut keys = lock(&self.keys);
        if keys.len() >= MAX_REMEMBERED_KEYS {
            keys.clear();
        }
        keys.insert(chain, key);
        Ok(Some(key))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these leaves a cache, which is only ever added to: take it over.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
