//! Prometheus API time and duration parameters.

use periscope_model::{Error, Result};
use std::time::{Duration, UNIX_EPOCH};

/// A timestamp parameter: Unix seconds (`1700000000.5`) or RFC 3339.
pub(crate) fn parse_time(name: &str, value: &str) -> Result<f64> {
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() {
            return Ok(secs);
        }
    }
    humantime::parse_rfc3339_weak(value)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| {
            Error::bad_request(format!(
                "invalid parameter {name:?}: cannot parse {value:?} as a timestamp"
            ))
        })
}

/// A duration parameter: float seconds (`15`, `0.5`) or a Prometheus duration (`1m30s`).
pub(crate) fn parse_duration(name: &str, value: &str) -> Result<Duration> {
    if let Ok(secs) = value.parse::<f64>() {
        return match Duration::try_from_secs_f64(secs) {
            Ok(d) if !d.is_zero() => Ok(d),
            _ => Err(Error::bad_request(format!(
                "invalid parameter {name:?}: must be a positive duration of at most {} seconds",
                u64::MAX
            ))),
        };
    }
    match humantime::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(Error::bad_request(format!(
            "invalid parameter {name:?}: cannot parse {value:?} as a duration"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse_like_prometheus() {
        assert_eq!(parse_time("t", "1700000000.5").unwrap(), 1_700_000_000.5);
        assert_eq!(
            parse_time("t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000.0
        );
        assert!(parse_time("t", "yesterday").is_err());
        assert!(parse_time("t", "NaN").is_err());
        assert_eq!(parse_duration("s", "15").unwrap(), Duration::from_secs(15));
        assert_eq!(
            parse_duration("s", "1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert!(parse_duration("s", "0").is_err());
        assert!(parse_duration("s", "-5").is_err());
    }
}
