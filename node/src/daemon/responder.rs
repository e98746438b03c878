//! Answering peers' sync requests from the store: heads, block ranges trimmed to the response
//! limit (with their inline payloads for `Range`), payloads by hash, equivocation evidence.

use std::collections::HashSet;

use medchain_protocol::limits::{
    MAX_BLOCKS_PER_RANGE, MAX_EVIDENCE_PER_RESPONSE, MAX_HEADS, MAX_INLINE_PAYLOAD_BYTES,
    MAX_INLINE_PAYLOADS_TOTAL, MAX_SYNC_RESPONSE_BYTES,
};
use medchain_protocol::message::{SyncError, SyncErrorCode};
use medchain_protocol::{Block, BlockMessage, SyncRequest, SyncResponse};
use tracing::error;

use crate::service::Service;

/// The answer to a sync request, from the store.
pub fn respond(service: &Service, request: SyncRequest) -> SyncResponse {
    let internal = |e: medchain_store::StoreError| {
        error!(error = %e, "store failed while answering a peer");
        SyncResponse::Error(SyncError {
            code: SyncErrorCode::Internal,
            message: "store error".into(),
        })
    };
    service.with_ledger(|ledger| {
        let store = ledger.store();
        match request {
            SyncRequest::Heads => match store.heads() {
                Ok(mut heads) => {
                    heads.truncate(MAX_HEADS);
                    SyncResponse::Heads(heads)
                }
                Err(e) => internal(e),
            },
            SyncRequest::Blocks { chain, from, limit } => {
                match store.blocks_range(&chain, from, limit.min(MAX_BLOCKS_PER_RANGE)) {
                    Ok(blocks) => SyncResponse::Blocks(fit_response(blocks)),
                    Err(e) => internal(e),
                }
            }
            SyncRequest::Range { chain, from, limit } => {
                match store.blocks_range(&chain, from, limit.min(MAX_BLOCKS_PER_RANGE)) {
                    Ok(blocks) => match with_inline_payloads(store, blocks) {
                        Ok(messages) => SyncResponse::Range(messages),
                        Err(e) => internal(e),
                    },
                    Err(e) => internal(e),
                }
            }
            SyncRequest::Payload(hash) => match store.payload(&hash) {
                Ok(Some(bytes)) => SyncResponse::Payload(bytes.into()),
                Ok(None) => SyncResponse::NotFound,
                Err(e) => internal(e),
            },
            SyncRequest::Evidence { skip } => match store.evidence() {
                Ok(all) => SyncResponse::Evidence(
                    all.into_iter()
                        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                        .take(MAX_EVIDENCE_PER_RESPONSE)
                        .collect(),
                ),
                Err(e) => internal(e),
            },
            SyncRequest::Hello(_) => SyncResponse::Error(SyncError {
                code: SyncErrorCode::BadRequest,
                message: "hello is answered by the network layer".into(),
            }),
        }
    })
}

/// The longest prefix of `blocks` that fits a sync response.
fn fit_response(blocks: Vec<Block>) -> Vec<Block> {
    let budget = MAX_SYNC_RESPONSE_BYTES - 64 * 1024;
    let mut used = 0;
    blocks
        .into_iter()
        .take_while(|b| {
            used += b.encode().len() + 8;
            used <= budget
        })
        .collect()
}

/// The longest prefix of `blocks` that fits a sync response, each block with the payloads we
/// hold that may travel inline (at most [`MAX_INLINE_PAYLOAD_BYTES`] each and
/// [`MAX_INLINE_PAYLOADS_TOTAL`] per block, once each): the rest the requester fetches by hash.
fn with_inline_payloads(
    store: &medchain_store::Store,
    blocks: Vec<Block>,
) -> Result<Vec<BlockMessage>, medchain_store::StoreError> {
    let budget = MAX_SYNC_RESPONSE_BYTES - 64 * 1024;
    let mut used = 0;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let mut payloads = Vec::new();
        let mut seen = HashSet::new();
        let mut inline = 0;
        for p in block.entries.iter().filter_map(|e| e.payload.as_ref()) {
            let len = usize::try_from(p.len).unwrap_or(usize::MAX);
            if len > MAX_INLINE_PAYLOAD_BYTES
                || inline + len > MAX_INLINE_PAYLOADS_TOTAL
                || !seen.insert(p.hash)
            {
                continue;
            }
            if let Some(bytes) = store.payload(&p.hash)? {
                inline += bytes.len();
                payloads.push(bytes.into());
            }
        }
        // Sizes as encoded: the block, and each payload with its length prefix.
        used += block.encode().len() + inline + 8 * (payloads.len() + 2);
        if used > budget && !out.is_empty() {
            break;
        }
        out.push(BlockMessage { block, payloads });
    }
    Ok(out)
}
