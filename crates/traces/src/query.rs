//! The parameters of Jaeger's query API, parsed and checked: trace search
//! (`/api/traces`), operations and dependencies. Units are Jaeger's: search
//! times in microseconds, dependency times in milliseconds, durations as Go
//! duration strings.

use crate::id::TraceId;
use crate::span::kind_number;
use periscope_model::{Error, Result};

/// Traces a search returns when it names no limit (Jaeger's default).
pub const DEFAULT_LIMIT: usize = 100;
/// Most traces one search may return.
pub const MAX_LIMIT: usize = 1500;
/// The window of a search that names no start (Jaeger's default lookback).
const DEFAULT_LOOKBACK_NS: i64 = 2 * 24 * 3600 * 1_000_000_000;
/// The window of a dependencies request that names no lookback.
const DEFAULT_DEPENDENCY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// A trace search: traces with at least one in-scope span matching all of it,
/// newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// OTLP span kind number.
    pub kind: Option<i32>,
    /// Every `(key, value)` must be a tag of the span or its resource.
    pub tags: Vec<(String, String)>,
    /// Unix nanoseconds, inclusive.
    pub start: i64,
    pub end: i64,
    /// Nanoseconds.
    pub min_duration: Option<i64>,
    pub max_duration: Option<i64>,
    pub limit: usize,
}

/// A parsed `/api/traces` request: a search, or traces by id.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceRequest {
    Search(SpanQuery),
    Ids(Vec<TraceId>),
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn integer(name: &str, text: &str) -> Result<i64> {
    text.trim().parse::<i64>().map_err(|_| {
        Error::bad_request(format!(
            "invalid parameter {name:?}: {text:?} is not an integer"
        ))
    })
}

/// Microseconds as nanoseconds, refusing what does not fit.
fn micros(name: &str, text: &str) -> Result<i64> {
    integer(name, text)?.checked_mul(1000).ok_or_else(|| {
        Error::bad_request(format!(
            "invalid parameter {name:?}: {text:?} is out of range"
        ))
    })
}

impl TraceRequest {
    /// Parses `/api/traces` parameters at `now` (Unix ns).
    pub fn parse(params: &[(String, String)], now: i64) -> Result<TraceRequest> {
        let ids: Vec<&str> = params
            .iter()
            .filter(|(k, v)| k == "traceID" && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect();
        if !ids.is_empty() {
            if ids.len() > MAX_LIMIT {
                return Err(Error::bad_request(format!(
                    "at most {MAX_LIMIT} traceID parameters"
                )));
            }
            return ids
                .into_iter()
                .map(TraceId::parse)
                .collect::<Result<Vec<_>>>()
                .map(TraceRequest::Ids);
        }
        let service = get(params, "service").map(str::to_string).ok_or_else(|| {
            Error::bad_request("parameter \"service\" is required unless traceID is given")
        })?;
        let end = match get(params, "end") {
            Some(t) => micros("end", t)?,
            None => now,
        };
        let start = match get(params, "start") {
            Some(t) => micros("start", t)?,
            None => end.saturating_sub(DEFAULT_LOOKBACK_NS),
        };
        if start > end {
            return Err(Error::bad_request("parameter \"start\" is after \"end\""));
        }
        let mut tags = Vec::new();
        if let Some(json) = get(params, "tags") {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
                .map_err(|e| {
                    Error::bad_request(format!(
                        "invalid parameter \"tags\": a JSON object of strings is expected: {e}"
                    ))
                })?;
            for (k, v) in map {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                tags.push((k, v));
            }
        }
        for (_, tag) in params.iter().filter(|(k, _)| k == "tag") {
            let (k, v) = tag.split_once(':').ok_or_else(|| {
                Error::bad_request(format!(
                    "invalid parameter \"tag\": {tag:?} is not key:value"
                ))
            })?;
            tags.push((k.to_string(), v.to_string()));
        }
        let duration = |name: &str| get(params, name).map(|d| go_duration(name, d)).transpose();
        let (min_duration, max_duration) = (duration("minDuration")?, duration("maxDuration")?);
        if let (Some(min), Some(max)) = (min_duration, max_duration) {
            if min > max {
                return Err(Error::bad_request(
                    "parameter \"minDuration\" is larger than \"maxDuration\"",
                ));
            }
        }
        let limit = match get(params, "limit") {
            None => DEFAULT_LIMIT,
            Some(l) => {
                let n = integer("limit", l)?;
                if n < 0 {
                    return Err(Error::bad_request(
                        "parameter \"limit\" must not be negative",
                    ));
                }
                match n {
                    0 => DEFAULT_LIMIT,
                    n => (n as usize).min(MAX_LIMIT),
                }
            }
        };
        Ok(TraceRequest::Search(SpanQuery {
            service: Some(service),
            operation: get(params, "operation").map(str::to_string),
            kind: span_kind(get(params, "spanKind"))?,
            tags,
            start,
            end,
            min_duration,
            max_duration,
            limit,
        }))
    }
}

/// The first non-empty of several parameter names (api_v3 takes camelCase
/// and the older snake_case spellings).
fn any_of<'a>(params: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| get(params, n))
}

/// An RFC 3339 time (nanoseconds allowed) in Unix ns.
fn rfc3339(name: &str, text: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| {
            Error::bad_request(format!(
                "malformed parameter {name}: {text:?} is not an RFC 3339 time"
            ))
        })
}

impl SpanQuery {
    /// Parses api_v3's `GET /api/v3/traces` parameters (`query.serviceName`,
    /// `query.startTimeMin`, ... or their snake_case forms).
    pub fn parse_v3(params: &[(String, String)]) -> Result<SpanQuery> {
        let (min, max) = (
            any_of(params, &["query.startTimeMin", "query.start_time_min"]),
            any_of(params, &["query.startTimeMax", "query.start_time_max"]),
        );
        let (Some(min), Some(max)) = (min, max) else {
            return Err(Error::bad_request(
                "query.start_time_min and query.start_time_max are required",
            ));
        };
        let (start, end) = (
            rfc3339("query.start_time_min", min)?,
            rfc3339("query.start_time_max", max)?,
        );
        if start > end {
            return Err(Error::bad_request(
                "query.start_time_min is after query.start_time_max",
            ));
        }
        let duration = |names: &[&str]| {
            any_of(params, names)
                .map(|d| go_duration(names[1], d))
                .transpose()
        };
        let mut tags = Vec::new();
        if let Some(json) = any_of(params, &["query.attributes"]) {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
                .map_err(|e| {
                    Error::bad_request(format!("malformed parameter query.attributes: {e}"))
                })?;
            for (k, v) in map {
                tags.push((k, v.as_str().map_or_else(|| v.to_string(), str::to_string)));
            }
        }
        let limit = match any_of(
            params,
            &[
                "query.searchDepth",
                "query.search_depth",
                "query.num_traces",
            ],
        ) {
            None => DEFAULT_LIMIT,
            Some(n) => match integer("query.search_depth", n)? {
                n if n < 0 => {
                    return Err(Error::bad_request(
                        "query.search_depth must not be negative",
                    ))
                }
                0 => DEFAULT_LIMIT,
                n => (n as usize).min(MAX_LIMIT),
            },
        };
        Ok(SpanQuery {
            service: any_of(params, &["query.serviceName", "query.service_name"])
                .map(str::to_string),
            operation: any_of(params, &["query.operationName", "query.operation_name"])
                .map(str::to_string),
            kind: None,
            tags,
            start,
            end,
            min_duration: duration(&["query.durationMin", "query.duration_min"])?,
            max_duration: duration(&["query.durationMax", "query.duration_max"])?,
            limit,
        })
    }
}

/// The optional window of a trace fetched by id (Unix ns): Jaeger v1's
/// `start`/`end` in µs, or api_v3's `startTime`/`endTime` (RFC 3339, also
/// `start_time`/`end_time`). `None` when neither bound is given.
pub fn trace_window(params: &[(String, String)], v3: bool) -> Result<Option<(i64, i64)>> {
    let bound = |names: &[&str]| -> Result<Option<i64>> {
        match any_of(params, names) {
            None => Ok(None),
            Some(t) if v3 => rfc3339(names[0], t).map(Some),
            Some(t) => micros(names[0], t).map(Some),
        }
    };
    let (start, end) = if v3 {
        (
            bound(&["startTime", "start_time"])?,
            bound(&["endTime", "end_time"])?,
        )
    } else {
        (bound(&["start"])?, bound(&["end"])?)
    };
    match (start, end) {
        (None, None) => Ok(None),
        (start, end) => {
            let (start, end) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
            if start > end {
                return Err(Error::bad_request("the trace's start is after its end"));
            }
            Ok(Some((start, end)))
        }
    }
}

/// A `spanKind` parameter (`server`, `client`, ...) as its OTLP number.
pub fn span_kind(text: Option<&str>) -> Result<Option<i32>> {
    match text {
        None | Some("") => Ok(None),
        Some(k) => kind_number(k).map(Some).ok_or_else(|| {
            Error::bad_request(format!(
                "invalid parameter \"spanKind\": {k:?} is not one of internal, server, client, producer, consumer"
            ))
        }),
    }
}

/// The window of `/api/dependencies` (`endTs`, `lookback` in ms) in Unix ns.
pub fn dependency_window(params: &[(String, String)], now: i64) -> Result<(i64, i64)> {
    let millis = |name: &str, text: &str| {
        integer(name, text)?.checked_mul(1_000_000).ok_or_else(|| {
            Error::bad_request(format!(
                "invalid parameter {name:?}: {text:?} is out of range"
            ))
        })
    };
    let end = match get(params, "endTs") {
        Some(t) => millis("endTs", t)?,
        None => now,
    };
    let lookback = match get(params, "lookback") {
        Some(t) => millis("lookback", t)?,
        None => DEFAULT_DEPENDENCY_LOOKBACK_MS * 1_000_000,
    };
    if lookback <= 0 {
        return Err(Error::bad_request(
            "parameter \"lookback\" must be positive",
        ));
    }
    Ok((end.saturating_sub(lookback), end))
}

/// A Go duration string (`10ms`, `1.5s`, `1h2m`, `250us`, `3µs`, `7ns`) in ns.
pub fn go_duration(name: &str, text: &str) -> Result<i64> {
    let bad = || {
        Error::bad_request(format!(
            "invalid parameter {name:?}: {text:?} is not a duration such as 10ms, 1.5s or 1h2m"
        ))
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_grafana_search_parses_in_jaegers_units() {
        // What Grafana's Jaeger datasource sends for a search
        // (grafana: public/app/plugins/datasource/jaeger/datasource.ts).
        let p = params(&[
            ("service", "checkout"),
            ("operation", "GET /cart"),
            ("tags", r#"{"http.status_code":"500","error":true}"#),
            ("tag", "k8s.pod.name:web-1"),
            ("minDuration", "1.5ms"),
            ("maxDuration", "2s"),
            ("limit", "20"),
            ("start", "1700000000000000"),
            ("end", "1700003600000000"),
            ("lookback", "custom"),
        ]);
        let TraceRequest::Search(q) = TraceRequest::parse(&p, 0).unwrap() else {
            panic!()
        };
        assert_eq!(q.start, 1_700_000_000_000_000_000);
        assert_eq!(q.end, 1_700_003_600_000_000_000);
        assert_eq!(q.min_duration, Some(1_500_000));
        assert_eq!(q.max_duration, Some(2_000_000_000));
        assert_eq!(q.limit, 20);
        assert_eq!(
            q.tags,
            [
                ("error".to_string(), "true".to_string()),
                ("http.status_code".into(), "500".into()),
                ("k8s.pod.name".into(), "web-1".into())
            ]
        );
    }

    #[test]
    fn ids_limits_and_bad_values() {
        let ids = TraceRequest::parse(
            &params(&[
                ("traceID", "abc"),
                ("traceID", "5b8efff798038103d269b633813fc60c"),
            ]),
            0,
        )
        .unwrap();
        assert!(matches!(ids, TraceRequest::Ids(v) if v.len() == 2));
        let TraceRequest::Search(q) =
            TraceRequest::parse(&params(&[("service", "s"), ("limit", "99999999")]), 10).unwrap()
        else {
            panic!()
        };
        assert_eq!((q.limit, q.end), (MAX_LIMIT, 10));
        for (bad, says) in [
            (vec![("operation", "x")], "\"service\" is required"),
            (vec![("service", "s"), ("start", "x")], "\"start\""),
            (
                vec![("service", "s"), ("start", "9223372036854775807")],
                "out of range",
            ),
            (
                vec![("service", "s"), ("start", "10"), ("end", "5")],
                "after",
            ),
            (vec![("service", "s"), ("minDuration", "1y")], "minDuration"),
            (
                vec![
                    ("service", "s"),
                    ("minDuration", "2s"),
                    ("maxDuration", "1s"),
                ],
                "larger",
            ),
            (vec![("service", "s"), ("tags", "[1]")], "tags"),
            (vec![("service", "s"), ("tag", "nocolon")], "key:value"),
            (vec![("service", "s"), ("limit", "-1")], "negative"),
            (vec![("traceID", "zz")], "invalid trace id"),
        ] {
            let e = TraceRequest::parse(&params(&bad), 0).unwrap_err();
            assert!(e.message().contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn api_v3_searches_take_both_spellings() {
        let camel = params(&[
            ("query.serviceName", "api"),
            ("query.startTimeMin", "2023-11-14T22:13:20.000000001Z"),
            ("query.startTimeMax", "2023-11-14T23:13:20Z"),
            ("query.durationMin", "5ms"),
            ("query.attributes", r#"{"http.status_code":"500"}"#),
            ("query.searchDepth", "3"),
        ]);
        let q = SpanQuery::parse_v3(&camel).unwrap();
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(
            (q.start, q.end),
            (1_700_000_000_000_000_001, 1_700_003_600_000_000_000)
        );
        assert_eq!((q.min_duration, q.limit), (Some(5_000_000), 3));
        assert_eq!(
            q.tags,
            [("http.status_code".to_string(), "500".to_string())]
        );
        let snake = params(&[
            ("query.service_name", "api"),
            ("query.start_time_min", "2023-11-14T22:13:20Z"),
            ("query.start_time_max", "2023-11-14T23:13:20Z"),
            ("query.num_traces", "7"),
        ]);
        assert_eq!(SpanQuery::parse_v3(&snake).unwrap().limit, 7);
        let e = SpanQuery::parse_v3(&params(&[("query.service_name", "api")])).unwrap_err();
        assert!(e.message().contains("required"));
        let bad = params(&[
            ("query.start_time_min", "yesterday"),
            ("query.start_time_max", "2023-11-14T23:13:20Z"),
        ]);
        assert!(SpanQuery::parse_v3(&bad)
            .unwrap_err()
            .message()
            .contains("RFC 3339"));
    }

    #[test]
    fn a_trace_by_id_may_name_its_window() {
        assert_eq!(trace_window(&params(&[]), false).unwrap(), None);
        assert_eq!(
            trace_window(&params(&[("start", "1000"), ("end", "2000")]), false).unwrap(),
            Some((1_000_000, 2_000_000))
        );
        assert_eq!(
            trace_window(&params(&[("startTime", "2023-11-14T22:13:20Z")]), true).unwrap(),
            Some((1_700_000_000_000_000_000, i64::MAX))
        );
        assert!(trace_window(&params(&[("start", "5"), ("end", "1")]), false).is_err());
        assert!(trace_window(&params(&[("end_time", "soon")]), true).is_err());
    }

    #[test]
    fn go_durations_and_dependency_windows() {
        assert_eq!(go_duration("d", "1h2m3s").unwrap(), 3_723_000_000_000);
        assert_eq!(go_duration("d", "250us").unwrap(), 250_000);
        assert_eq!(go_duration("d", "3µs").unwrap(), 3_000);
        for bad in ["", "10", "ms", "1e400s", "1..2s", "9999999999999h"] {
            assert!(go_duration("d", bad).is_err(), "{bad}");
        }
        let w = dependency_window(&params(&[("endTs", "2000"), ("lookback", "1000")]), 0).unwrap();
        assert_eq!(w, (1_000_000_000, 2_000_000_000));
        assert!(dependency_window(&params(&[("lookback", "0")]), 0).is_err());
    }
}
