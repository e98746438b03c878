//! `medchain-fuzz-harness`: what the fuzz targets do with outside bytes, in one place.
//!
//! Every decoder that takes bytes from outside the node has a harness function here: it takes
//! `&[u8]`, returns nothing, and must not panic on any input. The cargo-fuzz targets in `fuzz/`
//! call these functions (one target each, same names as [`TARGETS`]), and this crate's
//! `tests/replay_corpus.rs` runs every kept corpus file and regression through them in the normal
//! `cargo test --workspace`, so fuzzing and the test suite run exactly the same code.
//!
//! Besides "no panic", a harness asserts cheap properties: whatever decodes re-encodes to the very
//! bytes it came from (canonical form), a certificate that verifies yields the key and serial the
//! parsing helpers read, PEM written for any DER parses back to that DER, a sync frame that
//! decodes is the length prefix and the message's own wire bytes.
//!
//! Layout: [`api`] (the HTTP API's request bodies), [`wire`] (blocks and wire messages), [`frames`] (the sync codec), [`pki`]
//! (certificates, revocation lists and the fixed test PKI), `checks` (the deeper checks that
//! decoded objects go through, as the node would), [`seeds`] (valid objects to start fuzzing from;
//! the `fuzz-seeds` binary writes them to `fuzz/corpus/`).

pub mod api;
mod checks;
pub mod frames;
pub mod pki;
pub mod seeds;
pub mod wire;

pub use api::api_bodies;
pub use frames::{sync_frame_request, sync_frame_response};
pub use pki::{cert_der, cert_pem, crl_der, crl_pem};
pub use wire::{block, block_message, evidence, hello, sync_request, sync_response};

/// A harness: runs one input; panics only on a bug.
pub type Harness = fn(&[u8]);

/// Every fuzz target, by name: the name of its cargo-fuzz binary and of its corpus directory
/// (`fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("block", block),
    ("block_message", block_message),
    ("evidence", evidence),
    ("sync_request", sync_request),
    ("sync_response", sync_response),
    ("hello", hello),
    ("sync_frame_request", sync_frame_request),
    ("sync_frame_response", sync_frame_response),
    ("cert_der", cert_der),
    ("cert_pem", cert_pem),
    ("crl_der", crl_der),
    ("crl_pem", crl_pem),
    ("api_bodies", api_bodies),
];

/// The harness of the target called `name`.
pub fn target(name: &str) -> Option<Harness> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|(_, harness)| *harness)
}
