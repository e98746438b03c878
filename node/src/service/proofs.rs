//! Offline proofs of a record's entries (`GET /v1/records/{id}/proof`): built from the
//! signature-checked store by `medchain_chain::proof`, checked by `medchain proof verify` with
//! no node. A proof request is a read of the record, so it is audited like one.

use medchain_chain::proof::{self, ProofBuildError};
use medchain_chain::provenance::Limits;
use medchain_protocol::proof::ProofBundle;
use medchain_protocol::{EntryRef, RecordId};

use super::{Service, ServiceError};

impl Service {
    /// The proof of the entry at `at` (an entry about `record`), or of the record's latest
    /// version when `at` is `None`; the read is audited.
    pub fn proof(
        &self,
        record: RecordId,
        at: Option<EntryRef>,
        actor: &str,
    ) -> Result<ProofBundle, ServiceError> {
        self.coordination.integrity().check()?;
        let at = match at {
            Some(at) => at,
            None => self.latest_version(record)?,
        };
        let entry = self
            .entry(&at)?
            .filter(|entry| entry.record == record)
            .ok_or_else(|| {
                ServiceError::NotFound(format!("record {record} has no entry {at} held here"))
            })?;
        let trust = self.ledger().trust().clone();
        let bundle = proof::build(&self.reads, &trust, at).map_err(|error| match error {
            ProofBuildError::Store(e) => self.read_failed(e),
            ProofBuildError::NotHeld(_) => {
                ServiceError::NotFound(format!("record {record} has no entry {at} held here"))
            }
            other @ ProofBuildError::NoCertificate { .. } => {
                tracing::error!(error = %other, "a held block's certificate is missing");
                ServiceError::Unavailable(other.to_string())
            }
        })?;
        self.audit_read(actor, record, entry.patient, at)?;
        Ok(bundle)
    }

    /// The position of the record's latest version (not a grant, revoke or erase).
    fn latest_version(&self, record: RecordId) -> Result<EntryRef, ServiceError> {
        let limits = Limits {
            max_depth: 0,
            max_records: 1,
        };
        self.history_of(record, limits)?
            .records
            .first()
            .and_then(|node| node.versions.iter().rev().find(|v| !v.kind.has_terms()))
            .map(|version| version.at)
            .ok_or_else(|| ServiceError::NotFound(format!("record {record} is not known here")))
    }
}
