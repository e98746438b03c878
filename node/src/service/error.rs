//! Errors of the node's service layer, each with the HTTP status the API answers with.

use medchain_chain::{AuthorError, provenance::HistoryError};
use medchain_store::StoreError;

/// Why a service call failed. Messages are safe to show to API clients: they never contain a
/// patient identifier or a payload.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// The node's role does not allow this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing by that name here (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// What was asked for existed and is erased for good (HTTP 410).
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the node's state (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The node cannot serve this now (HTTP 503), e.g. its own certificate is not valid.
    #[error("{0}")]
    Unavailable(String),
    /// The store failed (HTTP 500).
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    /// A batched write failed for a reason reported by another thread (HTTP 500).
    #[error("{0}")]
    Failed(String),
}

impl ServiceError {
    /// The HTTP status code for this error.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::BadRequest(_) => 400,
            ServiceError::Forbidden(_) => 403,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Gone(_) => 410,
            ServiceError::Unavailable(_) => 503,
            // Damage found while reading: the node cannot vouch for this answer now (it scans
            // and repairs); not an error of the request, nor a bug.
            ServiceError::Store(e) if e.is_corruption() => 503,
            // The payload object store is down or refusing: the node cannot answer or write
            // now; the request may be retried.
            ServiceError::Store(medchain_store::StoreError::ObjectStore { .. }) => 503,
            ServiceError::Store(_) | ServiceError::Failed(_) => 500,
        }
    }
}

impl From<AuthorError> for ServiceError {
    fn from(error: AuthorError) -> Self {
        match error {
            AuthorError::Store(e) => ServiceError::Store(e),
            AuthorError::SelfCheck(rejection) => ServiceError::Unavailable(format!(
                "this node cannot write: its own block does not validate ({rejection})"
            )),
            AuthorError::KeyMismatch
            | AuthorError::Signing(_)
            | AuthorError::ChainFull
            | AuthorError::Seal { .. } => ServiceError::Unavailable(error.to_string()),
            other => ServiceError::BadRequest(other.to_string()),
        }
    }
}

impl From<medchain_requests::RequestError> for ServiceError {
    fn from(error: medchain_requests::RequestError) -> Self {
        ServiceError::BadRequest(error.to_string())
    }
}

impl From<HistoryError> for ServiceError {
    fn from(error: HistoryError) -> Self {
        match error {
            HistoryError::UnknownRecord(_) => ServiceError::NotFound(error.to_string()),
            HistoryError::Store(e) => ServiceError::Store(e),
        }
    }
}

impl From<crate::coordination::Unvouched> for ServiceError {
    fn from(error: crate::coordination::Unvouched) -> Self {
        ServiceError::Unavailable(error.to_string())
    }
}
