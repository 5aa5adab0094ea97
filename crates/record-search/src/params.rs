//! Query parameters: unknown or repeated names are refused, and the
//! parameters every search shares are parsed once ([`Search`]).

use crate::cursor::Cursor;
use periscope_model::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// What a search asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A page of records and the total.
    Query,
    /// Distinct resources and record counts.
    Statistics,
    /// Record counts per time bucket.
    Histogram,
    /// Every matching record, streamed as NDJSON.
    Export,
}

/// Time order of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// Most records on one page (more through the cursor or an export).
pub const MAX_PAGE: usize = 10_000;
/// Deepest offset of a page (`from`); deeper pages are read with a cursor.
pub const MAX_FROM: usize = 1_000_000;
/// Most histogram buckets in one answer.
pub const MAX_BUCKETS: usize = 11_000;

/// The parameters every search takes.
pub const COMMON: [&str; 8] = [
    "operation",
    "start_time",
    "end_time",
    "interval",
    "sort",
    "from",
    "size",
    "cursor",
];

/// A request's parameters, checked against the names its search knows.
pub struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// Refuses a name that is neither in [`COMMON`] nor in `specific`, and a
    /// name given twice.
    pub fn new(pairs: &'a [(String, String)], specific: &[&str]) -> Result<Params<'a>> {
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !COMMON.contains(&k.as_str()) && !specific.contains(&k.as_str()) {
                let mut known: Vec<&str> = COMMON.iter().chain(specific).copied().collect();
                known.sort_unstable();
                return Err(Error::bad_request(format!(
                    "unknown parameter {k:?}; expected one of {}",
                    known.join(", ")
                )));
            }
            if pairs[..i].iter().any(|(earlier, _)| earlier == k) {
                return Err(Error::bad_request(format!(
                    "parameter {k:?} is given more than once"
                )));
            }
        }
        Ok(Params { pairs })
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated list, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A list of substrings, lower-cased (fuzzy filters ignore case).
    pub fn lower(&self, name: &str) -> Vec<String> {
        self.list(name)
            .into_iter()
            .map(|s| s.to_lowercase())
            .collect()
    }

    /// A list of integers.
    pub fn integers(&self, name: &str) -> Result<Vec<i64>> {
        self.list(name)
            .iter()
            .map(|v| {
                v.parse().map_err(|_| {
                    Error::bad_request(format!("parameter {name:?}: {v:?} is not an integer"))
                })
            })
            .collect()
    }
}

/// The common part of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub operation: Operation,
    /// Time range, Unix ns, inclusive.
    pub start: i64,
    pub end: i64,
    /// Histogram bucket width, ns (default 15m).
    pub interval: i64,
    pub sort: SortOrder,
    pub from: usize,
    pub size: usize,
    pub cursor: Option<Cursor>,
}

impl Search {
    /// Parses the common parameters; `now` (Unix ns) is the default end.
    pub fn parse(params: &Params<'_>, now: i64) -> Result<Search> {
        let operation = match params.get("operation").unwrap_or("query") {
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
        let end = match params.get("end_time") {
            Some(v) => unix_seconds("end_time", v)?,
            None => now,
        };
        let start = match params.get("start_time") {
            Some(v) => unix_seconds("start_time", v)?,
            None => 0,
        };
        if start > end {
            return Err(Error::bad_request(
                "parameter \"start_time\" is after \"end_time\"",
            ));
        }
        let interval = match params.get("interval") {
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
        let sort = match params.get("sort").unwrap_or("desc") {
            "desc" => SortOrder::Desc,
            "asc" => SortOrder::Asc,
            other => {
                return Err(Error::bad_request(format!(
                    "parameter \"sort\": {other:?} is not asc or desc"
                )))
            }
        };
        let number = |name: &str, default: usize| -> Result<usize> {
            match params.get(name) {
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
        let cursor = params.get("cursor").map(Cursor::decode).transpose()?;
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
        Ok(Search {
            operation,
            start,
            end,
            interval,
            sort,
            from,
            size,
            cursor,
        })
    }

    /// The histogram bucket `ns` falls in, as Unix ms.
    pub fn bucket_ms(&self, ns: i64) -> i64 {
        (ns - ns.rem_euclid(self.interval)).div_euclid(1_000_000)
    }
}

/// Unix seconds (KubeSphere's unit; fractions allowed) as Unix ns.
fn unix_seconds(name: &str, v: &str) -> Result<i64> {
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..9.0e9).contains(&s) => Ok((s * 1e9).round() as i64),
        _ => Err(Error::bad_request(format!(
            "parameter {name:?}: {v:?} is not Unix seconds"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_kubesphere_s() {
        let p = pairs(&[]);
        let s = Search::parse(&Params::new(&p, &[]).unwrap(), 99).unwrap();
        assert_eq!(
            (s.operation, s.start, s.end, s.sort, s.from, s.size),
            (Operation::Query, 0, 99, SortOrder::Desc, 0, 10)
        );
        assert_eq!(s.interval, 900_000_000_000);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (p, expected) in [
            (vec![("operation", "delete")], "operation"),
            (vec![("start_time", "yesterday")], "start_time"),
            (vec![("start_time", "10"), ("end_time", "5")], "start_time"),
            (vec![("interval", "10ms")], "interval"),
            (vec![("sort", "up")], "sort"),
            (vec![("size", "10001")], "size"),
            (vec![("from", "-3")], "from"),
            (vec![("from", "9223372036854775808")], "\"from\" is at most"),
            (vec![("cursor", "!!")], "cursor"),
            (vec![("reason", "x")], "unknown parameter \"reason\""),
            (vec![("size", "1"), ("size", "2")], "more than once"),
        ] {
            let p = pairs(&p);
            let e = Params::new(&p, &["type_filter"])
                .and_then(|params| Search::parse(&params, 100))
                .unwrap_err();
            assert!(e.message().contains(expected), "{p:?}: {}", e.message());
        }
    }

    #[test]
    fn buckets_are_ms_at_interval_starts() {
        let p = pairs(&[("interval", "1m")]);
        let s = Search::parse(&Params::new(&p, &[]).unwrap(), 0).unwrap();
        assert_eq!(s.bucket_ms(125_000_000_000), 120_000);
    }
}
