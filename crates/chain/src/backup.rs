//! Key backups (`medchain_protocol::key_backup`): made by the author for each block it signs,
//! when its hospital has a recovery key; kept by peers for other providers' chains; trimmed of
//! erased entries' keys; and opened by a restore, which keeps only keys that open their
//! payloads.

use medchain_protocol::identity::EncryptionKey;
use medchain_protocol::key_backup::{self, BackupError, KeyBackup};
use medchain_protocol::sealed::{self, DataKey, PayloadPlace};
use medchain_protocol::{ChainId, EntryRef};
use medchain_store::{StoreError, StoreReader};

pub use crate::backup_gaps::{BackupGaps, key_backup_gaps};

use crate::author::{Author, AuthorError};
use crate::grants::Erasures;
use crate::keyring::KeyRing;
use crate::ledger::Ledger;

/// Most backups read per store page during a restore.
const RESTORE_PAGE: usize = 256;

/// What a restore from key backups did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Backups read (one per block).
    pub backups: usize,
    /// Keys restored: each opened its payload, or its payload is not held yet.
    pub restored: usize,
    /// Keys already held.
    pub already: usize,
    /// Keys left out: their payload is erased.
    pub erased: usize,
    /// Keys that do not open their payload, or backups that do not open with the recovery key.
    pub refused: usize,
    /// Keys whose payload this store does not hold yet: not restored (they cannot be checked);
    /// run the restore again once the node has fetched them.
    pub waiting: usize,
    /// Blocks of the chain with payloads for which this store holds no backup (not fetched
    /// from any peer yet, or made before the recovery key was configured).
    pub missing_backups: usize,
    /// Keys a backup held here lacks though their entries are not erased (withheld by the peer
    /// it came from).
    pub missing_keys: usize,
}

/// Why a restore stopped.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A restored key could not be wrapped under the node key.
    #[error("a restored key cannot be wrapped under the node key: {0}")]
    Wrap(sealed::SealError),
}

impl Ledger {
    /// Backs up the data keys of the block at `height` the author is writing, if its ring has a
    /// recovery key (not flushed: the block's commit is).
    pub(crate) fn back_up_keys(
        &mut self,
        author: &Author,
        height: u64,
        keys: &[(u32, DataKey)],
    ) -> Result<(), AuthorError> {
        let Some(recovery) = author.keys().recovery_key() else {
            return Ok(());
        };
        if keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<(u32, &DataKey)> = keys.iter().map(|(i, k)| (*i, k)).collect();
        let backup = key_backup::back_up(
            author.keys().rng(),
            &recovery,
            author.member_key(),
            (author.chain(), height),
            &keys,
        )
        .map_err(AuthorError::Backup)?;
        self.store
            .put_key_backups(&[(author.chain(), height, backup.encode())])?;
        Ok(())
    }

    /// Keeps backups a peer sent, checked by [`check_key_backups`] (outside the ledger's lock):
    /// a held copy is replaced only by one holding every key it holds, and more. Flushed.
    /// Returns how many were kept.
    pub fn keep_key_backups(&mut self, checked: CheckedBackups) -> Result<usize, StoreError> {
        let chain = checked.chain;
        let mut backups = checked.backups;
        // Blocks committed since the check (under this lock none can): one may erase.
        if self.store().head(&chain)?.map(|h| h.height) != checked.head {
            let erasures = Erasures::of_chain(self.store(), &chain)?;
            let mut trimmed = Vec::with_capacity(backups.len());
            for backup in &backups {
                trimmed.extend(trim_erased(self.store(), &erasures, backup)?);
            }
            backups = trimmed;
        }
        let mut kept: Vec<(ChainId, u64, Vec<u8>)> = Vec::new();
        for backup in &backups {
            // Every copy a node keeps is signed and every key in it checked, so a copy holding
            // more keys than ours may only be more complete: a peer can withhold keys, not
            // alter them. Only a copy that holds every key ours holds, and more: a peer must not
            // be able to swap ours for one missing keys we still need.
            let held = self
                .store()
                .key_backups_from(&chain, backup.height, 1)?
                .into_iter()
                .find(|(h, _)| *h == backup.height)
                .and_then(|(_, bytes)| KeyBackup::decode(&bytes).ok());
            let more_complete = |held: &KeyBackup| {
                let has = |copy: &KeyBackup, index: u32| {
                    copy.keys
                        .iter()
                        .any(|k| k.index == index && k.wrapped.is_some())
                };
                backup.held_keys() > held.held_keys()
                    && held
                        .keys
                        .iter()
                        .filter(|k| k.wrapped.is_some())
                        .all(|k| has(backup, k.index))
            };
            if held.is_none_or(|h| more_complete(&h)) {
                kept.push((chain, backup.height, backup.encode()));
            }
        }
        if kept.is_empty() {
            return Ok(0);
        }
        self.store.put_key_backups(&kept)?;
        self.store.flush()?;
        Ok(kept.len())
    }

    /// Removes the keys of erased entries from the backups held of their blocks, flushed.
    pub fn drop_backed_up_keys(&mut self, erased: &[EntryRef]) -> Result<(), StoreError> {
        let mut rewritten = Vec::new();
        let mut blocks: Vec<(ChainId, u64)> =
            erased.iter().map(|at| (at.chain, at.height)).collect();
        blocks.sort_unstable();
        blocks.dedup();
        for (chain, height) in blocks {
            let Some((_, bytes)) = self
                .store()
                .key_backups_from(&chain, height, 1)?
                .into_iter()
                .find(|(h, _)| *h == height)
            else {
                continue;
            };
            let Ok(backup) = KeyBackup::decode(&bytes) else {
                continue;
            };
            let indexes: Vec<u32> = erased
                .iter()
                .filter(|at| at.chain == chain && at.height == height)
                .map(|at| at.index)
                .collect();
            let trimmed = backup.without(&indexes);
            if trimmed.held_keys() != backup.held_keys() {
                rewritten.push((chain, height, trimmed.encode()));
            }
        }
        if rewritten.is_empty() {
            return Ok(());
        }
        self.store.put_key_backups(&rewritten)?;
        self.store.flush()
    }

    /// Restores the data keys of `chain` (our own) from the backups this store holds, opened
    /// with the hospital's recovery key: each key is kept (wrapped under the node key) only if
    /// it opens its payload (a key whose payload is not held yet is left for a later restore);
    /// erased entries' keys are left out.
    pub fn restore_from_backups(
        &mut self,
        keys: &KeyRing,
        recovery: &EncryptionKey,
        chain: &ChainId,
    ) -> Result<Restored, RestoreError> {
        let mut done = Restored::default();
        let erasures = Erasures::of_chain(self.store(), chain)?;
        let mut from = 0;
        loop {
            let page = self.store().key_backups_from(chain, from, RESTORE_PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            let next = last.checked_add(1);
            let mut wrapped = Vec::new();
            for (height, bytes) in page {
                done.backups += 1;
                let opened = KeyBackup::decode(&bytes).map_err(|_| ()).and_then(|b| {
                    let opened = b.open(recovery).map_err(|_: BackupError| ())?;
                    Ok((b, opened))
                });
                let Ok((backup, opened)) = opened else {
                    done.refused += 1;
                    continue;
                };
                let Some(block) = self.store().block_at(chain, height)? else {
                    done.refused += opened.len();
                    continue;
                };
                // Keys this copy no longer holds: erased ones are expected; any other was
                // withheld by the peer it came from, and is missing.
                for withheld in backup.keys.iter().filter(|k| k.wrapped.is_none()) {
                    let at = EntryRef {
                        chain: *chain,
                        height,
                        index: withheld.index,
                    };
                    match block.entries.get(withheld.index as usize) {
                        Some(entry) if erasures.erased(&at, entry) => done.erased += 1,
                        _ => done.missing_keys += 1,
                    }
                }
                for (at, key) in opened {
                    let (Some(entry), Ok(key)) = (block.entries.get(at.index as usize), key) else {
                        done.refused += 1;
                        continue;
                    };
                    if erasures.erased(&at, entry) {
                        done.erased += 1;
                        continue;
                    }
                    if self.store().data_key(&at)?.is_some() {
                        done.already += 1;
                        continue;
                    }
                    let Some(reference) = &entry.payload else {
                        done.refused += 1;
                        continue;
                    };
                    let bytes = match self.store().payload(&reference.hash) {
                        Ok(Some(bytes)) => bytes,
                        // Not fetched yet (or damaged, to be fetched again): the key cannot be
                        // checked, so it is not kept.
                        Ok(None) => {
                            done.waiting += 1;
                            continue;
                        }
                        Err(e) if e.is_corruption() => {
                            done.waiting += 1;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let place = PayloadPlace {
                        at,
                        record: entry.record,
                        content_type: &reference.content_type,
                    };
                    let opens = sealed::open_payload(&key, &place, &bytes).is_ok();
                    if !opens {
                        done.refused += 1;
                        continue;
                    }
                    wrapped.push((at, keys.wrap(&at, &key).map_err(RestoreError::Wrap)?));
                    done.restored += 1;
                }
            }
            self.store.put_data_keys(&wrapped)?;
            match next {
                Some(next) => from = next,
                None => break,
            }
        }
        self.store.flush()?;
        done.missing_backups = self.blocks_without_backup(chain)?;
        Ok(done)
    }

    /// How many blocks of `chain` with payloads have no key backup here.
    fn blocks_without_backup(&self, chain: &ChainId) -> Result<usize, StoreError> {
        let mut missing = 0;
        crate::backup_gaps::walk_blocks_without_backup(self.store(), chain, 0, |_| {
            missing += 1;
            true
        })?;
        Ok(missing)
    }
}

/// Key backups a peer sent of one chain, checked and trimmed: made only by
/// [`check_key_backups`], kept by [`Ledger::keep_key_backups`].
#[derive(Debug)]
pub struct CheckedBackups {
    chain: ChainId,
    /// The chain's head height when they were checked: an erase committed since means
    /// trimming them again.
    head: Option<u64>,
    backups: Vec<KeyBackup>,
}

/// Checks backups a peer sent of `chain`, reading the store only (no lock needed): kept are
/// well-formed ones of that chain, signed by the chain's key (every key checked against its
/// signed digest), for heights this store holds, one per height, each trimmed of the keys of
/// entries erased here (a peer that has not trimmed its copy yet, or will not, must not bring
/// an erased key back; their digests stay, so the signature still holds).
pub fn check_key_backups(
    store: &StoreReader,
    chain: &ChainId,
    backups: &[KeyBackup],
) -> Result<CheckedBackups, StoreError> {
    let head = store.head(chain)?;
    let mut checked = CheckedBackups {
        chain: *chain,
        head: head.as_ref().map(|h| h.height),
        backups: Vec::new(),
    };
    let Some(owner) = crate::reads::Reads::new(store.clone()).owner_key(chain)? else {
        return Ok(checked);
    };
    let Some(head) = head else {
        return Ok(checked);
    };
    // Read after the head: an erase that commits in between is seen, or moves the head.
    let erasures = Erasures::of_chain(store, chain)?;
    for backup in backups {
        if backup.chain != *chain
            || backup.height > head.height
            || checked.backups.iter().any(|b| b.height == backup.height)
            || !backup.is_well_formed()
            || !backup.is_signed_by(&owner)
        {
            continue;
        }
        if let Some(trimmed) = trim_erased(store, &erasures, backup)? {
            checked.backups.push(trimmed);
        }
    }
    Ok(checked)
}

/// `backup` without the keys of entries `erasures` erases; `None` when its block is not held.
fn trim_erased(
    store: &StoreReader,
    erasures: &Erasures,
    backup: &KeyBackup,
) -> Result<Option<KeyBackup>, StoreError> {
    if erasures.is_empty() {
        return Ok(Some(backup.clone()));
    }
    let Some(block) = store.block_at(&backup.chain, backup.height)? else {
        return Ok(None);
    };
    let erased: Vec<u32> = backup
        .keys
        .iter()
        .filter(|k| k.wrapped.is_some())
        .filter(|k| {
            let at = block.entry_ref(k.index);
            block
                .entries
                .get(k.index as usize)
                .is_some_and(|entry| erasures.erased(&at, entry))
        })
        .map(|k| k.index)
        .collect();
    Ok(Some(if erased.is_empty() {
        backup.clone()
    } else {
        backup.without(&erased)
    }))
}
