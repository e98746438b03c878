//! Releasing data keys to a grantee that asks (the owner's side of the key request): for each
//! entry of our chain, its data key wrapped with HPKE to the requester, if a grant on our
//! chain opens the entry's record to the organisation the requester's admitted certificate
//! names; else why not. A member can only ever receive keys for itself: the key is wrapped to
//! the encryption key that same certificate binds.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use medchain_chain::grants::{PatientTerms, Standing};
use medchain_protocol::identity::{encryption_key_of, org_of};
use medchain_protocol::message::{KeyAnswer, KeyOutcome};
use medchain_protocol::{Block, EntryRef, PatientRef};

use super::{Service, ServiceError};

impl Service {
    /// Answers a key request from the member admitted on `certificate`: for each entry, its
    /// data key released to that member if a grant on our chain opens it to the member's
    /// organisation, else why not.
    pub fn release_keys(
        &self,
        certificate: &[u8],
        entries: &[EntryRef],
    ) -> Result<Vec<KeyAnswer>, ServiceError> {
        self.coordination.integrity().check()?;
        let answer = |at: &EntryRef, outcome| KeyAnswer { at: *at, outcome };
        let (Some(own), Some(org), Some(recipient)) = (
            self.own_chain(),
            org_of(certificate),
            encryption_key_of(certificate),
        ) else {
            return Ok(entries
                .iter()
                .map(|at| answer(at, KeyOutcome::NotHeld))
                .collect());
        };
        let mut blocks: HashMap<u64, Option<Block>> = HashMap::new();
        let mut terms: HashMap<PatientRef, PatientTerms> = HashMap::new();
        let (mut released, mut refused) = (0usize, 0usize);
        let mut out = Vec::with_capacity(entries.len());
        for at in entries {
            if at.chain != own {
                out.push(answer(at, KeyOutcome::NotHeld));
                continue;
            }
            let block = match blocks.entry(at.height) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(slot) => slot.insert(
                    self.reads
                        .block_at(&own, at.height)
                        .map_err(|e| self.read_failed(e))?,
                ),
            };
            let entry = block
                .as_ref()
                .and_then(|b| b.entries.get(at.index as usize))
                .filter(|e| e.payload.is_some());
            let Some(entry) = entry else {
                out.push(answer(at, KeyOutcome::NotHeld));
                continue;
            };
            let patient_terms = match terms.entry(entry.patient) {
                Entry::Occupied(held) => held.into_mut(),
                Entry::Vacant(slot) => slot.insert(self.terms_of(&own, &entry.patient)?),
            };
            let outcome = match patient_terms.standing(at, &entry.record, &org) {
                Standing::Erased => KeyOutcome::Erased,
                Standing::Closed => {
                    refused += 1;
                    KeyOutcome::NotGranted
                }
                Standing::Open => match self.keys.release(self.reads.store(), at, &recipient) {
                    Ok(bytes) => {
                        released += 1;
                        KeyOutcome::Released(bytes.to_vec().into())
                    }
                    Err(e) => {
                        tracing::warn!(entry = %at, error = %e, "a granted key cannot be released");
                        KeyOutcome::NotHeld
                    }
                },
            };
            out.push(answer(at, outcome));
        }
        if released > 0 || refused > 0 {
            tracing::info!(%org, released, refused, "key request answered");
        }
        Ok(out)
    }
}
