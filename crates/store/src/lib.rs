//! `medchain-store`: persistence of verified blocks, payloads and indexes.
//!
//! This crate will own the sled 0.34 database behind a narrow interface (no sled type leaks out):
//! blocks by hash, the (chain, height) index, heads, content-addressed payload blobs kept apart from
//! the chain, record, provenance and patient indexes, certificates, equivocation evidence,
//! quarantine and verifier reports. Every block commits atomically with its index entries and is
//! flushed before it is reported durable (issue 3).
//!
//! Allowed dependencies: `medchain-protocol`. Nothing here is implemented yet.
