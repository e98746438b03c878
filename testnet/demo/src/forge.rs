//! Attackers' tools for the demo: properly signed blocks from keys that must not be trusted.
//! Each one is a real block, signed with a real Ed25519 key under a real X.509 certificate; only
//! the consortium's rules make the nodes refuse it.

use std::path::Path;

use anyhow::{Context, Result};
use medchain_protocol::identity::{self, MemberKey};
use medchain_protocol::message::WireMessage;
use medchain_protocol::{
    Block, BlockDraft, BlockHash, BlockMessage, ChainId, Entry, EntryKind, PatientRef, PayloadHash,
    PayloadRef, RecordId,
};

/// A signer: key and certificate.
pub struct Signer {
    /// The key.
    pub key: MemberKey,
    /// The certificate (DER).
    pub certificate: Vec<u8>,
}

impl Signer {
    /// Reads `member.key` and `member.pem` from a member directory.
    pub fn from_member_dir(dir: &Path) -> Result<Self> {
        let key_pem = std::fs::read_to_string(dir.join("member.key"))
            .with_context(|| format!("cannot read {}/member.key", dir.display()))?;
        let cert_pem = std::fs::read_to_string(dir.join("member.pem"))
            .with_context(|| format!("cannot read {}/member.pem", dir.display()))?;
        Ok(Self {
            key: MemberKey::from_pkcs8_pem(&key_pem).context("member.key")?,
            certificate: identity::pem_to_der_cert(&cert_pem).context("member.pem")?,
        })
    }

    /// The chain this key owns.
    pub fn chain(&self) -> ChainId {
        ChainId::from_public_key(&self.key.public_key())
    }

    /// A block at `height` after `prev` with one create entry and its payload inline, as gossip
    /// would carry it.
    pub fn block(
        &self,
        height: u64,
        prev: BlockHash,
        time_ms: u64,
        actor: &str,
    ) -> (Block, Vec<u8>) {
        let chain = self.chain();
        let payload =
            br#"{"resourceType":"Observation","status":"final","code":{"text":"forged"}}"#.to_vec();
        let entry = Entry {
            kind: EntryKind::Create,
            record: RecordId::derive(&chain, height, 0),
            // A pseudonym nobody can link to a patient: the demo never handles real identifiers.
            patient: PatientRef([0x5a; 32]),
            actor: actor.to_owned(),
            payload: Some(PayloadRef {
                hash: PayloadHash::of(&payload),
                len: payload.len() as u64,
                content_type: "application/fhir+json".into(),
            }),
            parents: vec![],
            terms: None,
        };
        let block = BlockDraft {
            chain,
            height,
            prev,
            time_ms,
            certificate: self.certificate.clone(),
            carry_certificate: height == 0,
            witnesses: vec![],
            entries: vec![entry],
        }
        .seal(&self.key);
        (block, payload)
    }
}

/// The block message for `block` with `payloads` inline.
pub fn wire(block: Block, payloads: Vec<Vec<u8>>) -> Vec<u8> {
    BlockMessage {
        block,
        payloads: payloads.into_iter().map(Into::into).collect(),
    }
    .to_wire()
}

/// Figure 1: `original` with its first entry's actor changed, re-sealed by `insider` (who holds
/// the chain's real key) with the same height, predecessor and time.
pub fn resign_modified(original: &Block, insider: &Signer, actor: &str) -> Result<Block> {
    let mut entries = original.entries.clone();
    let first = entries.first_mut().context("the block has no entries")?;
    first.actor = actor.to_owned();
    let h = &original.header;
    Ok(BlockDraft {
        chain: h.chain,
        height: h.height,
        prev: h.prev,
        time_ms: h.time_ms,
        certificate: insider.certificate.clone(),
        carry_certificate: original.certificate.is_some(),
        witnesses: h.witnesses.clone(),
        entries,
    }
    .seal(&insider.key))
}

/// Decodes a block message exported by `GET .../wire`.
pub fn decode(bytes: &[u8]) -> Result<Block> {
    Ok(BlockMessage::from_wire(bytes)
        .context("the node's export is not a block message")?
        .block)
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
