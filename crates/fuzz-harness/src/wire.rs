//! Harnesses for blocks and wire messages: decode, assert canonical form, then run what decoded
//! through the checks a node would.

use medchain_protocol::message::{SyncRequest, SyncResponse, WireMessage};
use medchain_protocol::{Block, BlockMessage, EquivocationEvidence};

use crate::checks;

/// Decodes a wire message; if it decodes, asserts that it re-encodes to the same bytes.
fn decode_wire<M: WireMessage>(data: &[u8]) -> Option<M> {
    let message = M::from_wire(data).ok()?;
    assert!(
        message.to_wire() == data,
        "a decoded wire message does not re-encode to its bytes"
    );
    Some(message)
}

/// A stored or synced block: `Block::decode`, then `check_structure` and the certificate and
/// signature checks on what decodes.
pub fn block(data: &[u8]) {
    let Ok(block) = Block::decode(data) else {
        return;
    };
    assert!(
        block.encode() == data,
        "a decoded block does not re-encode to its bytes"
    );
    checks::block(&block);
}

/// A gossiped block message: `BlockMessage::from_wire`, then the block's checks and
/// `check_payloads`.
pub fn block_message(data: &[u8]) {
    if let Some(message) = decode_wire::<BlockMessage>(data) {
        checks::block_message(&message);
    }
}

/// Gossiped equivocation evidence: `EquivocationEvidence::from_wire`, then the evidence checks.
pub fn evidence(data: &[u8]) {
    if let Some(evidence) = decode_wire::<EquivocationEvidence>(data) {
        checks::evidence(&evidence);
    }
}

/// A sync request body: `SyncRequest::from_wire`, then the hello it may carry.
pub fn sync_request(data: &[u8]) {
    if let Some(request) = decode_wire::<SyncRequest>(data) {
        checks::request(&request);
    }
}

/// A sync response body: `SyncResponse::from_wire`, then everything it carries.
pub fn sync_response(data: &[u8]) {
    if let Some(response) = decode_wire::<SyncResponse>(data) {
        checks::response(&response);
    }
}

/// A hello, as a request or as a response (both are the first variant, so the same bytes are
/// tried as each): `from_wire`, `Hello::check`, then the membership check.
pub fn hello(data: &[u8]) {
    if let Some(SyncRequest::Hello(hello)) = decode_wire::<SyncRequest>(data) {
        checks::hello(&hello);
    }
    if let Some(SyncResponse::Hello(hello)) = decode_wire::<SyncResponse>(data) {
        checks::hello(&hello);
    }
}
