//! Pseudonymous patient references.
//!
//! A plaintext patient identifier never goes on a chain, into a log or into any type of this
//! crate. It is turned at once into a [`PatientRef`]: a keyed blake3 hash under a secret
//! [`PseudonymKey`] shared by the consortium's members. Without the key nobody can test a guessed
//! identifier against the chains; with it, every member maps the same patient to the same
//! reference and can find that patient's records across hospitals.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hash::Domain;
pub use crate::ids::PatientRef;

/// A provider's own secret key for its patients' pseudonyms (no other member holds it). Zeroed
/// on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PseudonymKey([u8; 32]);

impl PseudonymKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the key from 64 hex characters (the form kept in configuration).
    pub fn from_hex(hex_key: &str) -> Result<Self, PatientError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| PatientError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The key's hex form, for writing configuration.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PseudonymKey(<secret>)")
    }
}

/// Errors in pseudonymisation input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatientError {
    /// The identifier is empty after trimming surrounding whitespace.
    #[error("patient identifier is empty")]
    EmptyIdentifier,
    /// The identifier is longer than [`PatientRef::MAX_IDENTIFIER_LEN`] bytes.
    #[error(
        "patient identifier is longer than {} bytes",
        PatientRef::MAX_IDENTIFIER_LEN
    )]
    IdentifierTooLong,
    /// The pseudonym key is not 64 hex characters.
    #[error("pseudonym key must be 64 hex characters")]
    BadKey,
}

impl PatientRef {
    /// The longest identifier accepted, in bytes.
    pub const MAX_IDENTIFIER_LEN: usize = 256;

    /// Pseudonymises a patient identifier. Surrounding whitespace is trimmed; everything else is
    /// significant (callers canonicalise identifiers of their own scheme before this).
    pub fn pseudonymise(key: &PseudonymKey, identifier: &str) -> Result<Self, PatientError> {
        let identifier = identifier.trim();
        if identifier.is_empty() {
            return Err(PatientError::EmptyIdentifier);
        }
        if identifier.len() > Self::MAX_IDENTIFIER_LEN {
            return Err(PatientError::IdentifierTooLong);
        }
        // A sub-key per purpose, so the consortium key is never used directly.
        let mut sub_key = Domain::PatientRef.hash(&key.0);
        let reference = blake3::keyed_hash(&sub_key, identifier.as_bytes());
        sub_key.zeroize();
        Ok(Self(*reference.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_patient_same_ref_and_key_matters() {
        let k1 = PseudonymKey::from_bytes([1; 32]);
        let k2 = PseudonymKey::from_bytes([2; 32]);
        let a = PatientRef::pseudonymise(&k1, "MRN-0042").unwrap();
        assert_eq!(a, PatientRef::pseudonymise(&k1, "  MRN-0042\n").unwrap());
        assert_ne!(a, PatientRef::pseudonymise(&k1, "MRN-0043").unwrap());
        assert_ne!(a, PatientRef::pseudonymise(&k2, "MRN-0042").unwrap());
        assert!(!a.to_hex().contains(&hex::encode("MRN-0042")));
    }

    #[test]
    fn bad_input_refused() {
        let k = PseudonymKey::from_bytes([1; 32]);
        assert_eq!(
            PatientRef::pseudonymise(&k, "   "),
            Err(PatientError::EmptyIdentifier)
        );
        assert_eq!(
            PatientRef::pseudonymise(&k, &"x".repeat(257)),
            Err(PatientError::IdentifierTooLong)
        );
        assert!(PseudonymKey::from_hex("abc").is_err());
        let hex_key = k.to_hex();
        assert_eq!(PseudonymKey::from_hex(&hex_key).unwrap().to_hex(), hex_key);
        assert_eq!(format!("{k:?}"), "PseudonymKey(<secret>)");
    }
}
