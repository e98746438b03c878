//! Who may write: the consortium's trust configuration with a cache of verified certificates.
//!
//! Verifying an X.509 path costs far more than an Ed25519 signature, and a chain has one
//! certificate for thousands of blocks, so each certificate is verified once (for the provider
//! role, at the time of the first block that uses it) and its validity window is kept. Later
//! blocks only check their time against the window. Replacing the CRL builds a new `Trust`, which
//! drops the cache, so a revocation takes effect at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use medchain_protocol::identity::{CertError, Consortium, Member, Role};
use medchain_protocol::{CertHash, ChainId};

/// Most cached certificates; past this the cache is cleared (there is one per member, so a
/// consortium hitting this is far larger than the design expects, or someone is probing).
const MAX_CACHED_CERTS: usize = 4096;

/// A provider certificate that has been verified against the consortium.
#[derive(Clone, Debug)]
pub struct Provider {
    /// The member the certificate describes.
    pub member: Member,
    /// The chain its key owns.
    pub chain: ChainId,
}

/// The consortium root, its revocation lists, and the verified-certificate cache.
#[derive(Clone, Debug)]
pub struct Trust {
    consortium: Arc<Consortium>,
    /// The same root without revocation lists: for blocks signed before their certificate's
    /// revocation date.
    unrevoked: Option<Arc<Consortium>>,
    cache: Arc<Mutex<HashMap<CertHash, Provider>>>,
}

impl Trust {
    /// Trust rooted in `consortium`.
    pub fn new(consortium: Consortium) -> Self {
        let unrevoked = Consortium::new(consortium.root_cert_der().to_vec(), Vec::new())
            .ok()
            .map(Arc::new);
        Self {
            consortium: Arc::new(consortium),
            unrevoked,
            cache: Arc::default(),
        }
    }

    /// The consortium.
    pub fn consortium(&self) -> &Consortium {
        &self.consortium
    }

    /// The consortium, shared (the network layer checks peers' certificates against it).
    pub fn shared_consortium(&self) -> Arc<Consortium> {
        self.consortium.clone()
    }

    /// Verifies `cert_der` as a provider certificate valid at `at_ms` (ms since the epoch).
    pub fn provider(&self, cert_der: &[u8], at_ms: u64) -> Result<Provider, CertError> {
        let hash = CertHash::of(cert_der);
        let at = i64::try_from(at_ms / 1000).unwrap_or(i64::MAX);
        if let Some(provider) = self.cached(&hash) {
            let member = &provider.member;
            if at < member.not_before {
                return Err(CertError::NotYetValid {
                    not_before: member.not_before,
                    at,
                });
            }
            if at > member.not_after {
                return Err(CertError::Expired {
                    not_after: member.not_after,
                    at,
                });
            }
            return Ok(provider);
        }
        let member = self
            .consortium
            .verify(cert_der, at_ms / 1000, Some(Role::Provider))?;
        let provider = Provider {
            chain: ChainId::from_public_key(&member.public_key),
            member,
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED_CERTS {
                cache.clear();
            }
            cache.insert(hash, provider.clone());
        }
        Ok(provider)
    }

    /// Like [`Trust::provider`], for a block that is already part of the shared history: a range
    /// synced from a member, or a stored block being re-verified. A revoked certificate still
    /// covers blocks timed before its revocation date, so revoking a hospital stops its new
    /// blocks without erasing what it published while it was trusted. (New blocks arriving by
    /// gossip or `POST /v1/blocks` use the strict rule: a revoked signer could backdate them.)
    pub fn provider_in_history(&self, cert_der: &[u8], at_ms: u64) -> Result<Provider, CertError> {
        match self.provider(cert_der, at_ms) {
            Err(CertError::Revoked) => {
                let at = i64::try_from(at_ms / 1000).unwrap_or(i64::MAX);
                let revoked_at = self.consortium.revoked_at(cert_der).unwrap_or(i64::MIN);
                if at >= revoked_at {
                    return Err(CertError::Revoked);
                }
                self.unrevoked_provider(cert_der, at_ms)
            }
            other => other,
        }
    }

    /// [`Trust::provider`] as if nothing were revoked: for re-verifying stored blocks, which
    /// were accepted under the trust of their time. Whether the certificate was revoked by the
    /// block's time is [`Trust::revoked_by`]'s question.
    pub fn provider_ignoring_revocation(
        &self,
        cert_der: &[u8],
        at_ms: u64,
    ) -> Result<Provider, CertError> {
        match self.provider(cert_der, at_ms) {
            Err(CertError::Revoked) => self.unrevoked_provider(cert_der, at_ms),
            other => other,
        }
    }

    /// Whether the revocation list revokes this certificate at or before `at_ms`.
    pub fn revoked_by(&self, cert_der: &[u8], at_ms: u64) -> bool {
        let at = i64::try_from(at_ms / 1000).unwrap_or(i64::MAX);
        self.consortium
            .revoked_at(cert_der)
            .is_some_and(|revoked_at| at >= revoked_at)
    }

    /// The certificate verified against the root without revocation lists (not cached: the
    /// cache answers the strict rule).
    fn unrevoked_provider(&self, cert_der: &[u8], at_ms: u64) -> Result<Provider, CertError> {
        let unrevoked = self.unrevoked.as_ref().ok_or(CertError::Revoked)?;
        let member = unrevoked.verify(cert_der, at_ms / 1000, Some(Role::Provider))?;
        Ok(Provider {
            chain: ChainId::from_public_key(&member.public_key),
            member,
        })
    }

    fn cached(&self, hash: &CertHash) -> Option<Provider> {
        self.cache.lock().ok()?.get(hash).cloned()
    }
}
