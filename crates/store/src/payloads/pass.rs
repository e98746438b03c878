//! The verifier's payload pass: every referenced payload checked in one ordered pass over
//! `payload_index`, then read in segment order, so the segments are read sequentially in large
//! reads rather than one random read per payload; payloads in the object store are fetched in
//! rounds of up to [`ROUND_BYTES`], many requests in flight. A payload found damaged is read
//! once more through [`StoreReader::payload`] before it is reported: a repair or erase the
//! writer finished meanwhile moved or removed it, which is not damage.

use medchain_protocol::PayloadHash;

use super::{Location, Stored, check_frame};
use crate::error::{EngineResult, StoreError};
use crate::open::StoreReader;

/// Most bytes read from a segment at once.
const WINDOW_BYTES: u64 = 4 << 20;
/// Most bytes of payload objects fetched in one round (at least one object: up to 8 MiB).
const ROUND_BYTES: usize = 32 << 20;

/// What one ordered pass over the payloads found.
#[derive(Debug, Default)]
pub struct PayloadPass {
    /// Referenced payloads held and intact.
    pub held: u64,
    /// Referenced payloads not held here (to fetch; not a violation).
    pub missing: Vec<PayloadHash>,
    /// Referenced payloads whose bytes do not hash to their address, whose length differs, or
    /// that cannot be read where the index says they are.
    pub damaged: Vec<PayloadHash>,
}

impl PayloadPass {
    /// Counts one payload's check: held, damaged, or an error that stops the pass.
    fn count(
        &mut self,
        hash: &PayloadHash,
        checked: Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        match checked {
            Ok(()) => self.held += 1,
            Err(error) if error.is_corruption() => self.damaged.push(*hash),
            Err(error) => return Err(error),
        }
        Ok(())
    }
}

impl StoreReader {
    /// Checks the referenced payloads `refs` (hash and length): an ordered pass over
    /// `payload_index` finds where each is, then the frames are read in segment order and
    /// checked. `refs` is sorted and deduplicated here.
    pub fn check_payloads_in_order(
        &self,
        mut refs: Vec<(PayloadHash, u64)>,
    ) -> Result<PayloadPass, StoreError> {
        refs.sort_unstable();
        refs.dedup();
        let mut pass = PayloadPass::default();
        let mut to_read: Vec<(PayloadHash, Location)> = Vec::new();
        let mut objects: Vec<(PayloadHash, Stored)> = Vec::new();
        // Malformed locations, or of another length than referenced: damage without a read.
        let mut unmatched = Vec::new();
        let mut wanted = refs.into_iter().peekable();
        for item in self.trees().payload_index.iter() {
            if wanted.peek().is_none() {
                break;
            }
            let (key, value) = item.engine()?;
            // Referenced payloads the ordered pass has gone beyond are not held.
            while let Some(&(hash, _)) = wanted.peek()
                && hash.as_bytes()[..] < key[..]
            {
                pass.missing.push(hash);
                wanted.next();
            }
            // Every reference to this address (one hash could be referenced with two lengths).
            let location = self.decode_location(&value);
            let mut queued = false;
            while let Some(&(hash, len)) = wanted.peek()
                && hash.as_bytes()[..] == key[..]
            {
                match location {
                    Some(location) if u64::from(location.len()) == len => {
                        if !queued {
                            match location {
                                Stored::Segment(frame) => to_read.push((hash, frame)),
                                Stored::Object { .. } => objects.push((hash, location)),
                            }
                            queued = true;
                        }
                    }
                    _ => unmatched.push(hash),
                }
                wanted.next();
            }
        }
        pass.missing.extend(wanted.map(|(hash, _)| hash));
        to_read.sort_unstable_by_key(|(_, location)| location.frame);
        self.check_frames_in_order(&to_read, &mut pass)?;
        self.check_objects(&objects, &mut pass)?;
        // Damage seen by a pass that read without the writer's lock: read once more.
        let mut damaged = Vec::new();
        for hash in std::mem::take(&mut pass.damaged) {
            match self.payload(&hash) {
                Ok(Some(_)) => pass.held += 1,
                Ok(None) => pass.missing.push(hash),
                Err(error) if error.is_corruption() => damaged.push(hash),
                Err(error) => return Err(error),
            }
        }
        damaged.extend(unmatched);
        pass.damaged = damaged;
        Ok(pass)
    }

    /// Fetches and checks payload objects, in rounds of up to [`ROUND_BYTES`].
    fn check_objects(
        &self,
        objects: &[(PayloadHash, Stored)],
        pass: &mut PayloadPass,
    ) -> Result<(), StoreError> {
        let mut start = 0;
        while start < objects.len() {
            let mut end = start + 1;
            let mut bytes = objects[start].1.frame_len();
            while let Some((_, next)) = objects.get(end)
                && bytes + next.frame_len() <= ROUND_BYTES
            {
                bytes += next.frame_len();
                end += 1;
            }
            let round = &objects[start..end];
            start = end;
            for ((hash, location), object) in round.iter().zip(self.read_objects(round)?) {
                let checked = match object {
                    Some(frame) => check_frame(hash, location, &frame),
                    None => Err(super::missing_object(*hash)),
                };
                pass.count(hash, checked)?;
            }
        }
        Ok(())
    }

    /// Reads and checks `frames` (sorted by position) in windows of consecutive frames.
    fn check_frames_in_order(
        &self,
        frames: &[(PayloadHash, Location)],
        pass: &mut PayloadPass,
    ) -> Result<(), StoreError> {
        let mut start = 0;
        while start < frames.len() {
            let first = frames[start].1.frame;
            let mut end = start + 1;
            let mut window_end = first.offset + frames[start].1.frame_len() as u64;
            while let Some((_, next)) = frames.get(end)
                && next.frame.segment == first.segment
                && next.frame.offset + next.frame_len() as u64 - first.offset <= WINDOW_BYTES
            {
                window_end = window_end.max(next.frame.offset + next.frame_len() as u64);
                end += 1;
            }
            let window = self.inner.segments.read(
                first.segment,
                first.offset,
                (window_end - first.offset) as usize,
            )?;
            for (hash, location) in &frames[start..end] {
                let checked = match &window {
                    Ok(bytes) => {
                        let at = (location.frame.offset - first.offset) as usize;
                        check_frame(
                            hash,
                            &Stored::Segment(*location),
                            &bytes[at..at + location.frame_len()],
                        )
                    }
                    // The window could not be read whole (a segment cut short or missing):
                    // each frame on its own, so one damaged frame costs only itself.
                    Err(_) => {
                        let location = Stored::Segment(*location);
                        self.read_frame(hash, &location)
                            .and_then(|frame| check_frame(hash, &location, &frame))
                    }
                };
                pass.count(hash, checked)?;
            }
            start = end;
        }
        Ok(())
    }
}
