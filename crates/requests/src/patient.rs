//! The body of `POST /v1/patients/records`: the patient lookup. The identifier travels in the
//! body, never in a URL, so it reaches no access log, proxy log or browser history.

use medchain_protocol::{PatientRef, PseudonymKey};
use serde::Deserialize;

use crate::RequestError;

/// `{"patient": ID}`. Its `Debug` leaves the identifier out, so no log line can carry it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientQuery {
    /// The patient's identifier (a medical record number).
    pub patient: String,
}

impl std::fmt::Debug for PatientQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientQuery")
            .field("patient", &"(withheld)")
            .finish()
    }
}

impl PatientQuery {
    /// The patient's pseudonym under `key`; the identifier itself goes no further.
    pub fn pseudonym(&self, key: &PseudonymKey) -> Result<PatientRef, RequestError> {
        if !crate::is_printable_ascii(&self.patient) {
            return Err(RequestError::PatientNotAscii);
        }
        PatientRef::pseudonymise(key, &self.patient).map_err(RequestError::Patient)
    }
}
