//! The flows both the HTTP API and the daemon run, below both: block intake (gossip and
//! `POST /v1/blocks`) and the integrity check (the verifier schedule and `POST /v1/verify`).
//!
//! The rule: `flows` uses the service, the coordination and the metrics, never `api` or
//! `daemon`; `api` and `daemon` use `flows` and never each other. Only the composition root
//! (`commands::run`, the `run` command's start-up wiring) knows both.

pub mod block_intake;
pub mod integrity_check;
