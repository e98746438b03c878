//! `medchain-net`: the libp2p side of a node, and nothing else.
//!
//! This crate will own the Swarm (TCP + noise + yamux and QUIC, identify, ping, gossipsub with
//! validation before forwarding, the request-response sync protocol, membership gating) in one
//! task, driven by a cloneable client over bounded channels. It knows nothing of chains or stores:
//! it emits `net::Event`s and takes `net::Command`s (issue 4).
//!
//! Allowed dependencies: `medchain-protocol`. Nothing here is implemented yet.
