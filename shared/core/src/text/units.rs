//! Byte counts for people. Decimal units, as AWS states its limits (200 GB = 200×10⁹ bytes).

/// `1.50 GB`, `200.00 GB`, `512 bytes`: decimal units with two decimals.
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: &[(u64, &str)] = &[
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1_000, "KB"),
    ];
    for &(scale, unit) in UNITS {
        if bytes >= scale {
            return format!("{:.2} {unit}", bytes as f64 / scale as f64);
        }
    }
    format!("{bytes} bytes")
}

/// `1300000` → `1,300,000`: counts in messages, as people read them.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{format_bytes, thousands};

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_300_000), "1,300,000");
    }

    #[test]
    fn uses_decimal_units() {
        assert_eq!(format_bytes(512), "512 bytes");
        assert_eq!(format_bytes(91_234), "91.23 KB");
        assert_eq!(format_bytes(16_060_522_496), "16.06 GB");
        assert_eq!(format_bytes(200_000_000_000), "200.00 GB");
    }
}
