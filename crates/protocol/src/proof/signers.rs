//! Checking the signed headers of a proof: canonical decoding, the block rules a header alone
//! can show, the certificate the header names, the chain the key owns, the signature, and the
//! certificate at the block's time under the consortium (a certificate revoked after the block
//! still covers it, and is reported so).

use crate::BlockHeader;
use crate::block::{Signature, SignedHeader};
use crate::encoding;
use crate::identity::{CertError, Consortium, Member, Role, public_key_of};
use crate::ids::{BlockHash, CertHash, ChainId};
use crate::limits::{MAX_BLOCK_BYTES, MAX_ENTRIES_PER_BLOCK, MAX_WITNESSES, PROTOCOL_VERSION};

use super::SignedBlockHeader;
use super::verify::{Invalid, Revocation};

/// Checks signed headers against the consortium, applying the chain rules' revocation rule: a
/// certificate revoked after a block's time still covers that block.
pub(super) struct Signers<'a> {
    consortium: &'a Consortium,
    /// The same root without revocation lists, for certificates revoked after the block.
    unrevoked: Option<Consortium>,
}

impl<'a> Signers<'a> {
    pub(super) fn new(consortium: &'a Consortium) -> Self {
        let unrevoked = consortium
            .has_revocation_lists()
            .then(|| Consortium::new(consortium.root_cert_der().to_vec(), Vec::new()).ok())
            .flatten();
        Self {
            consortium,
            unrevoked,
        }
    }

    pub(super) fn check(
        &self,
        part: &str,
        signed: &SignedBlockHeader,
    ) -> Result<(BlockHeader, Member, Revocation), Invalid> {
        let header: BlockHeader =
            encoding::decode(&signed.header.0, MAX_BLOCK_BYTES).map_err(|error| {
                Invalid::MalformedHeader {
                    part: part.to_owned(),
                    error,
                }
            })?;
        if header.version != PROTOCOL_VERSION {
            return Err(Invalid::Version {
                part: part.to_owned(),
                version: header.version,
            });
        }
        if let Some(rule) = broken_header_rule(&header) {
            return Err(Invalid::HeaderRule {
                part: part.to_owned(),
                rule,
            });
        }
        let certificate = &signed.certificate.0;
        if CertHash::of(certificate) != header.cert {
            return Err(Invalid::CertificateNotNamed {
                part: part.to_owned(),
            });
        }
        let key = public_key_of(certificate)
            .filter(|key| ChainId::from_public_key(key) == header.chain)
            .ok_or_else(|| Invalid::KeyNotChain {
                part: part.to_owned(),
            })?;
        let signed_header = SignedHeader {
            header,
            signature: Signature(signed.signature.0),
        };
        if !signed_header.verify_signature(&key) {
            return Err(Invalid::BadSignature {
                part: part.to_owned(),
            });
        }
        let header = signed_header.header;
        let (signer, revocation) =
            self.signer(certificate, header.time_ms / 1000)
                .map_err(|error| Invalid::Certificate {
                    part: part.to_owned(),
                    error,
                })?;
        Ok((header, signer, revocation))
    }

    fn signer(&self, certificate: &[u8], at: u64) -> Result<(Member, Revocation), CertError> {
        match self
            .consortium
            .verify(certificate, at, Some(Role::Provider))
        {
            Ok(member) if self.unrevoked.is_some() => Ok((member, Revocation::NotRevoked)),
            Ok(member) => Ok((member, Revocation::NotChecked)),
            Err(CertError::Revoked) => {
                let revoked_at = self.consortium.revoked_at(certificate);
                let signed_at = i64::try_from(at).unwrap_or(i64::MAX);
                match (revoked_at, &self.unrevoked) {
                    (Some(revoked_at), Some(unrevoked)) if signed_at < revoked_at => {
                        let member = unrevoked.verify(certificate, at, Some(Role::Provider))?;
                        Ok((member, Revocation::RevokedLater(revoked_at)))
                    }
                    _ => Err(CertError::Revoked),
                }
            }
            Err(other) => Err(other),
        }
    }
}

/// The block rules of section 6 a header alone can be held to: no node keeps a block breaking
/// them, so no proof may rest on one.
fn broken_header_rule(header: &BlockHeader) -> Option<&'static str> {
    let witnesses = &header.witnesses;
    if header.entry_count as usize > MAX_ENTRIES_PER_BLOCK {
        return Some("too many entries");
    }
    if (header.height == 0) != (header.prev == BlockHash::ZERO) {
        return Some("prev must be zero exactly at genesis");
    }
    if witnesses.len() > MAX_WITNESSES
        || witnesses.windows(2).any(|w| w[0].chain >= w[1].chain)
        || witnesses.iter().any(|w| w.chain == header.chain)
    {
        return Some("witnesses must be other chains, strictly sorted, at most 64");
    }
    None
}
