//! Fixtures for medchain's integration tests (`tests/` folders only: a crate's unit tests keep
//! their own helpers, since a dev-dependency on this crate, which depends back on them, would
//! give them two copies of each type).
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
// Test fixtures: one that cannot be built must fail the test at once, loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod blocks;
pub mod clock;
pub mod daemon;
pub mod drafts;
pub mod ledgers;
#[cfg(feature = "net")]
pub mod net;
pub mod pki;
pub mod stored;
pub mod strategies;
