//! The node daemon's parts: start-up checks, the network glue (gossip, sync, anti-entropy,
//! repair from peers), the verifier schedule, the compaction of payload segments, the
//! revocation-list watch, and logging.
//!
//! The daemon never calls into the HTTP API (nor the API into the daemon): what both run lives
//! in `flows`, and only the composition root (`commands::run`) wires the daemon's tasks and the
//! API together.

pub mod catch_up;
pub mod compaction;
pub mod evidence;
pub mod expiry;
pub mod fetching;
pub mod gossip;
pub mod key_fetch;
pub mod logging;
pub mod member_cert;
pub mod network;
pub mod own_backups;
pub mod own_chain;
pub mod range_fetch;
pub mod repair;
pub mod responder;
pub mod revocation;
pub mod serving;
pub mod startup;
pub mod verifier;
