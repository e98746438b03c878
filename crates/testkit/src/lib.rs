//! Fixtures for medchain's integration tests (`tests/` folders), and for the unit tests of crates
//! this kit does not depend on (the node's). The unit tests of protocol, store, chain and net
//! keep their own helpers: a dev-dependency on this crate, which depends back on theirs, would
//! give them two copies of each type.
//!
//! - [`clock`]: wall-clock times in the units the ledger and certificates use.
//! - [`pki`]: a consortium root CA with members, trust and ledgers over it.
//! - [`blocks`]: deterministic keys, entries and signed chains at the protocol level.
//! - [`strategies`]: proptest strategies for entries, heads and blocks.
//! - [`stored`]: committing blocks to a store and checking its indexes.
//! - [`drafts`]: entry drafts as the API makes them (pseudonymised patients, FHIR payloads).
//! - [`ledgers`]: ledgers grown, copied and refilled, for verifier and repair tests.
//! - `net` (feature `net`): nodes of the network layer on loopback, each with a driver playing
//!   the node's part, and raw libp2p peers.
//! - [`daemon`]: `medchain` daemons run as processes, as an operator runs them.
//! - [`seaweed`]: a SeaweedFS S3 server on loopback, for the object payload backend.
// Test fixtures: one that cannot be built must fail the test at once, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod blocks;
pub mod clock;
pub mod daemon;
#[cfg(feature = "ledger")]
pub mod drafts;
#[cfg(feature = "ledger")]
pub mod ledgers;
#[cfg(feature = "net")]
pub mod net;
pub mod pki;
pub mod seaweed;
#[cfg(feature = "ledger")]
pub mod stored;
pub mod strategies;
