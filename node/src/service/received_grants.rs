//! Grants as a grantee sees them: the grants in force to this node's organisation on other
//! providers' chains, each with the records it opens. No member can look another provider's
//! patient up by identifier (each provider pseudonymises with its own key), so a patient grant
//! is how a grantee finds that patient's records at the provider that granted them.

use medchain_chain::grants::TermsEntry;
use medchain_protocol::{ChainId, EntryKind, EntryRef, PatientRef, RecordId};

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
        let mut pairs = match self.terms_pairs.all() {
            Some(pairs) => pairs,
            None => self
                .reads
                .store()
                .terms_pairs(usize::MAX)?
                .unwrap_or_default(),
        };
        let to_us = |t: &&TermsEntry| {
            t.to.as_deref() == Some(org.as_str())
                && matches!(t.kind, EntryKind::Grant | EntryKind::Revoke)
        };
        // One order from one call to the next (the set of pairs has none).
        pairs.sort_unstable();
        pairs.dedup();
        let mut out = Vec::new();
        for (chain, patient) in pairs.into_iter().filter(|(c, _)| Some(*c) != own) {
            let terms = self.terms_of(&chain, &patient)?;
            // A patient grant: in force if the latest patient-level grant or revoke to us is a
            // grant; it opens the patient's records there that are open to us and not erased.
            let patient_grant = terms
                .covering_all()
                .filter(to_us)
                .filter(|t| t.whole_patient)
                .last()
                .filter(|t| t.kind == EntryKind::Grant);
            // Record grants: each record whose latest record-level grant or revoke to us is a
            // grant, which is open to us and not erased.
            let mut named: Vec<RecordId> = terms
                .covering_all()
                .filter(to_us)
                .filter(|t| !t.whole_patient)
                .map(|t| t.record)
                .collect();
            named.sort_unstable();
            named.dedup();
            // One walk of the patient's payload entries serves both kinds of grant.
            let records = if patient_grant.is_some() || !named.is_empty() {
                self.records_of(&chain, &patient)?
            } else {
                Vec::new()
            };
            let erased = |record: &RecordId| {
                records
                    .iter()
                    .find(|(r, _)| r == record)
                    .is_some_and(|(_, latest)| terms.erased(latest, record))
            };
            if let Some(grant) = patient_grant {
                let opened = records
                    .iter()
                    .filter(|(record, latest)| {
                        terms.open_to(record, &org) && !terms.erased(latest, record)
                    })
                    .map(|(record, _)| *record)
                    .collect();
                out.push(ReceivedGrant {
                    grant: grant.clone(),
                    patient,
                    records: opened,
                });
            }
            for record in named {
                let latest = terms
                    .covering_all()
                    .filter(to_us)
                    .filter(|t| !t.whole_patient && t.record == record)
                    .last()
                    .filter(|t| t.kind == EntryKind::Grant);
                if let Some(grant) = latest
                    && terms.open_to(&record, &org)
                    && !erased(&record)
                {
                    out.push(ReceivedGrant {
                        grant: grant.clone(),
                        patient,
                        records: vec![record],
                    });
                }
            }
            if out.len() >= MAX_LISTED_GRANTS {
                out.truncate(MAX_LISTED_GRANTS);
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// The records of `patient` on `chain` (their payload-bearing entries'), in chain order,
    /// each with its latest such entry.
    fn records_of(
        &self,
        chain: &ChainId,
        patient: &PatientRef,
    ) -> Result<Vec<(RecordId, EntryRef)>, ServiceError> {
        let mut records: Vec<(RecordId, EntryRef)> = Vec::new();
        for (at, entry) in self.payload_entries_of(chain, patient)? {
            match records.iter_mut().find(|(r, _)| *r == entry.record) {
                Some(held) => held.1 = at,
                None => records.push((entry.record, at)),
            }
        }
        Ok(records)
    }
}
