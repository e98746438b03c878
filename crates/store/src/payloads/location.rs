//! Where a payload's frame is, as `payload_index` stores it: a frame in a segment (kind 0 ‖
//! segment u32 BE ‖ offset u64 BE ‖ length u32 BE, 17 bytes) or an object of its own (kind 1 ‖
//! length u32 BE, 5 bytes). Decoding refuses what no writer could have made.

use medchain_protocol::limits::MAX_PAYLOAD_BYTES;

use super::segments::{FRAME_HEADER_BYTES, FramePosition};

/// Length of a location value.
const LOCATION_LEN: usize = 17;
/// The location kind of a frame in a segment.
const KIND_SEGMENT: u8 = 0;
/// The location kind of an object, and its value's length.
const KIND_OBJECT: u8 = 1;
const OBJECT_LOCATION_LEN: usize = 5;
/// No segment grows anywhere near this (they are sealed at 64 MiB).
const MAX_OFFSET: u64 = 1 << 40;

/// Where a payload's frame is: in a segment, or an object of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A frame in a segment file.
    Segment(Location),
    /// An object in the object store, named by the payload's hash, of this payload length.
    Object { len: u32 },
}

impl Stored {
    /// The payload's length.
    pub(crate) fn len(&self) -> u32 {
        match self {
            Stored::Segment(location) => location.len,
            Stored::Object { len } => *len,
        }
    }

    /// The frame's length: header and payload.
    pub(crate) fn frame_len(&self) -> usize {
        FRAME_HEADER_BYTES as usize + self.len() as usize
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        match self {
            Stored::Segment(location) => location.encode().to_vec(),
            Stored::Object { len } => {
                let mut out = vec![KIND_OBJECT];
                out.extend_from_slice(&len.to_be_bytes());
                out
            }
        }
    }

    /// `None` for a value no writer could have made (see [`Location::decode`]).
    pub(crate) fn decode(value: &[u8]) -> Option<Self> {
        match value.first() {
            Some(&KIND_OBJECT) if value.len() == OBJECT_LOCATION_LEN => {
                let len = u32::from_be_bytes(value[1..5].try_into().ok()?);
                (len as usize <= MAX_PAYLOAD_BYTES).then_some(Stored::Object { len })
            }
            _ => Location::decode(value).map(Stored::Segment),
        }
    }

    /// Where it is, in words (for damage reports).
    pub(crate) fn describe(&self) -> String {
        match self {
            Stored::Segment(location) => format!(
                "segment {} offset {}",
                location.frame.segment, location.frame.offset
            ),
            Stored::Object { .. } => "its object".into(),
        }
    }
}

/// Where a payload's frame is in the segments, and how long the payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) frame: FramePosition,
    pub(crate) len: u32,
}

impl Location {
    pub(crate) fn encode(&self) -> [u8; LOCATION_LEN] {
        let mut out = [0u8; LOCATION_LEN];
        out[0] = KIND_SEGMENT;
        out[1..5].copy_from_slice(&self.frame.segment.to_be_bytes());
        out[5..13].copy_from_slice(&self.frame.offset.to_be_bytes());
        out[13..17].copy_from_slice(&self.len.to_be_bytes());
        out
    }

    /// `None` for a value of the wrong length or kind, or one no writer could have made: a
    /// length above the protocol's payload limit or an offset far past any segment's end (a
    /// planted location must not make a read allocate gigabytes).
    pub(crate) fn decode(value: &[u8]) -> Option<Self> {
        let value: &[u8; LOCATION_LEN] = value.try_into().ok()?;
        if value[0] != KIND_SEGMENT {
            return None;
        }
        let location = Self {
            frame: FramePosition {
                segment: u32::from_be_bytes(value[1..5].try_into().ok()?),
                offset: u64::from_be_bytes(value[5..13].try_into().ok()?),
            },
            len: u32::from_be_bytes(value[13..17].try_into().ok()?),
        };
        (location.len as usize <= MAX_PAYLOAD_BYTES && location.frame.offset <= MAX_OFFSET)
            .then_some(location)
    }

    /// The frame's length: header and payload.
    pub(crate) fn frame_len(&self) -> usize {
        FRAME_HEADER_BYTES as usize + self.len as usize
    }
}
