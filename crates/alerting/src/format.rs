//! Number formatting as Go's `fmt` and Prometheus' template functions do it,
//! so expanded annotations read exactly as Prometheus would write them.

/// Go's `%.{prec}g`.
pub fn go_g(v: f64, prec: usize) -> String {
    if let Some(special) = special(v) {
        return special;
    }
    let prec = prec.max(1);
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = split_exp(&sci);
    if exp < -4 || exp >= prec as i32 {
        format!("{}e{}", trim_zeros(mantissa), go_exp(exp))
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

/// Go's `%v` (`%g` with the shortest precision) for a float64.
pub fn go_v(v: f64) -> String {
    if let Some(special) = special(v) {
        return special;
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = split_exp(&sci);
    if !(-4..21).contains(&exp) {
        format!("{mantissa}e{}", go_exp(exp))
    } else {
        // Rust's shortest round-trip digits, written without an exponent.
        let s = format!("{v}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    }
}

/// Go's `%.{prec}f`.
pub fn go_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else {
        None
    }
}

fn split_exp(sci: &str) -> (&str, i32) {
    let (m, e) = sci.split_once('e').unwrap_or((sci, "0"));
    (m, e.parse().unwrap_or(0))
}

fn go_exp(exp: i32) -> String {
    format!("{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Prometheus' `humanize`: SI prefixes, four significant digits.
pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, 4))
}

/// Prometheus' `humanize1024`: binary prefixes.
pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, 4);
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, 4))
}

/// Prometheus' `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with
/// sub-second prefixes.
pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let total = v as i64;
        let (seconds, minutes, hours, days) = (
            total % 60,
            total / 60 % 60,
            total / 3600 % 24,
            total / 86400,
        );
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", go_g(v, 4))
        };
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g(v, 4))
}

/// Prometheus' `humanizePercentage`: a ratio as a percentage.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", go_g(v * 100.0, 4))
}

/// Unix milliseconds as RFC 3339 in UTC with millisecond precision
/// (`2026-01-01T00:00:00.000Z`); 0 is Go's zero time.
pub fn rfc3339_ms(ms: i64) -> String {
    if ms == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formatting() {
        assert_eq!(go_g(2.485, 4), "2.485");
        assert_eq!(go_g(95.00000000000001, 4), "95");
        assert_eq!(go_g(12345.0, 4), "1.234e+04");
        assert_eq!(go_g(0.000012345, 4), "1.234e-05");
        assert_eq!(go_g(0.5, 4), "0.5");
        assert_eq!(go_v(2.0), "2");
        assert_eq!(go_v(0.1), "0.1");
        assert_eq!(go_v(1e21), "1e+21");
        assert_eq!(go_v(123456789.0), "123456789");
        assert_eq!(go_v(0.00001), "1e-05");
        assert_eq!(go_v(f64::NAN), "NaN");
    }

    #[test]
    fn prometheus_humanize_functions() {
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
        assert_eq!(humanize(12.0), "12");
        assert_eq!(humanize1024(1048576.0), "1Mi");
        assert_eq!(humanize1024(512.0), "512");
        assert_eq!(humanize_duration(90061.0), "1d 1h 1m 1s");
        assert_eq!(humanize_duration(2.485), "2.485s");
        assert_eq!(humanize_duration(0.25), "250ms");
        assert_eq!(humanize_duration(-61.0), "-1m 1s");
        assert_eq!(humanize_percentage(0.1), "10%");
        assert_eq!(humanize_percentage(0.02), "2%");
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339_ms(0), "0001-01-01T00:00:00Z");
    }
}
