//! Canonical encoding: postcard, with strict decoding.
//!
//! Every protocol object has exactly one byte form. Decoding refuses input over the caller's size
//! limit, truncated input, trailing bytes, and any input that does not re-encode to the very same
//! bytes (for example an over-long varint), so two nodes can never disagree on the bytes, and so
//! on the hash, of an object they both accept.

use serde::{Serialize, de::DeserializeOwned};

/// Why bytes do not decode into a protocol object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is larger than the limit for this kind of object.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends before the object does.
    #[error("input is truncated")]
    Truncated,
    /// The object ends before the input does.
    #[error("{0} trailing bytes after the object")]
    TrailingBytes(usize),
    /// The input is not an encoding of this kind of object.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// The input decodes, but is not the canonical encoding of what it decodes to.
    #[error("input is not in canonical form")]
    NonCanonical,
    /// A wire message carries a protocol version this node does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The message is empty (no version byte).
    #[error("empty message")]
    Empty,
}

/// The canonical bytes of `value`.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own types into a Vec cannot fail: they hold no maps with non-string keys,
    // no unsized sequences and no custom serialisers that error.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Appends the canonical bytes of `value` to `out`.
pub fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(&encode(value));
}

/// Decodes exactly one canonical `T` from `bytes`, refusing anything longer than `max` bytes.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(map_postcard_error)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

fn map_postcard_error(error: postcard::Error) -> DecodeError {
    use postcard::Error as E;
    match error {
        E::DeserializeUnexpectedEnd => DecodeError::Truncated,
        E::DeserializeBadVarint => DecodeError::Malformed("bad varint"),
        E::DeserializeBadBool => DecodeError::Malformed("bad bool"),
        E::DeserializeBadChar => DecodeError::Malformed("bad char"),
        E::DeserializeBadUtf8 => DecodeError::Malformed("bad UTF-8 in string"),
        E::DeserializeBadOption => DecodeError::Malformed("bad option tag"),
        E::DeserializeBadEnum => DecodeError::Malformed("unknown enum variant"),
        E::DeserializeBadEncoding => DecodeError::Malformed("bad encoding"),
        E::DeserializeBadCrc => DecodeError::Malformed("bad checksum"),
        _ => DecodeError::Malformed("does not decode"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        n: u64,
        s: String,
    }

    #[test]
    fn strict_decoding() {
        let value = Sample {
            n: 300,
            s: "x".into(),
        };
        let bytes = encode(&value);
        assert_eq!(bytes, [0xac, 0x02, 0x01, b'x']);
        assert_eq!(decode::<Sample>(&bytes, 64).unwrap(), value);
        assert_eq!(
            decode::<Sample>(&bytes[..3], 64),
            Err(DecodeError::Truncated)
        );
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode::<Sample>(&long, 64),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            decode::<Sample>(&bytes, 3),
            Err(DecodeError::TooLarge { len: 4, max: 3 })
        );
        // 300 as an over-long varint (a redundant continuation byte) decodes but is not canonical.
        let overlong = [0xac, 0x82, 0x00, 0x01, b'x'];
        assert!(matches!(
            decode::<Sample>(&overlong, 64),
            Err(DecodeError::NonCanonical | DecodeError::Malformed(_))
        ));
    }
}
