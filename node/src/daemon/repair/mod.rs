//! Repair from peers: quarantined ranges fetched again and their restores confirmed
//! (`ranges`), damaged, missing and not-relayed payloads fetched by hash (`payloads`). Every
//! block fetched goes through the same validation as gossip; every payload must hash to its
//! content address.

pub mod payloads;
pub mod ranges;
