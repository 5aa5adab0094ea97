//! Durations and byte sizes as LogQL writes them.

const NS: [(&str, i64); 10] = [
    ("y", 365 * 24 * 3_600_000_000_000),
    ("w", 7 * 24 * 3_600_000_000_000),
    ("d", 24 * 3_600_000_000_000),
    ("h", 3_600_000_000_000),
    ("ms", 1_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("us", 1_000),
    ("µs", 1_000),
    ("ns", 1),
];

/// Parses `5m`, `1h30m`, `1.5h`, `250ms`, `2d` (Prometheus' and Go's units)
/// as nanoseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut total: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // Longest unit first: `ms` before `m`.
        let (unit, scale) = NS
            .iter()
            .filter(|(u, _)| rest.starts_with(u))
            .max_by_key(|(u, _)| u.len())?;
        rest = &rest[unit.len()..];
        total += value * *scale as f64;
    }
    (total <= i64::MAX as f64).then_some(total as i64)
}

/// Writes nanoseconds in the largest whole units: `1h30m`, `5m`, `250ms`.
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ns < 0 {
        out.push('-');
    }
    let mut left = ns.unsigned_abs() as i128;
    for (unit, scale) in [
        ("y", NS[0].1),
        ("w", NS[1].1),
        ("d", NS[2].1),
        ("h", NS[3].1),
        ("m", NS[5].1),
        ("s", NS[6].1),
        ("ms", NS[4].1),
        ("us", NS[7].1),
        ("ns", 1),
    ] {
        let scale = scale as i128;
        if left >= scale {
            out.push_str(&format!("{}{unit}", left / scale));
            left %= scale;
        }
    }
    out
}

const BYTE_UNITS: [(&str, u64); 11] = [
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
];

/// Parses `10KB`, `1.5MiB`, `42B` (case-insensitive; KB = 1000, KiB = 1024).
pub fn parse_bytes(text: &str) -> Option<u64> {
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if digits == 0 {
        return None;
    }
    let value: f64 = text[..digits].parse().ok()?;
    let unit = text[digits..].to_ascii_lowercase();
    let scale = if unit.is_empty() {
        1
    } else {
        BYTE_UNITS.iter().find(|(u, _)| *u == unit)?.1
    };
    let total = value * scale as f64;
    (total <= u64::MAX as f64).then_some(total as u64)
}

/// Writes a byte size in the largest unit that divides it: `10KB`, `1KiB`, `7B`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, scale) in [
        ("PiB", 1u64 << 50),
        ("PB", 1_000_000_000_000_000),
        ("TiB", 1 << 40),
        ("TB", 1_000_000_000_000),
        ("GiB", 1 << 30),
        ("GB", 1_000_000_000),
        ("MiB", 1 << 20),
        ("MB", 1_000_000),
        ("KiB", 1 << 10),
        ("KB", 1_000),
    ] {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (text, ns, printed) in [
            ("5m", 300_000_000_000, "5m"),
            ("1h30m", 5_400_000_000_000, "1h30m"),
            ("90m", 5_400_000_000_000, "1h30m"),
            ("1.5h", 5_400_000_000_000, "1h30m"),
            ("250ms", 250_000_000, "250ms"),
            ("2d", 172_800_000_000_000, "2d"),
            ("10µs", 10_000, "10us"),
        ] {
            assert_eq!(parse_duration(text), Some(ns), "{text}");
            assert_eq!(format_duration(ns), printed);
        }
        for bad in ["", "5", "m", "5x", "1h5"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        assert_eq!(parse_bytes("10KB"), Some(10_000));
        assert_eq!(parse_bytes("1KiB"), Some(1024));
        assert_eq!(parse_bytes("1.5mb"), Some(1_500_000));
        assert_eq!(parse_bytes("42B"), Some(42));
        assert_eq!(parse_bytes("4XB"), None);
        assert_eq!(format_bytes(10_000), "10KB");
        assert_eq!(format_bytes(2048), "2KiB");
        assert_eq!(format_bytes(7), "7B");
    }
}
