//! Every size limit of the protocol, in one place.
//!
//! Decoders refuse input over these limits before looking inside it; validators refuse objects
//! whose counts exceed them. docs/protocol.md lists them with their reasons. Raising one is a
//! protocol change: nodes with the old limit would reject what nodes with the new one accept.

/// Protocol version carried in every block header and as the first byte of every wire message.
///
/// - 1: the first version (payloads in plaintext).
/// - 2 (2026-11-28): every payload is sealed under a data key of its own (`sealed`).
pub const PROTOCOL_VERSION: u8 = 2;

/// Entries in one block. Batching many entries per block is what makes throughput; the cap keeps
/// one block well under [`MAX_BLOCK_BYTES`] even with large entries.
pub const MAX_ENTRIES_PER_BLOCK: usize = 1024;
/// Witness heads in one header.
pub const MAX_WITNESSES: usize = 64;
/// Parents of one entry.
pub const MAX_PARENTS: usize = 32;
/// Bytes of a content type such as `application/fhir+json`.
pub const MAX_CONTENT_TYPE_LEN: usize = 127;
/// Bytes of a member organisation named in a grant or revoke (a certificate's O).
pub const MAX_ORG_LEN: usize = 128;
/// Bytes of the acting user's identifier (a staff or system ID of the provider, never a patient's).
pub const MAX_ACTOR_LEN: usize = 128;
/// Bytes of a member certificate (DER).
pub const MAX_CERT_BYTES: usize = 4096;
/// Bytes of one encoded block (header, signature, certificate, entries).
pub const MAX_BLOCK_BYTES: usize = 1 << 20;
/// Bytes of one payload blob (sealed: ciphertext, AEAD tag and key commitment).
pub const MAX_PAYLOAD_BYTES: usize = 8 << 20;
/// Bytes of one payload's plaintext: the sealed limit less what sealing adds.
pub const MAX_PLAINTEXT_PAYLOAD_BYTES: usize = MAX_PAYLOAD_BYTES - crate::sealed::SEALING_OVERHEAD;
/// Bytes of one payload carried inline in a gossiped block message; larger ones go by request.
pub const MAX_INLINE_PAYLOAD_BYTES: usize = 64 << 10;
/// Bytes of all inline payloads of one gossiped block message together.
pub const MAX_INLINE_PAYLOADS_TOTAL: usize = 1 << 20;
/// Bytes of one gossip message (version byte included): a block plus its inline payloads.
pub const MAX_GOSSIP_BYTES: usize = 1 + MAX_BLOCK_BYTES + MAX_INLINE_PAYLOADS_TOTAL + 4096;
/// Bytes of one equivocation evidence message: two signed headers and a certificate.
pub const MAX_EVIDENCE_BYTES: usize = 16 << 10;
/// Bytes of one sync request (a hello with its certificate is the largest).
pub const MAX_SYNC_REQUEST_BYTES: usize = 8 << 10;
/// Bytes of one sync response (a range of blocks, or one payload).
pub const MAX_SYNC_RESPONSE_BYTES: usize = 16 << 20;
/// Bytes of the response to a hello (a hello with its certificate, or a refusal). Enforced by
/// the requester before reading the frame: the answer comes from a peer not yet proven a member.
pub const MAX_HELLO_BYTES: usize = 8 << 10;
/// Blocks asked for in one range request.
pub const MAX_BLOCKS_PER_RANGE: u32 = 256;
/// Entries whose data keys one key request asks for (128 entry references stay well inside a
/// sync request's size limit).
pub const MAX_KEYS_PER_REQUEST: usize = 128;
/// Chain heads in one heads response (one per chain in the consortium).
pub const MAX_HEADS: usize = 4096;
/// Most evidence items in one sync answer (64 x 16 KiB stays far below the response limit).
pub const MAX_EVIDENCE_PER_RESPONSE: usize = 64;
/// Bytes of a network name (the gossip topic namespace).
pub const MAX_NETWORK_NAME_LEN: usize = 64;
/// Bytes of free text in a hello (software agent) or a sync error message.
pub const MAX_TEXT_LEN: usize = 256;
