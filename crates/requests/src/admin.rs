//! The body of `POST /v1/admin/writes/resume`: an operator lifts a pause of writes by hand, and
//! says who they are and why (both are recorded, so both must be printable and bounded).

use medchain_protocol::entry::is_printable_text;
use serde::Deserialize;

use crate::RequestError;

/// Longest `actor` of a resume, in bytes.
pub const MAX_RESUME_ACTOR_LEN: usize = 128;
/// Longest `reason` of a resume, in bytes.
pub const MAX_RESUME_REASON_LEN: usize = 1024;

/// `{"actor": ..., "reason": ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resume {
    /// Who lifts the pause (recorded).
    pub actor: String,
    /// Why (recorded).
    pub reason: String,
}

impl Resume {
    /// Refuses an actor or reason that is empty, too long or not printable.
    pub fn check(&self) -> Result<(), RequestError> {
        if !is_printable_text(&self.actor, MAX_RESUME_ACTOR_LEN) {
            return Err(RequestError::NotPrintable {
                field: "actor",
                max: MAX_RESUME_ACTOR_LEN,
            });
        }
        if !crate::is_ascii_text(&self.reason, MAX_RESUME_REASON_LEN) {
            return Err(RequestError::NotAscii {
                field: "reason",
                max: MAX_RESUME_REASON_LEN,
            });
        }
        Ok(())
    }
}
