//! Wall-clock times in the units the ledger (milliseconds) and certificates (seconds) use.

use std::time::{SystemTime, UNIX_EPOCH};

/// A day in seconds.
pub const DAY: i64 = 86_400;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Now, in seconds since the Unix epoch.
pub fn now_s() -> i64 {
    (now_ms() / 1000) as i64
}
