//! The system clock, read at the edges only: ferry-core takes the time as input (a
//! `now` argument, or the [`ferry_core::import::Clock`] of the hosting ports).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch; 0 for a clock set before 1970 (never a panic).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
