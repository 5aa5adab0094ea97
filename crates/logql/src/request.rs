//! The Loki HTTP API's parameters: times (Unix ns, Unix seconds with or
//! without a fraction, RFC 3339), steps (`15s`, `15000ms`, `15`), `limit`,
//! `direction`, with Loki's defaults.

use periscope_model::{Error, Result};

/// Which end of the range a log query starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (Loki's default).
    Backward,
}

/// `query_range`'s parameters (also `query`'s: then `start == end`, `step` 0).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParams {
    pub query: String,
    /// Unix ns.
    pub start: i64,
    pub end: i64,
    /// ns; 0 for an instant query.
    pub step: i64,
    pub limit: usize,
    pub direction: Direction,
}

/// A time range (metadata endpoints) and an optional selector.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeParams {
    pub start: i64,
    pub end: i64,
    /// `query`, or each `match[]`.
    pub selectors: Vec<String>,
    /// ns, for `volume_range`.
    pub step: i64,
    /// `limit` (volume), if given.
    pub limit: Option<usize>,
    /// `targetLabels` (volume), split on commas.
    pub target_labels: Vec<String>,
    /// `aggregateBy=labels` (volume).
    pub by_labels: bool,
}

const HOUR: i64 = 3_600_000_000_000;
/// Loki's default number of lines.
pub const DEFAULT_LIMIT: usize = 100;

fn get<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A time parameter: RFC 3339, Unix seconds (`1700000000`, `1700000000.5`)
/// or Unix ns (more than ten digits).
pub fn parse_time(name: &str, value: &str) -> Result<i64> {
    let bad = || {
        Error::bad_request(format!(
            "parameter {name:?}: {value:?} is not a time (Unix ns, Unix seconds or RFC 3339)"
        ))
    };
    if value.contains(['T', 't']) || (value.contains('-') && !value.starts_with('-')) {
        return periscope_logs::parse_rfc3339(value).ok_or_else(bad);
    }
    if !value.contains(['.', 'e', 'E']) {
        let n: i64 = value.parse().map_err(|_| bad())?;
        let digits = value.trim_start_matches('-').len();
        return Ok(if digits <= 10 {
            n.checked_mul(1_000_000_000).ok_or_else(bad)?
        } else {
            n
        });
    }
    // Seconds with a fraction, read exactly (a float would lose the nanoseconds).
    if let Some((whole, fraction)) = value.split_once('.') {
        if fraction.len() <= 9 && fraction.bytes().all(|b| b.is_ascii_digit()) {
            let negative = whole.starts_with('-');
            let whole: i64 = if whole.is_empty() || whole == "-" {
                0
            } else {
                whole.parse().map_err(|_| bad())?
            };
            let frac: i64 = format!("{fraction:0<9}").parse().map_err(|_| bad())?;
            let ns = whole.checked_mul(1_000_000_000).ok_or_else(bad)?;
            return Ok(if negative { ns - frac } else { ns + frac });
        }
    }
    let seconds: f64 = value.parse().map_err(|_| bad())?;
    let ns = seconds * 1e9;
    if !ns.is_finite() || ns.abs() > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(ns.round() as i64)
}

/// A step: a duration (`15s`, `1m`, `15000ms`) or seconds (`15`, `0.5`).
pub fn parse_step(value: &str) -> Result<i64> {
    let ns = match value.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() => (seconds * 1e9) as i64,
        _ => crate::units::parse_duration(value).ok_or_else(|| {
            Error::bad_request(format!(
                "parameter \"step\": {value:?} is not a duration (15s, 1m) or a number of seconds"
            ))
        })?,
    };
    if ns <= 0 {
        return Err(Error::bad_request(
            "parameter \"step\": zero or negative query resolution step widths are not accepted; try a positive integer",
        ));
    }
    Ok(ns)
}

fn limit(params: &[(String, String)]) -> Result<Option<usize>> {
    get(params, "limit")
        .map(|v| {
            v.parse::<usize>().map_err(|_| {
                Error::bad_request(format!("parameter \"limit\": {v:?} is not a whole number"))
            })
        })
        .transpose()
}

fn direction(params: &[(String, String)]) -> Result<Direction> {
    match get(params, "direction").unwrap_or("backward") {
        "backward" | "BACKWARD" => Ok(Direction::Backward),
        "forward" | "FORWARD" => Ok(Direction::Forward),
        other => Err(Error::bad_request(format!(
            "parameter \"direction\": {other:?} is not forward or backward"
        ))),
    }
}

fn query(params: &[(String, String)]) -> Result<String> {
    get(params, "query")
        .map(str::to_string)
        .ok_or_else(|| Error::bad_request("parameter \"query\" is required"))
}

fn range(params: &[(String, String)], now: i64, default_since: i64) -> Result<(i64, i64)> {
    let end = match get(params, "end") {
        Some(v) => parse_time("end", v)?,
        None => now,
    };
    let start = match (get(params, "start"), get(params, "since")) {
        (Some(v), _) => parse_time("start", v)?,
        (None, Some(since)) => end - parse_step(since)?,
        (None, None) => end - default_since,
    };
    if end < start {
        return Err(Error::bad_request(
            "parameter \"end\": the end timestamp must not be before the start time",
        ));
    }
    Ok((start, end))
}

/// `query_range`'s parameters; `now` is Unix ns.
pub fn range_query(params: &[(String, String)], now: i64) -> Result<QueryParams> {
    let query = query(params)?;
    let (start, end) = range(params, now, HOUR)?;
    let step = match get(params, "step").or_else(|| get(params, "interval")) {
        Some(v) => parse_step(v)?,
        // Loki's default: about 250 points, at least 1s.
        None => ((end - start) / 250).max(1_000_000_000) / 1_000_000_000 * 1_000_000_000,
    };
    Ok(QueryParams {
        query,
        start,
        end,
        step,
        limit: limit(params)?.unwrap_or(DEFAULT_LIMIT),
        direction: direction(params)?,
    })
}

/// `query`'s parameters (instant).
pub fn instant_query(params: &[(String, String)], now: i64) -> Result<QueryParams> {
    let query = query(params)?;
    let time = match get(params, "time") {
        Some(v) => parse_time("time", v)?,
        None => now,
    };
    Ok(QueryParams {
        query,
        start: time,
        end: time,
        step: 0,
        limit: limit(params)?.unwrap_or(DEFAULT_LIMIT),
        direction: direction(params)?,
    })
}

/// The metadata endpoints' parameters (labels, values, series, stats, volume).
pub fn range_params(params: &[(String, String)], now: i64) -> Result<RangeParams> {
    let (start, end) = range(params, now, 6 * HOUR)?;
    let mut selectors: Vec<String> = params
        .iter()
        .filter(|(k, v)| (k == "match[]" || k == "match") && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(q) = get(params, "query") {
        selectors.push(q.to_string());
    }
    let step = match get(params, "step") {
        Some(v) => parse_step(v)?,
        None => ((end - start) / 250).max(1_000_000_000),
    };
    Ok(RangeParams {
        start,
        end,
        selectors,
        step,
        limit: limit(params)?,
        target_labels: get(params, "targetLabels")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        by_labels: get(params, "aggregateBy") == Some("labels"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn times_in_every_form() {
        assert_eq!(
            parse_time("t", "4000000000").unwrap(),
            4_000_000_000_000_000_000
        );
        assert_eq!(
            parse_time("t", "1700000000000000000").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time("t", "1700000000.25").unwrap(),
            1_700_000_000_250_000_000
        );
        assert_eq!(
            parse_time("t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time("t", "yesterday").is_err());
    }

    #[test]
    fn grafana_health_check_and_steps() {
        let q = instant_query(
            &p(&[
                ("query", "vector(1)+vector(1)"),
                ("time", "4000000000"),
                ("direction", "backward"),
            ]),
            0,
        )
        .unwrap();
        // Ten digits are seconds, as Loki reads them: the health check asks about the year 2096.
        assert_eq!(
            (q.start, q.end, q.step),
            (4_000_000_000_000_000_000, 4_000_000_000_000_000_000, 0)
        );
        let q = range_query(
            &p(&[
                ("query", "{a=\"b\"}"),
                ("start", "1700000000000000000"),
                ("end", "1700003600000000000"),
                ("step", "15000ms"),
                ("limit", "1000"),
            ]),
            0,
        )
        .unwrap();
        assert_eq!(
            (q.step, q.limit, q.direction),
            (15_000_000_000, 1000, Direction::Backward)
        );
        assert_eq!(parse_step("15").unwrap(), 15_000_000_000);
        assert_eq!(parse_step("1m").unwrap(), 60_000_000_000);
        assert!(parse_step("0").is_err());
        let e = range_query(&p(&[("query", "x"), ("start", "10"), ("end", "5")]), 0).unwrap_err();
        assert!(e.to_string().contains("before the start"));
        assert!(range_query(&p(&[]), 0)
            .unwrap_err()
            .to_string()
            .contains("\"query\" is required"));
    }
}
