//! `medchain-chain`: the rules of the ledger.
//!
//! This crate will own block validation as typestate (bytes become a `VerifiedBlock` only through
//! decode, structure, certificate, signature, linkage and payload checks), ingest with an
//! out-of-order buffer, authoring of the local provider's chain, equivocation evidence, the
//! provenance graph, and the periodic verifier with repair planning (issue 3).
//!
//! Allowed dependencies: `medchain-protocol`, `medchain-store`. Nothing here is implemented yet.
