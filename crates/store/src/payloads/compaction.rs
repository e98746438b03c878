//! Compaction of payload segments: an erase zeroes its payload's frame and a repair zeroes the
//! copy it replaced, so sealed segments accumulate dead bytes. A segment at least half dead has
//! its live frames copied to the segment being written, and is removed once no location names
//! it any more.
//!
//! It runs in bounded steps, so the writer's lock is never held for long:
//!
//! 1. [`StoreReader::plan_compaction`], without the writer's lock: one ordered pass over
//!    `payload_index` counts each segment's live bytes; a sealed segment at least half dead is
//!    planned, with its live frames (a second pass, for the planned segments only).
//! 2. [`Store::compact_step`], under the writer's lock, as often as it returns `true`: up to a
//!    budget of frames still where planned are read, checked, appended to the segment being
//!    written (synced) and their locations moved (flushed). A frame moved or erased meanwhile
//!    is skipped; a frame that fails its check stays where it is (damage, the verifier's to
//!    repair) and keeps its segment.
//! 3. [`StoreReader::confirm_unreferenced`], without the lock: a pass over `payload_index`
//!    finding no location in the segment. Nothing writes a location into a sealed segment (only
//!    appends to the segment being written make locations), so what it finds stays true.
//! 4. [`Store::remove_compacted`], under the lock: the file goes, and its name (synced).
//!
//! A reader that took a location in the removed segment just before its move reads again where
//! the location now points ([`StoreReader::payload`] and the verifier's pass both do). The old
//! copies of moved payloads are zeroed once their new locations are flushed (a crash in between
//! leaves them until the next compaction finds the segment wholly dead and removes it).

use std::collections::HashMap;

use medchain_protocol::PayloadHash;

use super::segments::{self, FRAME_HEADER_BYTES, HEADER};
use super::{Location, Stored, check_frame};
use crate::error::{EngineResult, StoreError};
use crate::open::{Store, StoreReader};

/// A sealed segment to compact, and what is left to do for it.
#[derive(Debug)]
pub struct CompactionPlan {
    segment: u32,
    /// The segment file's size when planned.
    file_bytes: u64,
    /// Its live frames' bytes when planned.
    live_bytes: u64,
    /// Live frames still to move, last first (so `pop` goes in file order).
    frames: Vec<(PayloadHash, Location)>,
    /// Frames moved so far.
    moved: u64,
    /// Frames that failed their check and stayed.
    kept_damaged: u64,
    /// Set by [`Store::compact_step`] when, under the writer's lock, the segment was seen
    /// sealed (below the one being written): nothing writes a location into it after that.
    sealed_seen: bool,
    /// Set by [`StoreReader::confirm_unreferenced`].
    unreferenced: bool,
}

impl CompactionPlan {
    /// The segment's number.
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// The segment file's size when planned.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Bytes of live frames in it when planned.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Frames moved so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Frames left in place because they failed their check (the segment then stays).
    pub fn kept_damaged(&self) -> u64 {
        self.kept_damaged
    }
}

impl StoreReader {
    /// Plans the compaction of up to `max_plans` sealed segments at least half dead, the most
    /// dead first. The segment being written (the highest-numbered) is never planned.
    pub fn plan_compaction(&self, max_plans: usize) -> Result<Vec<CompactionPlan>, StoreError> {
        let dir = self.inner.segments.dir();
        let numbers = segments::list_segments(dir)?;
        let Some((_, sealed)) = numbers.split_last() else {
            return Ok(Vec::new());
        };
        let mut live: HashMap<u32, u64> = HashMap::new();
        for item in self.trees().payload_index.iter() {
            let (_, value) = item.engine()?;
            if let Some(Stored::Segment(location)) = Stored::decode(&value) {
                *live.entry(location.frame.segment).or_default() += location.frame_len() as u64;
            }
        }
        let mut plans = Vec::new();
        for &segment in sealed {
            // A name that is not a regular file, or is gone, is not ours to remove.
            let Ok(meta) = std::fs::symlink_metadata(segments::segment_path(dir, segment)) else {
                continue;
            };
            if !meta.file_type().is_file() {
                continue;
            }
            let file_bytes = meta.len();
            let live_bytes = live.get(&segment).copied().unwrap_or(0);
            let dead = file_bytes.saturating_sub(HEADER.len() as u64 + live_bytes);
            if live_bytes == 0 || dead >= file_bytes / 2 {
                plans.push(CompactionPlan {
                    segment,
                    file_bytes,
                    live_bytes,
                    frames: Vec::new(),
                    moved: 0,
                    kept_damaged: 0,
                    sealed_seen: false,
                    unreferenced: false,
                });
            }
        }
        plans.sort_by_key(|p| std::cmp::Reverse(p.file_bytes.saturating_sub(p.live_bytes)));
        plans.truncate(max_plans);
        if plans.is_empty() {
            return Ok(plans);
        }
        let index: HashMap<u32, usize> = plans
            .iter()
            .enumerate()
            .map(|(i, p)| (p.segment, i))
            .collect();
        for item in self.trees().payload_index.iter() {
            let (key, value) = item.engine()?;
            if let (Some(Stored::Segment(location)), Ok(hash)) =
                (Stored::decode(&value), <[u8; 32]>::try_from(&key[..]))
                && let Some(&i) = index.get(&location.frame.segment)
            {
                plans[i].frames.push((PayloadHash(hash), location));
            }
        }
        for plan in &mut plans {
            plan.frames
                .sort_unstable_by_key(|(_, l)| std::cmp::Reverse(l.frame.offset));
        }
        Ok(plans)
    }

    /// Whether no location names the plan's segment any more (every frame was moved, and none
    /// stayed damaged); records the answer in the plan for [`Store::remove_compacted`].
    pub fn confirm_unreferenced(&self, plan: &mut CompactionPlan) -> Result<bool, StoreError> {
        plan.unreferenced = false;
        if !plan.sealed_seen || !plan.frames.is_empty() || plan.kept_damaged > 0 {
            return Ok(false);
        }
        for item in self.trees().payload_index.iter() {
            let (_, value) = item.engine()?;
            if let Some(Stored::Segment(location)) = Stored::decode(&value)
                && location.frame.segment == plan.segment
            {
                return Ok(false);
            }
        }
        plan.unreferenced = true;
        Ok(true)
    }
}

impl Store {
    /// Moves up to about `budget_bytes` of the plan's frames to the segment being written
    /// (appended and synced, then their locations written and flushed, then the old frames
    /// zeroed, so an erase after the move leaves no copy behind). `true` while frames remain
    /// to move. With an object store configured, the payloads move to the bucket.
    pub fn compact_step(
        &mut self,
        plan: &mut CompactionPlan,
        budget_bytes: u64,
    ) -> Result<bool, StoreError> {
        if plan.segment >= self.payload_writer.current() {
            // Never the segment being written (nor one numbered past it, a stray name the plan
            // took for the writer's): nothing moves, and the plan can remove nothing.
            plan.frames.clear();
            plan.sealed_seen = false;
            return Ok(false);
        }
        plan.sealed_seen = true;
        let mut payloads: Vec<(PayloadHash, Vec<u8>)> = Vec::new();
        let mut old_frames = Vec::new();
        // Every frame read counts, checked or not, so one hold of the lock stays bounded.
        let mut bytes = 0;
        while bytes < budget_bytes
            && let Some((hash, location)) = plan.frames.pop()
        {
            let stored = Stored::Segment(location);
            // Moved (a repair) or erased since the plan: nothing to do for it.
            if !matches!(self.payload_location(&hash), Ok(Some(now)) if now == stored) {
                continue;
            }
            bytes += location.frame_len() as u64;
            let checked = self
                .read_frame(&hash, &stored)
                .and_then(|frame| check_frame(&hash, &stored, &frame).map(|()| frame));
            match checked {
                Ok(mut frame) => {
                    frame.drain(..FRAME_HEADER_BYTES as usize);
                    payloads.push((hash, frame));
                    old_frames.push((hash, location));
                }
                Err(error) if error.is_corruption() => plan.kept_damaged += 1,
                Err(error) => {
                    plan.frames.push((hash, location));
                    return Err(error);
                }
            }
        }
        let refs: Vec<(PayloadHash, &[u8])> =
            payloads.iter().map(|(h, p)| (*h, p.as_slice())).collect();
        self.append_payloads(&refs)?;
        self.flush_now()?;
        plan.moved += refs.len() as u64;
        // The old copies: nothing names them any more.
        self.payload_writer.zero_frames(&old_frames)?;
        Ok(!plan.frames.is_empty())
    }

    /// Removes the plan's segment, once [`StoreReader::confirm_unreferenced`] said no location
    /// names it. `false` if it did not (or the segment is the one being written).
    pub fn remove_compacted(&mut self, plan: &CompactionPlan) -> Result<bool, StoreError> {
        if !plan.sealed_seen || !plan.unreferenced || plan.segment >= self.payload_writer.current()
        {
            return Ok(false);
        }
        let dir = self.inner.segments.dir().to_path_buf();
        match std::fs::remove_file(segments::segment_path(&dir, plan.segment)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(segments::io(error)),
        }
        self.inner.segments.forget(plan.segment);
        segments::sync_dir(&dir)?;
        Ok(true)
    }
}
