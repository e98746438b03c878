//! Compaction: rewriting the segments that held erased payloads without them.
//!
//! The live frames of each segment (those `payload_index` still names there) are copied to the
//! current segment and synced, their new locations written and flushed, and only then is the
//! old file deleted: a crash at any point leaves every location naming intact, durable bytes
//! (the old copy or the new one). A segment with a frame that cannot be read at all (the file
//! cut short under it) is left as it is: its payloads stay where the verifier will report them.
//! Bytes that read but are damaged are copied as they are, so compaction neither repairs nor
//! hides damage; the verifier reports it at the new location.

use std::collections::BTreeSet;

use medchain_protocol::PayloadHash;

use super::Location;
use super::segments::{self, FRAME_HEADER_BYTES};
use crate::error::{EngineResult, StoreError};
use crate::open::Store;

/// Most payload bytes copied between two syncs.
const COPY_CHUNK_BYTES: usize = 4 << 20;

impl Store {
    /// Compacts the segments numbered in `numbers` (see the module documentation).
    pub(crate) fn compact_segments(&mut self, numbers: &BTreeSet<u32>) -> Result<(), StoreError> {
        if numbers.is_empty() {
            return Ok(());
        }
        if numbers.contains(&self.payload_writer.current()) {
            self.payload_writer.roll()?;
        }
        // One pass over the index finds every live frame of these segments.
        let mut live: Vec<(PayloadHash, Location)> = Vec::new();
        for item in self.trees().payload_index.iter() {
            let (key, value) = item.engine()?;
            let (Some(hash), Some(location)) = (
                crate::keys::hash32(&key).map(PayloadHash),
                Location::decode(&value),
            ) else {
                continue;
            };
            if numbers.contains(&location.frame.segment) {
                live.push((hash, location));
            }
        }
        live.sort_unstable_by_key(|(_, location)| location.frame);
        for &number in numbers {
            let start = live.partition_point(|(_, l)| l.frame.segment < number);
            let end = live.partition_point(|(_, l)| l.frame.segment <= number);
            self.compact_one(number, &live[start..end])?;
        }
        Ok(())
    }

    /// Copies `live` (the live frames of segment `number`, in offset order) to the current
    /// segment, then deletes `number`; leaves it if a frame cannot be read.
    fn compact_one(
        &mut self,
        number: u32,
        live: &[(PayloadHash, Location)],
    ) -> Result<(), StoreError> {
        let mut read = Vec::with_capacity(live.len());
        for (hash, location) in live {
            match self.read_frame(hash, location) {
                Ok(mut frame) => {
                    frame.drain(..FRAME_HEADER_BYTES as usize);
                    read.push((*hash, frame));
                }
                Err(error) if error.is_corruption() => return Ok(()),
                Err(error) => return Err(error),
            }
            if read.iter().map(|(_, f)| f.len()).sum::<usize>() >= COPY_CHUNK_BYTES {
                self.copy_frames(&mut read)?;
            }
        }
        self.copy_frames(&mut read)?;
        self.flush_now()?;
        let dir = self.inner.segments.dir().to_path_buf();
        self.inner.segments.forget(number);
        match std::fs::remove_file(segments::segment_path(&dir, number)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(segments::io(error)),
        }
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(segments::io)
    }

    /// Appends `frames` (hash, payload) to the current segment and points their locations there.
    fn copy_frames(&mut self, frames: &mut Vec<(PayloadHash, Vec<u8>)>) -> Result<(), StoreError> {
        if frames.is_empty() {
            return Ok(());
        }
        let borrowed: Vec<(PayloadHash, &[u8])> =
            frames.iter().map(|(h, p)| (*h, p.as_slice())).collect();
        self.append_payloads(&borrowed)?;
        frames.clear();
        Ok(())
    }
}
