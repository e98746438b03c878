//! Bytes in a proof's JSON: lowercase hex strings. Decoding refuses upper case and odd lengths,
//! and fixed-size values of another length, so each value has one text form.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes of any length, as lowercase hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

/// 32 bytes (a hash), as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex32(pub [u8; 32]);

/// 64 bytes (a signature), as 128 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex64(pub [u8; 64]);

fn decode_lowercase<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(serde::de::Error::custom("hex must be lowercase"));
    }
    hex::decode(&text).map_err(|e| serde::de::Error::custom(format!("not hex: {e}")))
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        decode_lowercase(deserializer).map(Self)
    }
}

macro_rules! fixed_hex {
    ($name:ident, $len:literal) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&hex::encode(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = decode_lowercase(deserializer)?;
                let array: [u8; $len] = bytes.try_into().map_err(|b: Vec<u8>| {
                    serde::de::Error::custom(format!(
                        "expected {} bytes of hex, found {}",
                        $len,
                        b.len()
                    ))
                })?;
                Ok(Self(array))
            }
        }
    };
}

fixed_hex!(Hex32, 32);
fixed_hex!(Hex64, 64);

impl std::fmt::Debug for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hex({})", hex::encode(&self.0))
    }
}

impl std::fmt::Debug for Hex32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hex32({})", hex::encode(self.0))
    }
}

impl std::fmt::Debug for Hex64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hex64({})", hex::encode(self.0))
    }
}
