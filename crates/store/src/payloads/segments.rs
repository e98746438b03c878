//! Payload segment files: append-only files of framed payloads in the store's `payloads/`
//! directory (docs/architecture.md, "Payload segments").
//!
//! A segment is `NNNNNNNNNN.seg` (its number, ten digits) and holds a 16-byte header (`MCPAYSEG`,
//! format version u32 BE = 1, four zero bytes), then frames: payload hash (32) ‖ length u32 BE (4)
//! ‖ the payload. Only the last segment is appended to; it is sealed (a new one started) once it
//! passes [`SEGMENT_TARGET_BYTES`]. Sealed segments are written only to zero a frame (an erase,
//! a copy a repair replaced: [`SegmentWriter::zero_frames`]) and removed whole once compacted
//! (`super::compaction`). Where each payload is lives in the sled tree `payload_index`
//! (see `super::Location`), so nothing here is ever parsed without a location from the index:
//! bytes past the last indexed frame (a write cut short by a crash) are never read, and a damaged
//! frame costs that payload only, never its neighbours. Every read checks the frame's header
//! against the index and the payload against its hash (`super::check_frame`).
//!
//! The writer appends and syncs ([`SegmentWriter::append`] returns only after `fdatasync`), so a
//! location reaches sled only once the bytes it names are durable. Readers share a bounded cache
//! of read-only file handles ([`SegmentFiles`]) and read with `pread`, so any number of threads
//! read at once without seeking and without the writer's lock. Anything in `payloads/` that is
//! not a regular file (a directory, a FIFO, a link planted under a segment's name) is treated
//! as a missing segment: damage to the payloads it should hold, never a hang or a start-up
//! error.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use medchain_protocol::PayloadHash;

use crate::error::StoreError;

/// The segment directory, inside the store's directory.
pub(crate) const DIR: &str = "payloads";
/// A segment is sealed once it is this long (a frame is never split, so one may pass it by up to
/// one payload).
pub(crate) const SEGMENT_TARGET_BYTES: u64 = 64 << 20;
/// The file header: magic, format version 1, reserved.
pub(crate) const HEADER: [u8; 16] = *b"MCPAYSEG\0\0\0\x01\0\0\0\0";
/// A frame's header: hash (32) ‖ length u32 BE (4).
pub(crate) const FRAME_HEADER_BYTES: u64 = 36;
/// Most read-only handles kept open at once (a store of 10 TB has 160,000 segments).
const MAX_OPEN_FILES: usize = 256;

/// Where a frame is: segment number and the frame's offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct FramePosition {
    pub(crate) segment: u32,
    pub(crate) offset: u64,
}

/// The path of segment `number` in `dir`.
pub(crate) fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("{number:010}.seg"))
}

/// Whether `path` is a regular file (not following links): only those are opened as segments.
fn is_regular(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Syncs a directory, so the names created or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)
}

/// The segment numbers named in `dir`, ascending (names of other shapes are left alone). A name
/// taken by something other than a regular file is listed too: its number is taken, and reads
/// find no segment there.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<u32>, StoreError> {
    let mut numbers = Vec::new();
    for item in std::fs::read_dir(dir).map_err(io)? {
        let name = item.map_err(io)?.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
            continue;
        };
        if stem.len() == 10
            && let Ok(number) = stem.parse::<u32>()
        {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// An I/O error of the payload files as a store error (the operator's to fix, unless the bytes
/// read turn out wrong: those are reported as damage by the checks).
pub(crate) fn io(error: std::io::Error) -> StoreError {
    StoreError::Io {
        kind: error.kind(),
        detail: format!("payload segments: {error}"),
    }
}

/// The segment number after `number`.
fn next_number(number: u32) -> Result<u32, StoreError> {
    number.checked_add(1).ok_or_else(|| StoreError::Io {
        kind: ErrorKind::StorageFull,
        detail: "payload segments: segment numbers exhausted".into(),
    })
}

/// What is under a segment's name.
enum Opened {
    /// Nothing, something other than a regular file, or a file whose header is not a segment's.
    NotASegment,
    /// A file shorter than a header (a segment begun by a start that crashed).
    Short,
    /// A segment, opened for reading, its header checked.
    Segment(File),
}

/// Opens the segment at `path` for reading and checks its header.
fn open_segment(path: &Path) -> Result<Opened, StoreError> {
    if !is_regular(path) {
        return Ok(Opened::NotASegment);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Opened::NotASegment),
        Err(error) => return Err(io(error)),
    };
    let mut header = [0u8; HEADER.len()];
    match file.read_exact_at(&mut header, 0) {
        Ok(()) if header == HEADER => Ok(Opened::Segment(file)),
        Ok(()) => Ok(Opened::NotASegment),
        Err(error) if error.kind() == ErrorKind::UnexpectedEof => Ok(Opened::Short),
        Err(error) => Err(io(error)),
    }
}

/// Whether the file at `path` is shorter than a header or starts with a segment's header:
/// `false` for anything else under that name.
fn has_header(path: &Path) -> Result<bool, StoreError> {
    Ok(!matches!(open_segment(path)?, Opened::NotASegment))
}

/// The encoded frame of one payload.
pub(crate) fn frame(hash: &PayloadHash, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(hash.as_bytes());
    // Payloads are bounded by the protocol (8 MiB), far below u32::MAX.
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Read-only handles on the segments, shared by every reader of one store.
pub(crate) struct SegmentFiles {
    dir: PathBuf,
    open: Mutex<HashMap<u32, Arc<File>>>,
}

impl SegmentFiles {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A handle on segment `number`, opened (and its header checked) on first use. `Ok(None)`:
    /// the file is missing or its header is not a segment's (damage, reported by the caller).
    fn file(&self, number: u32) -> Result<Option<Arc<File>>, StoreError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(file) = open.get(&number) {
            return Ok(Some(file.clone()));
        }
        let Opened::Segment(file) = open_segment(&segment_path(&self.dir, number))? else {
            return Ok(None);
        };
        if open.len() >= MAX_OPEN_FILES {
            // Handles still in use elsewhere stay valid (they are reference-counted).
            open.clear();
        }
        let file = Arc::new(file);
        open.insert(number, file.clone());
        Ok(Some(file))
    }

    /// Forgets the handle on a segment just removed.
    pub(crate) fn forget(&self, number: u32) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&number);
    }

    /// `len` bytes at `at` of segment `number`. `Ok(Err(why))`: the segment is missing, not a
    /// segment, or too short (damage: the caller names the payload).
    pub(crate) fn read(
        &self,
        number: u32,
        at: u64,
        len: usize,
    ) -> Result<Result<Vec<u8>, String>, StoreError> {
        let Some(file) = self.file(number)? else {
            return Ok(Err(format!(
                "segment {number} is missing or has no segment header"
            )));
        };
        let mut bytes = vec![0u8; len];
        match file.read_exact_at(&mut bytes, at) {
            Ok(()) => Ok(Ok(bytes)),
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => Ok(Err(format!(
                "segment {number} ends before offset {}",
                at + len as u64
            ))),
            Err(error) => Err(io(error)),
        }
    }
}

/// The one writer of the segments: appends to the last one.
pub(crate) struct SegmentWriter {
    dir: PathBuf,
    number: u32,
    file: File,
    len: u64,
    /// Set when a failed write left the segment's length unknown: appending then would index
    /// frames at the wrong offset, so the writer refuses until the store is opened again.
    lost_track: bool,
}

impl SegmentWriter {
    /// Opens the segment directory of the store at `store_dir` (creating it), writing to the
    /// last segment, or to a new one when there is none or the last is full.
    pub(crate) fn open(store_dir: &Path) -> Result<Self, StoreError> {
        let dir = store_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(io)?;
        // The directory's name must be durable before any location names a file in it (synced
        // at every open: a crash may have come between its creation and the sync).
        sync_dir(store_dir)?;
        let last = list_segments(&dir)?.last().copied();
        match last {
            Some(number) if !has_header(&segment_path(&dir, number))? => {
                // A last segment whose header is not a segment's (damaged, or a file put there):
                // left for the verifier to report (its payloads read as damaged), never written.
                Self::create(dir, next_number(number)?)
            }
            Some(number) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(segment_path(&dir, number))
                    .map_err(io)?;
                let len = file.metadata().map_err(io)?.len();
                let mut writer = Self::writing(dir, number, file, len);
                if len < HEADER.len() as u64 {
                    // Created by a start that crashed before its header was durable: no frame
                    // can be in it (frames follow a synced header), so it is begun again.
                    writer.file.set_len(0).map_err(io)?;
                    writer.write_header()?;
                    // Its name may not be durable yet (a process crash does not lose it; a
                    // power cut could).
                    sync_dir(&writer.dir)?;
                    return Ok(writer);
                }
                if len >= SEGMENT_TARGET_BYTES {
                    writer.roll()?;
                }
                Ok(writer)
            }
            None => Self::create(dir, 1),
        }
    }

    /// A writer at the end (`len`) of segment `number`, opened for appending as `file`.
    fn writing(dir: PathBuf, number: u32, file: File, len: u64) -> Self {
        Self {
            dir,
            number,
            file,
            len,
            lost_track: false,
        }
    }

    fn create(dir: PathBuf, number: u32) -> Result<Self, StoreError> {
        let path = segment_path(&dir, number);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut writer = Self::writing(dir, number, file, 0);
        // The header and the new file's name must be durable before any location names it. On
        // failure (a full disk) the file goes again, so the next try can create it anew.
        if let Err(error) = writer.write_header().and_then(|()| sync_dir(&writer.dir)) {
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
        Ok(writer)
    }

    fn write_header(&mut self) -> Result<(), StoreError> {
        self.file.write_all(&HEADER).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len = HEADER.len() as u64;
        Ok(())
    }

    /// The segment being written to.
    pub(crate) fn current(&self) -> u32 {
        self.number
    }

    /// Seals the current segment and starts the next.
    pub(crate) fn roll(&mut self) -> Result<(), StoreError> {
        *self = Self::create(self.dir.clone(), next_number(self.number)?)?;
        Ok(())
    }

    /// Appends the framed payloads and syncs them; returns each frame's position, in order.
    /// Nothing is returned until the bytes are durable.
    pub(crate) fn append(
        &mut self,
        payloads: &[(PayloadHash, &[u8])],
    ) -> Result<Vec<FramePosition>, StoreError> {
        if self.lost_track {
            return Err(StoreError::Io {
                kind: ErrorKind::Other,
                detail: "payload segments: a failed write left the segment's length unknown; restart the node".into(),
            });
        }
        let mut positions = Vec::with_capacity(payloads.len());
        let mut buffer = Vec::new();
        for (hash, payload) in payloads {
            if self.len + buffer.len() as u64 >= SEGMENT_TARGET_BYTES {
                self.write_out(&mut buffer)?;
                self.roll()?;
            }
            positions.push(FramePosition {
                segment: self.number,
                offset: self.len + buffer.len() as u64,
            });
            frame(hash, payload, &mut buffer);
        }
        self.write_out(&mut buffer)?;
        Ok(positions)
    }

    /// Writes `buffer` at the end of the current segment and syncs it.
    fn write_out(&mut self, buffer: &mut Vec<u8>) -> Result<(), StoreError> {
        if buffer.is_empty() {
            return Ok(());
        }
        if let Err(error) = self
            .file
            .write_all(buffer)
            .and_then(|()| self.file.sync_data())
        {
            // Part of it may be on disk: the length is read back, so the next frame's offset
            // is where it really lands (the partial frame is never named by the index).
            match self.file.metadata() {
                Ok(metadata) => self.len = metadata.len(),
                Err(_) => self.lost_track = true,
            }
            return Err(io(error));
        }
        self.len += buffer.len() as u64;
        buffer.clear();
        Ok(())
    }

    /// Overwrites the frames of `frames` (payload hash and location) with zeros and syncs them:
    /// erased payloads' bytes, or copies a repair replaced. Per segment, every payload's bytes
    /// are zeroed and synced, then every header, and synced again (two syncs per segment, not
    /// per payload): a power cut in between leaves headers naming their payloads, so an erase
    /// redone finds the frames again. A frame is written only if its header names its hash (a
    /// planted location must not make this zero another payload), and only its header if its
    /// length disagrees with the location's (a planted, stretched location must not zero the
    /// frames after it); a missing or cut-short segment has nothing to zero.
    pub(crate) fn zero_frames(
        &mut self,
        frames: &[(PayloadHash, super::Location)],
    ) -> Result<(), StoreError> {
        let mut by_segment: std::collections::BTreeMap<u32, Vec<&(PayloadHash, super::Location)>> =
            std::collections::BTreeMap::new();
        for frame in frames {
            by_segment
                .entry(frame.1.frame.segment)
                .or_default()
                .push(frame);
        }
        for (segment, frames) in by_segment {
            let path = segment_path(&self.dir, segment);
            if !is_regular(&path) {
                continue;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io)?;
            let len = file.metadata().map_err(io)?.len();
            let mut headers = Vec::with_capacity(frames.len());
            for (hash, location) in frames {
                let at = location.frame.offset;
                let mut header = [0u8; FRAME_HEADER_BYTES as usize];
                match file.read_exact_at(&mut header, at) {
                    Ok(()) => {}
                    Err(error) if error.kind() == ErrorKind::UnexpectedEof => continue,
                    Err(error) => return Err(io(error)),
                }
                if header[..32] != hash.as_bytes()[..] {
                    continue;
                }
                let frame_len = if header[32..] == location.len.to_be_bytes() {
                    location.frame_len() as u64
                } else {
                    FRAME_HEADER_BYTES
                };
                let Some(zeros) = (at + frame_len).min(len).checked_sub(at) else {
                    continue;
                };
                let header_len = FRAME_HEADER_BYTES.min(zeros);
                file.write_all_at(&vec![0u8; (zeros - header_len) as usize], at + header_len)
                    .map_err(io)?;
                headers.push((at, header_len));
            }
            if headers.is_empty() {
                continue;
            }
            file.sync_data().map_err(io)?;
            for (at, header_len) in headers {
                file.write_all_at(&vec![0u8; header_len as usize], at)
                    .map_err(io)?;
            }
            file.sync_data().map_err(io)?;
        }
        Ok(())
    }
}
