//! Reads of blocks, heads, the chain index, payloads and certificates.
//!
//! Every block read decodes the stored bytes, recomputes the header hash and compares it with the
//! key, and recomputes the entries' Merkle root against the header: sled 0.34 has known reports
//! of corruption after an abrupt kill, and an attacker with access to the files can edit them
//! (the paper's scenario 2). A mismatch is `StoreError::Corrupt`, never wrong data. What these
//! checks do not cover: the signature and the carried certificate are outside the header hash;
//! the chain crate's verifier re-checks those against the signer's certificate.

use medchain_protocol::{Block, BlockHash, CertHash, ChainHead, ChainId, PayloadHash, merkle};

use crate::error::{Corruption, EngineResult, StoreError, bad};
use crate::keys;
use crate::open::{StoreReader, name};

/// Decodes and checks the bytes stored under `key`.
pub(crate) fn checked_block(key: &BlockHash, bytes: &[u8]) -> Result<Block, Corruption> {
    let block = Block::decode(bytes).map_err(|_| Corruption::UndecodableBlock { key: *key })?;
    let actual = block.hash();
    if actual != *key {
        return Err(Corruption::BlockHashMismatch { key: *key, actual });
    }
    if merkle::root(&block.entry_hashes()) != block.header.entries_root {
        return Err(Corruption::EntriesRootMismatch { key: *key });
    }
    Ok(block)
}

impl StoreReader {
    /// The head of `chain`: its highest committed block.
    pub fn head(&self, chain: &ChainId) -> Result<Option<ChainHead>, StoreError> {
        let Some(value) = self.trees().heads.get(chain.as_bytes()).engine()? else {
            return Ok(None);
        };
        let (height, hash) =
            keys::decode_head_value(&value).ok_or_else(|| bad(name::HEADS, chain.as_bytes()))?;
        Ok(Some(ChainHead {
            chain: *chain,
            height,
            hash,
        }))
    }

    /// The height the next block of `chain` takes here: one above its head, 0 if we hold none
    /// of it.
    pub fn next_height(&self, chain: &ChainId) -> Result<u64, StoreError> {
        Ok(self
            .head(chain)?
            .map_or(0, |head| head.height.saturating_add(1)))
    }

    /// The head of every chain held, sorted by chain. Head records of the wrong shape are
    /// passed over, not an error: one planted value must not make every listing fail (the
    /// verifier names them as stray entries, and scans the chain from its index).
    pub fn heads(&self) -> Result<Vec<ChainHead>, StoreError> {
        let mut heads = Vec::new();
        for item in self.trees().heads.iter() {
            let (key, value) = item.engine()?;
            if let (Some(chain), Some((height, hash))) =
                (keys::hash32(&key), keys::decode_head_value(&value))
            {
                heads.push(ChainHead {
                    chain: ChainId(chain),
                    height,
                    hash,
                });
            }
        }
        Ok(heads)
    }

    /// Every chain the chain index holds an entry of, sorted: one seek per chain, not a walk
    /// over every height.
    pub fn indexed_chains(&self) -> Result<Vec<ChainId>, StoreError> {
        let tree = &self.trees().chain_index;
        let mut chains = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        loop {
            let Some(item) = tree.range(from.as_slice()..).next() else {
                return Ok(chains);
            };
            let (key, _) = item.engine()?;
            match key.get(..keys::HASH_LEN).and_then(keys::hash32) {
                Some(prefix) => {
                    chains.push(ChainId(prefix));
                    // Every key of this chain sorts below the next 32-byte prefix.
                    match next_prefix(prefix) {
                        Some(next) => from = next.to_vec(),
                        None => return Ok(chains),
                    }
                }
                None => {
                    // A key shorter than a chain ID (stray): the smallest key after it.
                    from = key.to_vec();
                    from.push(0);
                }
            }
        }
    }

    /// The chain index of one chain as the verifier walks it, ascending: each height with its
    /// block hash, or `None` where the value is malformed (the height is damaged). Keys of the
    /// wrong length under the chain's prefix are passed over (stray entries). The second value
    /// is the engine error that cut the walk short, if sled could not read on: the heights
    /// above the last one returned are then unreadable.
    pub fn chain_index_entries(
        &self,
        chain: &ChainId,
    ) -> (Vec<(u64, Option<BlockHash>)>, Option<StoreError>) {
        let mut index = Vec::new();
        for item in self.trees().chain_index.scan_prefix(chain.as_bytes()) {
            let (key, value) = match item.engine() {
                Ok(pair) => pair,
                Err(error) => return (index, Some(error)),
            };
            if let Some((_, height)) = keys::decode_height_key(&key) {
                index.push((height, keys::hash32(&value).map(BlockHash)));
            }
        }
        (index, None)
    }

    /// The hash the chain index holds for (chain, height), unchecked against the block.
    pub fn block_hash_at(
        &self,
        chain: &ChainId,
        height: u64,
    ) -> Result<Option<BlockHash>, StoreError> {
        let key = keys::height_key(chain, height);
        let Some(value) = self.trees().chain_index.get(key).engine()? else {
            return Ok(None);
        };
        let hash = keys::hash32(&value).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
        Ok(Some(BlockHash(hash)))
    }

    /// The block stored under `hash`, checked (hash and entries root).
    pub fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        match self.raw_block_bytes(hash)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(checked_block(hash, &bytes)?)),
        }
    }

    /// The block at (chain, height) via the chain index, checked; `Corrupt(IndexMismatch)` or
    /// `Corrupt(MissingBlock)` if the index and the block disagree.
    pub fn block_at(&self, chain: &ChainId, height: u64) -> Result<Option<Block>, StoreError> {
        match self.block_hash_at(chain, height)? {
            None => Ok(None),
            Some(hash) => self.indexed_block(chain, height, &hash).map(Some),
        }
    }

    /// The block the chain index names for (chain, height), which must be stored and sit there.
    fn indexed_block(
        &self,
        chain: &ChainId,
        height: u64,
        hash: &BlockHash,
    ) -> Result<Block, StoreError> {
        let block = self.block(hash)?.ok_or(Corruption::MissingBlock {
            chain: *chain,
            height,
            hash: *hash,
        })?;
        if block.header.chain != *chain || block.header.height != height {
            return Err(Corruption::IndexMismatch {
                chain: *chain,
                height,
                hash: *hash,
                actual_chain: block.header.chain,
                actual_height: block.header.height,
            }
            .into());
        }
        Ok(block)
    }

    /// Consecutive blocks from `from`, at most `limit`, stopping at the first missing height.
    /// Each is checked as by [`Store::block_at`]; one bad block fails the whole call.
    pub fn blocks_range(
        &self,
        chain: &ChainId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Block>, StoreError> {
        let mut blocks = Vec::with_capacity(limit.min(256) as usize);
        let start = keys::height_key(chain, from);
        let end = keys::height_key(chain, u64::MAX);
        let mut expected = from;
        for item in self.trees().chain_index.range(start..=end) {
            if blocks.len() >= limit as usize {
                break;
            }
            let (key, value) = item.engine()?;
            let (_, height) =
                keys::decode_height_key(&key).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
            if height != expected {
                break;
            }
            let hash = keys::hash32(&value).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
            blocks.push(self.indexed_block(chain, height, &BlockHash(hash))?);
            match expected.checked_add(1) {
                Some(next) => expected = next,
                None => break,
            }
        }
        Ok(blocks)
    }

    /// Raw stored bytes of a block, unchecked (for the verifier's diagnostics and forensics).
    pub fn raw_block_bytes(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self.trees().blocks.get(hash.as_bytes()).engine()?;
        Ok(value.map(|v| v.to_vec()))
    }

    /// The chain index of one chain, ascending: (height, hash) pairs exactly as stored.
    pub fn chain_index(&self, chain: &ChainId) -> Result<Vec<(u64, BlockHash)>, StoreError> {
        let mut index = Vec::new();
        for item in self.trees().chain_index.scan_prefix(chain.as_bytes()) {
            let (key, value) = item.engine()?;
            let (_, height) =
                keys::decode_height_key(&key).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
            let hash = keys::hash32(&value).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
            index.push((height, BlockHash(hash)));
        }
        Ok(index)
    }

    /// The first height in `from..=to` of `chain` the chain index holds nothing at (keys only,
    /// no block is read); `None` if every height is indexed.
    pub fn first_unindexed(
        &self,
        chain: &ChainId,
        from: u64,
        to: u64,
    ) -> Result<Option<u64>, StoreError> {
        let range = keys::height_key(chain, from)..=keys::height_key(chain, to);
        let mut expected = from;
        for item in self.trees().chain_index.range(range) {
            let (key, _) = item.engine()?;
            let (_, height) =
                keys::decode_height_key(&key).ok_or_else(|| bad(name::CHAIN_INDEX, &key))?;
            if height != expected {
                return Ok(Some(expected));
            }
            if height == to {
                return Ok(None);
            }
            expected = height + 1;
        }
        Ok(Some(expected))
    }

    /// The payloads the blocks of `chain` from height `from` (at most `limit` blocks) reference
    /// and this store does not hold, each once, in the order the entries name them.
    pub fn missing_payloads(
        &self,
        chain: &ChainId,
        from: u64,
        limit: u32,
    ) -> Result<Vec<PayloadHash>, StoreError> {
        let blocks = self.blocks_range(chain, from, limit)?;
        let mut missing = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for entry in blocks.iter().flat_map(|b| &b.entries) {
            if let Some(p) = &entry.payload
                && seen.insert(p.hash)
                && !self.has_payload(&p.hash)?
            {
                missing.push(p.hash);
            }
        }
        Ok(missing)
    }

    /// A member certificate (DER) by hash, as carried by a block. Checked: bytes that do not hash
    /// to the key are `Corrupt(BadIndexValue)` in tree `certificates`.
    pub fn certificate(&self, hash: &CertHash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(value) = self.trees().certificates.get(hash.as_bytes()).engine()? else {
            return Ok(None);
        };
        if CertHash::of(&value) != *hash {
            return Err(bad(name::CERTIFICATES, hash.as_bytes()));
        }
        Ok(Some(value.to_vec()))
    }
}

/// The 32-byte value right after `prefix` (as a big-endian number); `None` after all 0xff.
fn next_prefix(mut prefix: [u8; 32]) -> Option<[u8; 32]> {
    for byte in prefix.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(prefix);
        }
    }
    None
}
