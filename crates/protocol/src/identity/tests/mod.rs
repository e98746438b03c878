//! Tests of the identity module: shared fixtures and one submodule per area.

mod keys;
mod openssl;
mod randomness;
mod revoke;
mod roles;
mod verify;

use super::{IssuedCa, IssuedMember, Role, create_root_ca, issue_member};

/// 2026-01-01T00:00:00Z: the fixed "now" of the deterministic tests.
pub(super) const NOW: i64 = 1_767_225_600;
pub(super) const DAY: i64 = 86_400;

/// A root CA valid from a year before `NOW` for ten years.
pub(super) fn new_ca(name: &str) -> IssuedCa {
    create_root_ca(
        name,
        NOW - 365 * DAY,
        3650,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
}

/// A member of `ca`, valid from a day before `NOW` for a year.
pub(super) fn member(ca: &IssuedCa, role: Role, org: &str) -> IssuedMember {
    issue_member(
        &ca.cert_der,
        &ca.key_pkcs8_der,
        role,
        org,
        NOW - DAY,
        365,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()
}
