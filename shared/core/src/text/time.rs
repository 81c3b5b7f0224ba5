//! Timestamps as Ferry records them: seconds since the Unix epoch, shown as RFC 3339.

use std::time::{Duration, UNIX_EPOCH};

/// `2026-11-22T07:23:46Z`
/// Clamped to 9999-12-31T23:59:59Z: an absurd time from a misbehaving S3-compatible
/// store must not panic.
pub fn rfc3339(secs: u64) -> String {
    const MAX_SECS: u64 = 253_402_300_799;
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs.min(MAX_SECS)))
        .to_string()
}

/// `20261122`
pub(crate) fn yyyymmdd(secs: u64) -> String {
    rfc3339(secs)[..10].replace('-', "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(super::yyyymmdd(1_795_000_000), "20261118");
        assert_eq!(super::rfc3339(u64::MAX), "9999-12-31T23:59:59Z");
    }
}
