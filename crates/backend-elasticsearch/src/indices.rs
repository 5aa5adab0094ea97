//! Daily index resolution: `<prefix>-YYYY.MM.DD` (UTC) for each day of the
//! time range, or `<prefix>*` when the range is open or longer than 30 days
//! (as KubeSphere resolves them).

use chrono::{DateTime, Duration, Utc};

/// Longest range searched day by day.
const MAX_DAYS: i64 = 30;

/// The comma-joined index expression for `[start, end]` (Unix ns).
pub fn resolve(prefix: &str, start: i64, end: i64) -> String {
    let (from, to) = (
        DateTime::<Utc>::from_timestamp_nanos(start),
        DateTime::<Utc>::from_timestamp_nanos(end),
    );
    let days = (to.date_naive() - from.date_naive()).num_days();
    if start <= 0 || !(0..=MAX_DAYS).contains(&days) {
        return format!("{prefix}*");
    }
    (0..=days)
        .map(|d| {
            format!(
                "{prefix}-{}",
                (from.date_naive() + Duration::days(d)).format("%Y.%m.%d")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000_000;
    /// 2026-11-26T10:00:00Z.
    const T: i64 = 1_795_687_200_000_000_000;

    #[test]
    fn days_of_the_range_or_the_wildcard() {
        assert_eq!(
            resolve("ks-logstash-log", T, T + DAY),
            "ks-logstash-log-2026.11.26,ks-logstash-log-2026.11.27"
        );
        assert_eq!(resolve("logs", T, T), "logs-2026.11.26");
        assert_eq!(resolve("logs", 0, T), "logs*");
        assert_eq!(resolve("logs", T - 31 * DAY, T), "logs*");
    }
}
