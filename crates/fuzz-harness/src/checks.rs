//! The checks a node puts decoded objects through, run on whatever the fuzzer manages to decode.
//!
//! They mirror the node's own order (structure, then certificate, chain ownership, signature) using
//! only the protocol crate and the net crate's hello check, so a decoded object reaches as deep
//! as it would in a node. Results are discarded: only panics and the asserted properties count.

use medchain_protocol::identity::Role;
use medchain_protocol::message::{SyncRequest, SyncResponse};
use medchain_protocol::{Block, BlockMessage, ChainId, EquivocationEvidence, Hello};

use crate::pki::{AT_UNIX, NETWORK, fixtures};

/// A decoded block: structure, then (when it carries a certificate) the certificate as a provider
/// at the block's time, that its key owns the block's chain, and the signature.
pub(crate) fn block(block: &Block) {
    if block.check_structure().is_err() {
        return;
    }
    let (Some(certificate), Some(fixtures)) = (&block.certificate, fixtures()) else {
        return;
    };
    let at = block.header.time_ms / 1000;
    let Ok(member) = fixtures
        .consortium
        .verify(certificate, at, Some(Role::Provider))
    else {
        return;
    };
    if ChainId::from_public_key(&member.public_key) == block.header.chain {
        let _ = block.verify_signature(&member.public_key);
    }
}

/// A decoded block message: the block's checks, then its inline payloads.
pub(crate) fn block_message(message: &BlockMessage) {
    self::block(&message.block);
    if let Ok(hashes) = message.check_payloads() {
        assert_eq!(
            hashes.len(),
            message.payloads.len(),
            "check_payloads accepted payloads without returning one hash each"
        );
    }
}

/// Decoded equivocation evidence, checked as the chain crate does: one chain and height, two
/// different headers, the certificate a provider's owning that chain, both signatures by its key.
pub(crate) fn evidence(evidence: &EquivocationEvidence) {
    let (first, second) = (&evidence.first.header, &evidence.second.header);
    if first.chain != second.chain || first.height != second.height {
        return;
    }
    if first.hash() == second.hash() {
        return;
    }
    let Some(fixtures) = fixtures() else {
        return;
    };
    let at = first.time_ms.min(second.time_ms) / 1000;
    let Ok(member) = fixtures
        .consortium
        .verify(&evidence.certificate, at, Some(Role::Provider))
    else {
        return;
    };
    if ChainId::from_public_key(&member.public_key) == first.chain {
        let _ = evidence.first.verify_signature(&member.public_key);
        let _ = evidence.second.verify_signature(&member.public_key);
    }
}

/// A decoded hello: its own checks against our network and against the one it names (so the
/// agent and certificate size checks run too), then the net crate's membership check (network,
/// certificate against the consortium, key against the provider's peer ID).
pub(crate) fn hello(hello: &Hello) {
    let _ = hello.check(NETWORK);
    let _ = hello.check(&hello.network);
    let Some(fixtures) = fixtures() else {
        return;
    };
    let _ = medchain_net::membership::check_hello(
        &fixtures.consortium,
        NETWORK,
        hello,
        &fixtures.provider_peer,
        AT_UNIX,
    );
}

/// A decoded sync request: the hello it may carry (the others are checked by the responder
/// against its store).
pub(crate) fn request(request: &SyncRequest) {
    if let SyncRequest::Hello(h) = request {
        hello(h);
    }
}

/// A decoded sync response: every block, block message, evidence item or hello it carries.
pub(crate) fn response(response: &SyncResponse) {
    match response {
        SyncResponse::Hello(h) => hello(h),
        SyncResponse::Blocks(blocks) => blocks.iter().for_each(block),
        SyncResponse::Range(messages) => messages.iter().for_each(block_message),
        SyncResponse::Evidence(items) => items.iter().for_each(evidence),
        SyncResponse::DataKeys(answers) => answers.iter().for_each(key_answer),
        SyncResponse::KeyBackups(backups) => {
            // A peer's backup is checked for shape and opened as a restore would (with a key
            // it was not made for: it must fail cleanly, whatever the bytes).
            let key = medchain_protocol::identity::EncryptionKey::derive(&[2; 32]);
            for backup in backups {
                let _ = backup.is_well_formed() && backup.open(&key).is_ok();
            }
        }
        SyncResponse::Heads(_)
        | SyncResponse::Payload(_)
        | SyncResponse::NotFound
        | SyncResponse::Error(_) => {}
    }
}

/// One answer of a key request: a released key is opened as the requester would (with a key it
/// was not released to, so it must fail cleanly, whatever the bytes).
fn key_answer(answer: &medchain_protocol::message::KeyAnswer) {
    use medchain_protocol::message::KeyOutcome;
    if let KeyOutcome::Released(bytes) = &answer.outcome {
        let key = medchain_protocol::identity::EncryptionKey::derive(&[1; 32]);
        let _ = medchain_protocol::key_release::open_release(&key, &answer.at, bytes);
    }
}
