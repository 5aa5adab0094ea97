//! Periscope's log model, the same for the embedded store and Elasticsearch:
//!
//! - [`record`]: a log line as Fluent Bit's `es` output (or any NDJSON shipper)
//!   sends it, mapped to Periscope's fields;
//! - [`request`]: the log query API's parameters (KubeSphere's names), parsed
//!   and validated, with the caller's scope already applied;
//! - [`cursor`]: opaque positions for deep paging;
//! - [`response`]: the JSON answers;
//! - [`workload`]: which pod names belong to a workload.

pub mod bulk;
pub mod cursor;
pub mod loki_push;
pub mod otlp;
mod raw;
pub mod record;
pub mod request;
pub mod response;
pub mod workload;

pub use cursor::Cursor;
pub use record::{DocumentError, LogRecord};
pub use request::{ExportFormat, LogFilter, LogRequest, Operation, SortOrder};
pub use response::{Histogram, HistogramBucket, LogLine, QueryPage, Statistics, StreamVolume};

/// Formats Unix nanoseconds as RFC 3339 UTC with the digits needed.
pub fn format_time(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses RFC 3339 text as Unix nanoseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

/// Removes ANSI escape sequences (colours, cursor moves) from a log line.
pub fn strip_ansi(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\u{1b}') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // CSI: parameters and intermediates, then one final byte in @..~.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_are_removed() {
        assert_eq!(strip_ansi("\u{1b}[31mERROR\u{1b}[0m boom"), "ERROR boom");
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(
            format_time(1_700_000_000_123_000_000),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }
}
