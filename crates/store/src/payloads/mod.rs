//! The payload store: payload bytes in append-only segment files beside the database (the
//! default), or in S3-compatible object storage (`objects`), their locations in sled's
//! `payload_index` tree either way, so whether a payload is held is a local question.
//!
//! Payloads are most of what a node writes (1 KiB records against a few dozen bytes of index
//! per entry), and in sled's B-tree they made every leaf heavy to copy on each write and filled
//! its cache (docs/performance.md). Here they are appended to segment files (`segments`), synced,
//! and only then is their location (17 bytes) written to sled, so no location ever names bytes
//! that are not durable, and the block that references a payload commits after it (the ledger
//! stores payloads before their block).
//!
//! `payload_index`: payload hash (32) → location: kind 0 (a segment frame) ‖ segment u32 BE ‖
//! frame offset u64 BE ‖ payload length u32 BE (17 bytes), or kind 1 (an object of its own,
//! named by the hash) ‖ payload length u32 BE (5 bytes). An object holds the same frame as a
//! segment does. Every read checks the frame's
//! header (hash and length) against the index and the bytes against the hash; anything else is
//! [`Corruption::PayloadUnreadable`] or [`Corruption::PayloadHashMismatch`], which the node
//! repairs by fetching the payload from a peer again.
//!
//! Erasing a payload overwrites its frame with zeros in place (synced), then removes its
//! location; storing a payload again over a held copy (a repair) zeroes the old frame once the
//! new location is durable. So no frame an erased payload was indexed at keeps its ciphertext.
//! Zeroed frames keep their space until their segment is compacted (`compaction`). An erased
//! payload's object is deleted; a repaired one is put again under the same name.
//!
//! A store opened with an object store writes new payloads there and still reads those its
//! segments hold (a node switched to the object backend keeps its old payloads where they are);
//! a store with object locations opened without one fails those reads with
//! [`StoreError::ObjectStore`], not as damage.

pub(crate) mod compaction;
mod location;
pub(crate) mod migrate;
pub(crate) mod objects;
mod pass;

pub use pass::PayloadPass;
pub(crate) mod segments;

pub(crate) use location::{Location, Stored};
use medchain_protocol::PayloadHash;
use sled::IVec;

use crate::error::{Corruption, EngineResult, StoreError};
use crate::open::{Store, StoreReader};
use crate::write::MAX_WRITES_PER_TRANSACTION;
use segments::FRAME_HEADER_BYTES;

/// The frame of a payload: hash ‖ length BE ‖ payload (as in a segment).
pub(crate) fn frame_of(hash: &PayloadHash, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES as usize + payload.len());
    segments::frame(hash, payload, &mut frame);
    frame
}

/// Damage to a stored payload, as the store reports it.
pub(crate) fn unreadable(key: PayloadHash, detail: impl Into<String>) -> StoreError {
    Corruption::PayloadUnreadable {
        key,
        detail: detail.into(),
    }
    .into()
}

/// Damage to a payload whose object the bucket (still holding this store's marker) lacks.
pub(crate) fn missing_object(key: PayloadHash) -> StoreError {
    unreadable(key, "its object is missing from the object store")
}

/// Checks a frame read at `location` for `hash`: its header names `hash` and the indexed length,
/// and the payload hashes to `hash`; otherwise the damage.
pub(crate) fn check_frame(
    hash: &PayloadHash,
    location: &Stored,
    frame: &[u8],
) -> Result<(), StoreError> {
    let header = FRAME_HEADER_BYTES as usize;
    if frame.len() < location.frame_len() {
        return Err(unreadable(*hash, "frame cut short"));
    }
    if frame.len() > location.frame_len() {
        return Err(unreadable(*hash, "frame longer than its location says"));
    }
    if frame[..32] != hash.as_bytes()[..] || frame[32..header] != location.len().to_be_bytes() {
        return Err(unreadable(
            *hash,
            format!("the frame at {} is not this payload's", location.describe()),
        ));
    }
    let actual = PayloadHash::of(&frame[header..]);
    if actual != *hash {
        return Err(Corruption::PayloadHashMismatch { key: *hash, actual }.into());
    }
    Ok(())
}

impl StoreReader {
    /// Where the payload `hash` is, if it is held. A malformed location is damage to that payload.
    pub(crate) fn payload_location(
        &self,
        hash: &PayloadHash,
    ) -> Result<Option<Stored>, StoreError> {
        let Some(value) = self.trees().payload_index.get(hash.as_bytes()).engine()? else {
            return Ok(None);
        };
        self.decode_location(&value)
            .map(Some)
            .ok_or_else(|| unreadable(*hash, "malformed location in payload_index"))
    }

    /// A `payload_index` value as a location, `None` if malformed: including an object location
    /// in a store that never had an object store (planted, so damage to be repaired, rather
    /// than a configuration error that would stop every scan).
    pub(crate) fn decode_location(&self, value: &[u8]) -> Option<Stored> {
        Stored::decode(value)
            .filter(|stored| self.inner.objects_ever || !matches!(stored, Stored::Object { .. }))
    }

    /// The frame at `location`, unchecked (`check_frame` checks it).
    pub(crate) fn read_frame(
        &self,
        hash: &PayloadHash,
        location: &Stored,
    ) -> Result<Vec<u8>, StoreError> {
        match location {
            Stored::Segment(location) => self
                .inner
                .segments
                .read(
                    location.frame.segment,
                    location.frame.offset,
                    location.frame_len(),
                )?
                .map_err(|why| unreadable(*hash, why)),
            Stored::Object { .. } => self
                .read_objects(&[(*hash, *location)])?
                .pop()
                .flatten()
                .ok_or_else(|| missing_object(*hash)),
        }
    }

    /// The objects of `wanted` (at most a frame's length and one byte of each), `None` for one
    /// not there. Fails if no object store is configured: the locations are not damage, the
    /// configuration is wrong.
    pub(crate) fn read_objects(
        &self,
        wanted: &[(PayloadHash, Stored)],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let lengths: Vec<_> = wanted
            .iter()
            .map(|(hash, location)| (*hash, location.frame_len()))
            .collect();
        self.objects()?.get(&lengths)
    }

    /// The object store, or the error of a store opened without one.
    pub(crate) fn objects(&self) -> Result<&objects::PayloadObjects, StoreError> {
        self.inner
            .objects
            .as_ref()
            .ok_or_else(|| StoreError::ObjectStore {
                place: "not configured".into(),
                detail: "this store holds payloads in an object store, and none is configured ([store.objects] in the node's configuration)".into(),
            })
    }

    /// The payload with this content address, checked: damage is `Corrupt(PayloadUnreadable)`
    /// (missing or cut-short segment, a frame that is not this payload's) or
    /// `Corrupt(PayloadHashMismatch)` (bytes that do not hash to the address).
    ///
    /// Damage is read again once if the location moved meanwhile: a repair the writer finished
    /// between the two reads zeroes the frame it replaced, which is not damage. An object is
    /// read again once whatever its location (a repair puts it again under the same name).
    pub fn payload(&self, hash: &PayloadHash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(location) = self.payload_location(hash)? else {
            return Ok(None);
        };
        match self.checked_payload_at(hash, &location) {
            Err(error) if error.is_corruption() => match self.payload_location(hash)? {
                Some(moved) if moved != location || matches!(moved, Stored::Object { .. }) => {
                    self.checked_payload_at(hash, &moved).map(Some)
                }
                // Erased meanwhile: absent, as it now is.
                None => Ok(None),
                Some(_) => Err(error),
            },
            read => read.map(Some),
        }
    }

    /// The payload at `location`, checked.
    fn checked_payload_at(
        &self,
        hash: &PayloadHash,
        location: &Stored,
    ) -> Result<Vec<u8>, StoreError> {
        let mut frame = self.read_frame(hash, location)?;
        check_frame(hash, location, &frame)?;
        frame.drain(..FRAME_HEADER_BYTES as usize);
        Ok(frame)
    }

    /// Whether a payload is stored under `hash` (unchecked: reading it checks it).
    pub fn has_payload(&self, hash: &PayloadHash) -> Result<bool, StoreError> {
        self.trees()
            .payload_index
            .contains_key(hash.as_bytes())
            .engine()
    }

    /// The number of stored payloads (for metrics; O(n)).
    pub fn payload_count(&self) -> usize {
        self.trees().payload_index.len()
    }

    /// The payload segments' size on disk, in bytes.
    pub(crate) fn segments_size(&self) -> Result<u64, StoreError> {
        let dir = self.inner.segments.dir();
        let mut total = 0;
        for number in segments::list_segments(dir)? {
            // A file gone meanwhile (a repair's tamper drill) counts as nothing.
            total += std::fs::symlink_metadata(segments::segment_path(dir, number))
                .map_or(0, |m| m.len());
        }
        Ok(total)
    }
}

impl Store {
    /// Stores payload blobs by content address (hash computed here), replacing what is held
    /// under the same address: storing a payload fetched again from a peer repairs a damaged
    /// copy. Durable on return; the frames replaced are then zeroed (a crash before that
    /// leaves an unindexed copy, never read).
    pub fn put_payloads(&mut self, payloads: &[&[u8]]) -> Result<Vec<PayloadHash>, StoreError> {
        let hashes: Vec<PayloadHash> = payloads.iter().map(|p| PayloadHash::of(p)).collect();
        // Each payload once: a second copy appended would stay unindexed and never be zeroed.
        let mut seen = std::collections::HashSet::with_capacity(hashes.len());
        let hashed: Vec<(PayloadHash, &[u8])> = hashes
            .iter()
            .zip(payloads)
            .filter(|(hash, _)| seen.insert(**hash))
            .map(|(hash, payload)| (*hash, *payload))
            .collect();
        let mut replaced = Vec::new();
        for (hash, _) in &hashed {
            // A malformed location names no frame to zero.
            if let Ok(Some(location)) = self.payload_location(hash) {
                replaced.push((*hash, location));
            }
        }
        self.append_payloads(&hashed)?;
        self.flush_now()?;
        // Only segment frames the new location does not name (a segment cut short can reuse an
        // offset; an object is replaced by its PUT); a failure here is not the repair's: the
        // new copy is durable, and the old one stays, unindexed.
        let stale: Vec<(PayloadHash, Location)> = replaced
            .into_iter()
            .filter_map(|(hash, location)| match location {
                Stored::Segment(frame)
                    if self.payload_location(&hash).ok().flatten() != Some(location) =>
                {
                    Some((hash, frame))
                }
                _ => None,
            })
            .collect();
        let _ = self.payload_writer.zero_frames(&stale);
        Ok(hashes)
    }

    /// Stores payloads whose hashes the caller computed while checking them against a block
    /// (the ledger's verified blocks: hashing 1 KiB records again was a visible share of a
    /// commit). A payload already held is left as it is (a damaged copy is the verifier's to
    /// find and [`Store::put_payloads`]' to replace), so a block stored twice adds no second
    /// copy to the segments; the bytes of the others are durable on return, their locations at
    /// the next flush (the block's commit). (Appending without the point read was tried: no
    /// gain measured in a catch-up at a million records, docs/performance.md.)
    pub fn put_hashed_payloads(
        &mut self,
        payloads: &[(PayloadHash, &[u8])],
    ) -> Result<(), StoreError> {
        let mut fresh = Vec::with_capacity(payloads.len());
        let mut seen = std::collections::HashSet::with_capacity(payloads.len());
        for (hash, payload) in payloads {
            if seen.insert(*hash) && !self.has_payload(hash)? {
                fresh.push((*hash, *payload));
            }
        }
        self.append_payloads(&fresh)
    }

    /// Appends the payloads to the segments (synced), or puts them in the object store (every
    /// PUT done), then writes their locations (not flushed).
    pub(crate) fn append_payloads(
        &mut self,
        payloads: &[(PayloadHash, &[u8])],
    ) -> Result<(), StoreError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let locations: Vec<Stored> = match &self.inner.objects {
            Some(objects) => {
                objects.put(
                    payloads
                        .iter()
                        .map(|(hash, p)| (*hash, frame_of(hash, p)))
                        .collect(),
                )?;
                payloads
                    .iter()
                    .map(|(_, payload)| Stored::Object {
                        len: payload.len() as u32,
                    })
                    .collect()
            }
            None => payloads
                .iter()
                .zip(self.payload_writer.append(payloads)?)
                .map(|((_, payload), frame)| {
                    Stored::Segment(Location {
                        frame,
                        len: payload.len() as u32,
                    })
                })
                .collect(),
        };
        // The locations, in batches (not flushed).
        let located: Vec<_> = payloads.iter().zip(locations).collect();
        for chunk in located.chunks(MAX_WRITES_PER_TRANSACTION) {
            let mut batch = sled::Batch::default();
            for ((hash, _), location) in chunk {
                batch.insert(&hash.as_bytes()[..], IVec::from(location.encode()));
            }
            self.trees().payload_index.apply_batch(batch).engine()?;
        }
        Ok(())
    }

    /// Deletes the payloads under `hashes` (absent ones are ignored): erased payloads, whose
    /// keys are destroyed. The frames are overwritten with zeros and synced first (two syncs
    /// per segment), objects deleted, then the locations are removed and flushed. A crash in between leaves locations of zeroed frames,
    /// which the verifier lists again as erased payloads still held, so the deletion is redone.
    pub fn delete_payloads(&mut self, hashes: &[PayloadHash]) -> Result<(), StoreError> {
        let mut objects = Vec::new();
        let mut frames = Vec::new();
        for hash in hashes {
            match self.payload_location(hash) {
                Ok(Some(Stored::Segment(location))) => frames.push((*hash, location)),
                Ok(Some(Stored::Object { .. })) => objects.push(*hash),
                // A malformed location names no frame; the entry goes all the same.
                Ok(None) => {}
                Err(error) if error.is_corruption() => {}
                Err(error) => return Err(error),
            }
        }
        self.payload_writer.zero_frames(&frames)?;
        if !objects.is_empty() {
            self.objects()?.delete(&objects)?;
        }
        for chunk in hashes.chunks(MAX_WRITES_PER_TRANSACTION) {
            let mut batch = sled::Batch::default();
            for hash in chunk {
                batch.remove(&hash.as_bytes()[..]);
            }
            self.trees().payload_index.apply_batch(batch).engine()?;
        }
        self.flush_now()
    }
}
