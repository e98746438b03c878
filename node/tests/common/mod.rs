//! The node's integration tests run the `medchain` binary cargo built for them (its path is
//! known only to this package's tests) through the test kit's daemon harness.
#![allow(dead_code, unused_imports)] // each test binary uses part of it

use std::path::Path;

pub use medchain_testkit::daemon::{Ca, Node, Setup, http_to, p, spawn, start, wait_bounded};

/// The `medchain` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_medchain");

/// Runs `medchain ARGS`; panics unless it succeeds.
pub fn medchain(args: &[&str]) {
    medchain_testkit::daemon::medchain(Path::new(BIN), args);
}

/// One provider in its own consortium.
pub fn setup() -> Setup {
    medchain_testkit::daemon::setup(BIN)
}
