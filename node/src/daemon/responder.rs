//! Answering peers' sync requests from the store: heads, block ranges trimmed to the response
//! limit (with their inline payloads for `Range`), payloads by hash, equivocation evidence, and
//! data keys released under grants (to the member whose admitted certificate asks).
//! Each answer comes with its size in bytes (as encoded, near enough), which the glue charges
//! to the asking peer's share.

use std::collections::HashSet;

use medchain_protocol::key_backup::KeyBackup;
use medchain_protocol::limits::{
    MAX_BLOCKS_PER_RANGE, MAX_EVIDENCE_BYTES, MAX_EVIDENCE_PER_RESPONSE, MAX_HEADS,
    MAX_INLINE_PAYLOAD_BYTES, MAX_INLINE_PAYLOADS_TOTAL, MAX_KEYS_PER_REQUEST,
    MAX_SYNC_RESPONSE_BYTES,
};
use medchain_protocol::message::{SyncError, SyncErrorCode};
use medchain_protocol::{Block, BlockMessage, SyncRequest, SyncResponse};
use tracing::error;

use crate::service::Service;

/// The answer to a sync request, from the store, and about how many bytes it takes on the wire.
pub fn respond(service: &Service, request: SyncRequest, requester: &[u8]) -> (SyncResponse, usize) {
    let internal = |e: medchain_store::StoreError| {
        error!(error = %e, "store failed while answering a peer");
        SyncResponse::Error(SyncError {
            code: SyncErrorCode::Internal,
            message: "store error".into(),
        })
    };
    // Answered from the reader: a peer's sync request never waits for the ledger's lock.
    let store = service.reader();
    let small = |response: SyncResponse| (response, 64);
    match request {
        SyncRequest::Heads => match store.heads() {
            Ok(mut heads) => {
                heads.truncate(MAX_HEADS);
                let size = heads.len() * 80;
                (SyncResponse::Heads(heads), size)
            }
            Err(e) => small(internal(e)),
        },
        SyncRequest::Blocks { chain, from, limit } => {
            match store.blocks_range(&chain, from, limit.min(MAX_BLOCKS_PER_RANGE)) {
                Ok(blocks) => {
                    let (blocks, size) = fit_response(blocks);
                    (SyncResponse::Blocks(blocks), size)
                }
                Err(e) => small(internal(e)),
            }
        }
        SyncRequest::Range { chain, from, limit } => {
            match store.blocks_range(&chain, from, limit.min(MAX_BLOCKS_PER_RANGE)) {
                Ok(blocks) => match with_inline_payloads(store, blocks) {
                    Ok((messages, size)) => (SyncResponse::Range(messages), size),
                    Err(e) => small(internal(e)),
                },
                Err(e) => small(internal(e)),
            }
        }
        SyncRequest::Payload(hash) => match store.payload(&hash) {
            Ok(Some(bytes)) => {
                let size = bytes.len();
                (SyncResponse::Payload(bytes.into()), size)
            }
            Ok(None) => small(SyncResponse::NotFound),
            Err(e) => small(internal(e)),
        },
        SyncRequest::Evidence { skip } => {
            let skip = usize::try_from(skip).unwrap_or(usize::MAX);
            match store.evidence_skipping(skip, MAX_EVIDENCE_PER_RESPONSE) {
                Ok(page) => {
                    let size = page.len() * MAX_EVIDENCE_BYTES;
                    (SyncResponse::Evidence(page), size)
                }
                Err(e) => small(internal(e)),
            }
        }
        SyncRequest::DataKeys(entries) => {
            if entries.is_empty() || entries.len() > MAX_KEYS_PER_REQUEST {
                return small(SyncResponse::Error(SyncError {
                    code: SyncErrorCode::BadRequest,
                    message: format!("ask for 1 to {MAX_KEYS_PER_REQUEST} keys"),
                }));
            }
            match service.release_keys(requester, &entries) {
                Ok(answers) => {
                    let size = answers.len() * 160;
                    (SyncResponse::DataKeys(answers), size)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "key request not answered");
                    small(SyncResponse::Error(SyncError {
                        code: SyncErrorCode::Busy,
                        message: "keys cannot be released now".into(),
                    }))
                }
            }
        }
        SyncRequest::KeyBackups { chain, from, limit } => {
            let limit = limit.min(MAX_BLOCKS_PER_RANGE) as usize;
            match store.key_backups_from(&chain, from, limit) {
                Ok(held) => {
                    let budget = MAX_SYNC_RESPONSE_BYTES - 64 * 1024;
                    let mut size = 0;
                    let mut backups = Vec::new();
                    for (_, bytes) in held {
                        if size + bytes.len() > budget {
                            break;
                        }
                        // One that does not decode (damage) is not served.
                        if let Ok(backup) = KeyBackup::decode(&bytes) {
                            size += bytes.len();
                            backups.push(backup);
                        }
                    }
                    (SyncResponse::KeyBackups(backups), size.max(64))
                }
                Err(e) => small(internal(e)),
            }
        }
        SyncRequest::Hello(_) => small(SyncResponse::Error(SyncError {
            code: SyncErrorCode::BadRequest,
            message: "hello is answered by the network layer".into(),
        })),
    }
}

/// The longest prefix of `blocks` that fits a sync response, and its size.
fn fit_response(blocks: Vec<Block>) -> (Vec<Block>, usize) {
    let budget = MAX_SYNC_RESPONSE_BYTES - 64 * 1024;
    let mut used = 0;
    let mut out = Vec::with_capacity(blocks.len());
    for block in blocks {
        let size = block.encode().len() + 8;
        if used + size > budget {
            break;
        }
        used += size;
        out.push(block);
    }
    (out, used)
}

/// The longest prefix of `blocks` that fits a sync response, each block with the payloads we
/// hold that may travel inline (at most [`MAX_INLINE_PAYLOAD_BYTES`] each and
/// [`MAX_INLINE_PAYLOADS_TOTAL`] per block, once each): the rest the requester fetches by hash.
fn with_inline_payloads(
    store: &medchain_store::StoreReader,
    blocks: Vec<Block>,
) -> Result<(Vec<BlockMessage>, usize), medchain_store::StoreError> {
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
    Ok((out, used))
}
