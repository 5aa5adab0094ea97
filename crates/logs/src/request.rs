//! The log query API's parameters (KubeSphere's names), validated, with the
//! caller's scope turned into one namespace-set filter.

use crate::cursor::Cursor;
use periscope_model::{Error, ErrorKind, Result, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A page of lines and the total.
    Query,
    /// Line and container counts.
    Statistics,
    /// Line counts per time bucket.
    Histogram,
    /// Every matching line, streamed.
    Export,
}

/// Time order of lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// How an export writes lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The log text, ANSI escapes removed, one line each.
    Text,
    /// One JSON object per line with time and pod metadata.
    Ndjson,
}

/// Which lines a request is about. Every field narrows the result.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFilter {
    /// Namespaces the caller may see and asked for; `None` means every
    /// namespace (a cluster-wide caller without a namespace list).
    pub namespaces: Option<Arc<BTreeSet<String>>>,
    /// Workload names (their pods' names, see [`crate::workload`]).
    pub workloads: Vec<String>,
    pub pods: Vec<String>,
    pub containers: Vec<String>,
    /// Case-insensitive substrings, each list OR'd.
    pub namespace_query: Vec<String>,
    pub workload_query: Vec<String>,
    pub pod_query: Vec<String>,
    pub container_query: Vec<String>,
    /// Keywords, case-insensitive, OR'd, matched anywhere in the line.
    pub log_query: Vec<String>,
    /// Time range, Unix ns, inclusive.
    pub start: i64,
    pub end: i64,
}

impl LogFilter {
    /// Whether the filter can match nothing at all (an empty scope).
    pub fn is_empty_scope(&self) -> bool {
        self.namespaces.as_ref().is_some_and(|n| n.is_empty())
    }
}

/// A parsed log request.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRequest {
    pub operation: Operation,
    pub filter: LogFilter,
    /// Histogram bucket width, ns.
    pub interval: i64,
    pub sort: SortOrder,
    pub from: usize,
    pub size: usize,
    pub cursor: Option<Cursor>,
    pub format: ExportFormat,
}

/// Most lines on one page (more through the cursor or an export).
pub const MAX_PAGE: usize = 10_000;
/// Deepest offset of a page (`from`); deeper pages are read with a cursor.
pub const MAX_FROM: usize = 1_000_000;
/// Most histogram buckets in one answer.
pub const MAX_BUCKETS: usize = 11_000;

const PARAMETERS: [&str; 18] = [
    "operation",
    "namespaces",
    "workloads",
    "pods",
    "containers",
    "namespace_query",
    "workload_query",
    "pod_query",
    "container_query",
    "log_query",
    "start_time",
    "end_time",
    "interval",
    "sort",
    "from",
    "size",
    "cursor",
    "format",
];

impl LogRequest {
    /// Parses query parameters for a caller with `scope`; `now` (Unix ns) is
    /// the default end. A namespace outside the scope is refused (403).
    pub fn parse(params: &[(String, String)], scope: &Scope, now: i64) -> Result<LogRequest> {
        for (i, (k, _)) in params.iter().enumerate() {
            if !PARAMETERS.contains(&k.as_str()) {
                return Err(Error::bad_request(format!(
                    "unknown parameter {k:?}; expected one of {}",
                    PARAMETERS.join(", ")
                )));
            }
            if params[..i].iter().any(|(earlier, _)| earlier == k) {
                return Err(Error::bad_request(format!(
                    "parameter {k:?} is given more than once"
                )));
            }
        }
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let lower = |name: &str| {
            list(name)
                .into_iter()
                .map(|s| s.to_lowercase())
                .collect::<Vec<_>>()
        };

        let operation = match get("operation").unwrap_or("query") {
            "query" => Operation::Query,
            "statistics" => Operation::Statistics,
            "histogram" => Operation::Histogram,
            "export" => Operation::Export,
            other => {
                return Err(Error::bad_request(format!(
                    "parameter \"operation\": {other:?} is not one of query, statistics, histogram, export"
                )))
            }
        };
        let end = match get("end_time") {
            Some(v) => parse_time("end_time", v)?,
            None => now,
        };
        let start = match get("start_time") {
            Some(v) => parse_time("start_time", v)?,
            None => 0,
        };
        if start > end {
            return Err(Error::bad_request(
                "parameter \"start_time\" is after \"end_time\"",
            ));
        }
        let interval = match get("interval") {
            None => 15 * 60 * 1_000_000_000,
            Some(v) => {
                let d = humantime::parse_duration(v).map_err(|e| {
                    Error::bad_request(format!(
                        "parameter \"interval\": {v:?} is not a duration like 15m: {e}"
                    ))
                })?;
                if d.as_secs() < 1 {
                    return Err(Error::bad_request(
                        "parameter \"interval\" must be at least 1s",
                    ));
                }
                d.as_nanos().min(i64::MAX as u128) as i64
            }
        };
        let sort = match get("sort").unwrap_or("desc") {
            "desc" => SortOrder::Desc,
            "asc" => SortOrder::Asc,
            other => {
                return Err(Error::bad_request(format!(
                    "parameter \"sort\": {other:?} is not asc or desc"
                )))
            }
        };
        let number = |name: &str, default: usize| -> Result<usize> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    Error::bad_request(format!(
                        "parameter {name:?}: {v:?} is not a non-negative integer"
                    ))
                }),
            }
        };
        let from = number("from", 0)?;
        let size = number("size", 10)?;
        if size > MAX_PAGE {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("parameter \"size\" is at most {MAX_PAGE}; page further with \"cursor\" or use operation=export"),
            ));
        }
        if from > MAX_FROM {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("parameter \"from\" is at most {MAX_FROM}; page further with \"cursor\""),
            ));
        }
        let cursor = get("cursor").map(Cursor::decode).transpose()?;
        if let Some(c) = &cursor {
            if c.order != sort {
                return Err(Error::bad_request(
                    "parameter \"cursor\" was made for the other sort order",
                ));
            }
            if from != 0 {
                return Err(Error::bad_request(
                    "parameters \"cursor\" and \"from\" cannot be combined",
                ));
            }
        }
        let format = match get("format").unwrap_or("text") {
            "text" => ExportFormat::Text,
            "ndjson" => ExportFormat::Ndjson,
            other => {
                return Err(Error::bad_request(format!(
                    "parameter \"format\": {other:?} is not text or ndjson"
                )))
            }
        };
        let namespaces = scoped_namespaces(list("namespaces"), scope)?;
        Ok(LogRequest {
            operation,
            filter: LogFilter {
                namespaces,
                workloads: list("workloads"),
                pods: list("pods"),
                containers: list("containers"),
                namespace_query: lower("namespace_query"),
                workload_query: lower("workload_query"),
                pod_query: lower("pod_query"),
                container_query: lower("container_query"),
                log_query: lower("log_query"),
                start,
                end,
            },
            interval,
            sort,
            from,
            size,
            cursor,
            format,
        })
    }
}

/// The namespace set a request may read: the asked namespaces, each of which
/// must be in the scope, or the whole scope.
fn scoped_namespaces(asked: Vec<String>, scope: &Scope) -> Result<Option<Arc<BTreeSet<String>>>> {
    match scope {
        Scope::ClusterWide if asked.is_empty() => Ok(None),
        Scope::ClusterWide => Ok(Some(Arc::new(asked.into_iter().collect()))),
        Scope::Namespaces(allowed) if asked.is_empty() => Ok(Some(Arc::clone(allowed))),
        Scope::Namespaces(allowed) => {
            if let Some(foreign) = asked.iter().find(|n| !allowed.contains(*n)) {
                return Err(Error::forbidden(format!(
                    "namespace {foreign:?} is outside your scope"
                )));
            }
            Ok(Some(Arc::new(asked.into_iter().collect())))
        }
    }
}

/// Unix seconds (fractions allowed) or RFC 3339, as Unix ns.
fn parse_time(name: &str, v: &str) -> Result<i64> {
    if let Ok(seconds) = v.parse::<f64>() {
        if seconds.is_finite() && (0.0..9.0e9).contains(&seconds) {
            return Ok((seconds * 1e9).round() as i64);
        }
    } else if let Some(ns) = crate::parse_rfc3339(v) {
        return Ok(ns);
    }
    Err(Error::bad_request(format!(
        "parameter {name:?}: {v:?} is not Unix seconds or RFC 3339"
    )))
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

    fn tenant() -> Scope {
        Scope::namespaces(["shop", "shop-db"])
    }

    #[test]
    fn defaults_and_lists() {
        let r = LogRequest::parse(
            &params(&[("pods", "a, b,,"), ("log_query", "Error,TIMEOUT")]),
            &tenant(),
            99,
        )
        .unwrap();
        assert_eq!(r.operation, Operation::Query);
        assert_eq!(
            (r.filter.start, r.filter.end, r.size, r.from, r.sort),
            (0, 99, 10, 0, SortOrder::Desc)
        );
        assert_eq!(r.filter.pods, ["a", "b"]);
        assert_eq!(r.filter.log_query, ["error", "timeout"]);
        assert_eq!(r.filter.namespaces.unwrap().len(), 2);
        assert_eq!(r.interval, 900_000_000_000);
    }

    #[test]
    fn scope_narrows_and_refuses_foreign_namespaces() {
        let r = LogRequest::parse(&params(&[("namespaces", "shop")]), &tenant(), 0).unwrap();
        assert_eq!(
            r.filter.namespaces.unwrap().iter().collect::<Vec<_>>(),
            ["shop"]
        );
        let e = LogRequest::parse(&params(&[("namespaces", "shop,kube-system")]), &tenant(), 0)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.message().contains("kube-system"));
        let admin = LogRequest::parse(&params(&[]), &Scope::ClusterWide, 0).unwrap();
        assert_eq!(admin.filter.namespaces, None);
        let nothing =
            LogRequest::parse(&params(&[]), &Scope::namespaces(Vec::<String>::new()), 0).unwrap();
        assert!(nothing.filter.is_empty_scope());
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, expected) in [
            (vec![("operation", "delete")], "operation"),
            (vec![("start_time", "yesterday")], "start_time"),
            (vec![("start_time", "10"), ("end_time", "5")], "start_time"),
            (vec![("interval", "fortnight")], "interval"),
            (vec![("interval", "10ms")], "interval"),
            (vec![("sort", "up")], "sort"),
            (vec![("size", "-1")], "size"),
            (vec![("size", "10001")], "size"),
            (vec![("from", "x")], "from"),
            (vec![("from", "9223372036854775808")], "\"from\" is at most"),
            (vec![("cursor", "!!")], "cursor"),
            (vec![("format", "xml")], "format"),
            (
                vec![("namespace", "shop")],
                "unknown parameter \"namespace\"",
            ),
            (vec![("pods", "a"), ("pods", "b")], "more than once"),
        ] {
            let e = LogRequest::parse(&params(&pairs), &tenant(), 100).unwrap_err();
            assert!(e.message().contains(expected), "{pairs:?}: {}", e.message());
        }
    }

    #[test]
    fn times_take_seconds_and_rfc3339() {
        let r = LogRequest::parse(
            &params(&[("start_time", "1.5"), ("end_time", "2026-11-26T10:00:00Z")]),
            &tenant(),
            0,
        )
        .unwrap();
        assert_eq!(
            (r.filter.start, r.filter.end),
            (1_500_000_000, 1_795_687_200_000_000_000)
        );
    }

    #[test]
    fn a_cursor_is_bound_to_its_order() {
        let c = Cursor {
            order: SortOrder::Asc,
            after: vec![],
        }
        .encode();
        assert!(LogRequest::parse(&params(&[("cursor", &c)]), &tenant(), 0).is_err());
        assert!(
            LogRequest::parse(&params(&[("cursor", &c), ("sort", "asc")]), &tenant(), 0).is_ok()
        );
    }
}
