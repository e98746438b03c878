//! Grants as a grantee sees them: the grants in force to this node's organisation on other
//! providers' chains, each with the records it opens. No member can look another provider's
//! patient up by identifier (each provider pseudonymises with its own key), so a patient grant
//! is how a grantee finds that patient's records at the provider that granted them.

use medchain_protocol::{ChainId, PatientRef};

use super::{Service, ServiceError};

/// A grant in force to this node's organisation, on another provider's chain
/// (`GET /v1/grants`).
#[derive(Debug, serde::Serialize)]
pub struct ReceivedGrant {
    /// The grant entry.
    #[serde(flatten)]
    pub grant: medchain_chain::grants::TermsEntry,
    /// The patient, by the granting provider's pseudonym.
    pub patient: PatientRef,
    /// The records it opens: the one named, or for a patient grant every record of that
    /// patient at the granting provider (present and future: as of now).
    pub records: Vec<medchain_protocol::RecordId>,
}

/// Most grants one listing returns.
const MAX_LISTED_GRANTS: usize = 1000;

impl Service {
    /// The grants in force to this node's organisation on other providers' chains: how a
    /// grantee finds a patient's records at the provider that granted them (no member can look
    /// another provider's patient up by identifier).
    pub fn grants_received(&self) -> Result<Vec<ReceivedGrant>, ServiceError> {
        self.coordination.integrity().check()?;
        let Some(org) = self.member_org.clone() else {
            return Ok(Vec::new());
        };
        let own = self.own_chain();
        let pairs = self
            .reads
            .store()
            .terms_pairs(usize::MAX)?
            .unwrap_or_default();
        let mut out = Vec::new();
        for (chain, patient) in pairs.into_iter().filter(|(c, _)| Some(*c) != own) {
            let terms = self.terms_of(&chain, &patient)?;
            let mut patient_records: Option<Vec<medchain_protocol::RecordId>> = None;
            let mut named: Vec<medchain_protocol::RecordId> = terms
                .covering_all()
                .filter(|t| t.to.as_deref() == Some(org.as_str()))
                .map(|t| t.record)
                .collect();
            named.sort_unstable();
            named.dedup();
            for record in named {
                let Some(grant) = terms
                    .in_force(&record)
                    .into_iter()
                    .find(|t| t.to.as_deref() == Some(org.as_str()))
                    .cloned()
                else {
                    continue;
                };
                let records = if grant.whole_patient {
                    if patient_records.is_none() {
                        patient_records = Some(self.records_of(&chain, &patient)?);
                    }
                    patient_records.clone().unwrap_or_default()
                } else {
                    vec![record]
                };
                if !out.iter().any(|g: &ReceivedGrant| g.grant.at == grant.at) {
                    out.push(ReceivedGrant {
                        grant,
                        patient,
                        records,
                    });
                }
                if out.len() >= MAX_LISTED_GRANTS {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }

    /// The records of `patient` on `chain` (their payload-bearing entries'), in chain order.
    fn records_of(
        &self,
        chain: &ChainId,
        patient: &PatientRef,
    ) -> Result<Vec<medchain_protocol::RecordId>, ServiceError> {
        let mut records = Vec::new();
        let mut block: Option<medchain_protocol::Block> = None;
        for at in self.reads.store().patient_entries(patient)? {
            if at.chain != *chain {
                continue;
            }
            if block.as_ref().is_none_or(|b| b.header.height != at.height) {
                block = self.reads.block_at(chain, at.height)?;
            }
            let record = block
                .as_ref()
                .and_then(|b| b.entries.get(at.index as usize))
                .filter(|e| e.patient == *patient && e.payload.is_some())
                .map(|e| e.record);
            if let Some(record) = record
                && !records.contains(&record)
            {
                records.push(record);
            }
        }
        Ok(records)
    }
}
