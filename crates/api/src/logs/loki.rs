//! The Loki query API over a cluster's log backend: LogQL parsed, scoped to
//! the caller (`periscope_tenancy::logql`), bounded by the caller's limits,
//! and evaluated (`periscope_logql::eval`) over the lines the backend
//! streams for each selector.

use super::LogBackend;
use crate::state::{within, AppState, Caller};
use periscope_config::Limits;
use periscope_logql::ast::{Expr, LogExpr, Selector};
use periscope_logql::eval::{self, Entry, LogQuery, MetricQuery};
use periscope_logql::pipeline::CompiledMatcher;
use periscope_logql::request::{self, Direction, QueryParams, RangeParams};
use periscope_logql::response::{self, Stats};
use periscope_logql::streams::{self, stream_labels, LineStreams, Source, StreamIds};
use periscope_logql::{LabelSet, ParseError};
use periscope_logs::response::{too_many_streams, MAX_STREAM_VOLUMES};
use periscope_logs::{LogFilter, LogLine, SortOrder, StreamVolume};
use periscope_model::{Error, ErrorKind, Result, Scope};
use periscope_record_search::{Answer, Chunk, Export};
use periscope_tenancy::logql::{enforce_logql, enforce_logql_selector};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Longest accepted LogQL text.
pub(crate) const MAX_QUERY_BYTES: usize = 64 << 10;
/// Chunks in flight between a backend and an evaluation.
const LINE_BUFFER: usize = 4;

fn parse_error(e: ParseError) -> Error {
    Error::bad_request(e.to_string())
}

fn eval_error(e: periscope_logql::EvalError) -> Error {
    match e {
        periscope_logql::EvalError::Invalid(m) => Error::bad_request(m),
        periscope_logql::EvalError::Limit(m) => Error::new(ErrorKind::LimitExceeded, m),
    }
}

/// The parsed, scoped query.
fn scoped_query(text: &str, scope: &Scope) -> Result<Expr> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!(
                "the query is {} bytes, more than {MAX_QUERY_BYTES}",
                text.len()
            ),
        ));
    }
    let mut expr = periscope_logql::parse(text).map_err(parse_error)?;
    streams::canonicalize(&mut expr);
    enforce_logql(&mut expr, scope)?;
    for log in expr.log_exprs() {
        if !eval::is_selective(&log.selector) {
            return Err(Error::bad_request(
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
    }
    Ok(expr)
}

/// A selector given alone, scoped (`{}` when none is given).
fn scoped_selector(text: Option<&str>, scope: &Scope) -> Result<Selector> {
    let mut selector = match text {
        Some(t) if t.len() > MAX_QUERY_BYTES => {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                "the selector is too long",
            ))
        }
        Some(t) => parse_stream_selector(t)?,
        None => Selector::default(),
    };
    streams::canonicalize_selector(&mut selector);
    enforce_logql_selector(&mut selector, scope)?;
    Ok(selector)
}

/// A selector, or a log query standing for its selector (as Loki reads the
/// metadata endpoints' `query`).
fn parse_stream_selector(text: &str) -> Result<Selector> {
    match periscope_logql::parse_selector(text) {
        Ok(selector) => Ok(selector),
        Err(e) => match periscope_logql::parse(text) {
            Ok(Expr::Log(log)) => Ok(log.selector),
            _ => Err(parse_error(e)),
        },
    }
}

fn check_limits(q: &QueryParams, expr: &Expr, limits: &Limits) -> Result<()> {
    let longest = match expr {
        Expr::Log(_) => 0,
        Expr::Metric(m) => m
            .ranges()
            .iter()
            .map(|r| r.range + r.offset.max(0))
            .max()
            .unwrap_or(0),
    };
    let span = (q.end - q.start).saturating_add(longest);
    let max = limits.max_range.as_nanos().min(i64::MAX as u128) as i64;
    if span > max {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "the query reads {} of logs, more than the limit of {}; shorten the time range or the [range] of the query",
                periscope_logql::units::format_duration(span),
                periscope_logql::units::format_duration(max)
            ),
        ));
    }
    if q.step > 0 {
        let points = (q.end - q.start) / q.step + 1;
        if points as u64 > limits.max_points_per_series {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the query would return {points} points per series, more than the limit of {}; use a larger step",
                    limits.max_points_per_series
                ),
            ));
        }
    }
    if matches!(expr, Expr::Log(_)) && q.limit > limits.max_log_lines {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "max entries limit per query exceeded, limit > max_log_lines ({} > {}); ask for at most {} lines (Grafana: the data source's maximum lines)",
                q.limit, limits.max_log_lines, limits.max_log_lines
            ),
        ));
    }
    Ok(())
}

/// A running tail: its scoped query and the first time not yet sent.
pub(crate) struct Tail {
    log: LogExpr,
    /// Unix ns.
    since: i64,
    limit: usize,
    /// ns behind the clock.
    delay: i64,
    cluster: Option<String>,
    cluster_name: String,
}

/// The namespaces a caller may see, as a backend filter takes them.
fn visible(scope: &Scope) -> Option<&Arc<BTreeSet<String>>> {
    match scope {
        Scope::ClusterWide => None,
        Scope::Namespaces(n) => Some(n),
    }
}

impl AppState {
    /// `query` (instant) and `query_range`: Loki's JSON answer.
    pub(crate) async fn loki_query(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
        instant: bool,
    ) -> Result<String> {
        let now = periscope_store::unix_now_ns();
        let q = if instant {
            request::instant_query(params, now)?
        } else {
            request::range_query(params, now)?
        };
        let expr = scoped_query(&q.query, &caller.scope)?;
        let limits = &caller.principal.limits;
        check_limits(&q, &expr, limits)?;
        let name = self.cluster(cluster)?.name.clone();
        let (permit, timeout) = self.query_slot(caller)?;
        let started = Instant::now();
        let run = async {
            match &expr {
                Expr::Log(log) => {
                    if instant {
                        return Err(Error::bad_request(
                            "log queries are not supported as an instant query type, please change your query to a range query type",
                        ));
                    }
                    let (out, scanned) = self
                        .log_streams(
                            caller,
                            cluster,
                            &name,
                            log,
                            (q.start, q.end - 1),
                            q.limit,
                            q.direction,
                            timeout,
                        )
                        .await?;
                    let returned = out.iter().map(|s| s.entries.len() as u64).sum();
                    Ok(response::streams(&out, &stats(scanned, started, returned)))
                }
                Expr::Metric(m) => {
                    let limits = eval::Limits {
                        max_series: limits.max_log_series,
                    };
                    let mut query = MetricQuery::new(m, q.start, q.end, q.step, limits);
                    let selections = query.selections();
                    for (i, s) in selections.iter().enumerate() {
                        for source in streams::sources(s.selector) {
                            let read = Read {
                                source,
                                selector: s.selector,
                                substrings: s.substrings.clone(),
                                from: s.from,
                                to: s.to,
                                order: None,
                            };
                            let mut failed = None;
                            self.read_source(
                                caller,
                                cluster,
                                &name,
                                read,
                                timeout,
                                &mut |time, line, stream, id| match query.push(
                                    i,
                                    Entry {
                                        time,
                                        line,
                                        stream,
                                        stream_id: id,
                                    },
                                ) {
                                    Ok(()) => Ok(true),
                                    Err(e) => {
                                        failed = Some(e);
                                        Ok(false)
                                    }
                                },
                            )
                            .await?;
                            if let Some(e) = failed {
                                return Err(eval_error(e));
                            }
                        }
                    }
                    let scanned = query.scanned;
                    let value = query.finish().map_err(eval_error)?;
                    let stats = stats(scanned, started, 0);
                    Ok(if instant {
                        response::instant(&value, &stats)
                    } else {
                        response::matrix(&value, &stats)
                    })
                }
            }
        };
        let answer = within(timeout, "LogQL query", run).await;
        drop(permit);
        answer
    }

    /// A log query's streams over `[from, to]` (Unix ns, inclusive) from every
    /// source its selector reads, and the lines and bytes read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn log_streams(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        cluster_name: &str,
        log: &LogExpr,
        (from, to): (i64, i64),
        limit: usize,
        direction: Direction,
        timeout: std::time::Duration,
    ) -> Result<(Vec<eval::Stream>, (u64, u64))> {
        let order = match direction {
            Direction::Backward => SortOrder::Desc,
            Direction::Forward => SortOrder::Asc,
        };
        let mut parts = Vec::new();
        let mut scanned = (0, 0);
        for source in streams::sources(&log.selector) {
            let mut query = LogQuery::new(log, limit);
            let read = Read {
                source,
                selector: &log.selector,
                substrings: query.required_substrings(),
                from,
                to,
                order: Some(order),
            };
            self.read_source(
                caller,
                cluster,
                cluster_name,
                read,
                timeout,
                &mut |time, line, stream, id| {
                    Ok(query.push(Entry {
                        time,
                        line,
                        stream,
                        stream_id: id,
                    }))
                },
            )
            .await?;
            scanned.0 += query.scanned.0;
            scanned.1 += query.scanned.1;
            parts.push(query.finish());
        }
        let out = eval::merge_streams(parts, limit, direction == Direction::Forward);
        Ok((out, scanned))
    }

    /// Starts a tail: the scoped log query of `query`, from `start` (default
    /// an hour ago), at most `limit` lines a message, `delay_for` seconds
    /// (≤ 5) behind the clock for late lines.
    pub(crate) fn loki_tail(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
    ) -> Result<Tail> {
        let now = periscope_store::unix_now_ns();
        let get = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let text =
            get("query").ok_or_else(|| Error::bad_request("parameter \"query\" is required"))?;
        let Expr::Log(log) = scoped_query(text, &caller.scope)? else {
            return Err(Error::bad_request(
                "only log queries can be tailed, not metric queries",
            ));
        };
        let limit = match get("limit") {
            Some(v) => v.parse::<usize>().map_err(|_| {
                Error::bad_request(format!("parameter \"limit\": {v:?} is not a whole number"))
            })?,
            None => request::DEFAULT_LIMIT,
        };
        if limit > caller.principal.limits.max_log_lines {
            return Err(Error::new(ErrorKind::LimitExceeded, format!("max entries limit per tail message exceeded, limit > max_log_lines ({limit} > {})", caller.principal.limits.max_log_lines)));
        }
        let delay = match get("delay_for") {
            Some(v) => match v.parse::<i64>() {
                Ok(d @ 0..=5) => d * 1_000_000_000,
                _ => {
                    return Err(Error::bad_request(format!(
                        "parameter \"delay_for\": {v:?} is not a number of seconds from 0 to 5"
                    )))
                }
            },
            None => 0,
        };
        let since = match get("start") {
            Some(v) => request::parse_time("start", v)?,
            None => now - 3_600_000_000_000,
        };
        Ok(Tail {
            log,
            since,
            limit,
            delay,
            cluster: cluster.map(str::to_string),
            cluster_name: self.cluster(cluster)?.name.clone(),
        })
    }

    /// The tail's next message, if lines arrived since the last one, and
    /// whether it is full (more may be waiting).
    pub(crate) async fn tail_next(
        &self,
        caller: &Caller,
        tail: &mut Tail,
    ) -> Result<Option<(String, bool)>> {
        let until = periscope_store::unix_now_ns() - tail.delay;
        if until < tail.since {
            return Ok(None);
        }
        let (permit, timeout) = self.query_slot(caller)?;
        let read = self.log_streams(
            caller,
            tail.cluster.as_deref(),
            &tail.cluster_name,
            &tail.log,
            (tail.since, until),
            tail.limit,
            Direction::Forward,
            timeout,
        );
        let (streams, _) = within(timeout, "tail", read).await?;
        drop(permit);
        let count: usize = streams.iter().map(|s| s.entries.len()).sum();
        let Some(last) = streams
            .iter()
            .filter_map(|s| s.entries.last().map(|e| e.0))
            .max()
        else {
            return Ok(None);
        };
        tail.since = last + 1;
        Ok(Some((
            response::tail_message(&streams),
            count >= tail.limit,
        )))
    }

    /// The streams of the metadata endpoints' selectors (each scoped), with
    /// their lines (and bytes with `bytes`), per `bucket` when given.
    async fn loki_streams(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        p: &RangeParams,
        bucket: Option<i64>,
        bytes: bool,
    ) -> Result<Vec<(LabelSet, StreamVolume)>> {
        let mut selectors = Vec::new();
        if p.selectors.is_empty() {
            selectors.push(scoped_selector(None, &caller.scope)?);
        }
        for s in &p.selectors {
            selectors.push(scoped_selector(Some(s), &caller.scope)?);
        }
        let name = self.cluster(cluster)?.name.clone();
        let (permit, timeout) = self.query_slot(caller)?;
        let run = async {
            let mut out: BTreeMap<(LabelSet, i64), StreamVolume> = BTreeMap::new();
            for selector in &selectors {
                let matchers: Vec<_> = selector.matchers.iter().map(CompiledMatcher::new).collect();
                for source in streams::sources(selector) {
                    if source == Source::Logs {
                        let backend = self.log_backend(cluster)?;
                        let filter =
                            filter_for(backend, selector, None, &caller.scope, p.start, p.end);
                        if filter.is_empty_scope() {
                            continue;
                        }
                        for v in backend.volume(&filter, bucket, bytes).await? {
                            let labels = stream_labels(&name, &v.namespace, &v.pod, &v.container);
                            if matchers.iter().all(|m| m.matches_labels(&labels)) {
                                out.insert((labels, v.bucket), v);
                            }
                        }
                        continue;
                    }
                    // Events and audit records: counted as they are read.
                    let read = Read {
                        source,
                        selector,
                        substrings: None,
                        from: p.start,
                        to: p.end,
                        order: None,
                    };
                    let mut held = out.len();
                    self.read_source(
                        caller,
                        cluster,
                        &name,
                        read,
                        timeout,
                        &mut |time, line, labels, _| {
                            if !matchers.iter().all(|m| m.matches_labels(labels)) {
                                return Ok(true);
                            }
                            let start = bucket.map_or(0, |b| time - time.rem_euclid(b));
                            let v = out.entry((labels.clone(), start)).or_insert_with(|| {
                                held += 1;
                                StreamVolume {
                                    namespace: String::new(),
                                    pod: String::new(),
                                    container: String::new(),
                                    bucket: start,
                                    lines: 0,
                                    bytes: Some(0),
                                }
                            });
                            v.lines += 1;
                            *v.bytes.get_or_insert(0) += line.len() as u64;
                            if held > MAX_STREAM_VOLUMES {
                                return Err(too_many_streams());
                            }
                            Ok(true)
                        },
                    )
                    .await?;
                }
            }
            Ok(out
                .into_iter()
                .map(|((labels, _), v)| (labels, v))
                .collect())
        };
        let answer = within(timeout, "log label query", run).await;
        drop(permit);
        answer
    }

    /// `labels`: the stream label names present.
    pub(crate) async fn loki_labels(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
    ) -> Result<String> {
        let p = request::range_params(params, periscope_store::unix_now_ns())?;
        let found = self.loki_streams(caller, cluster, &p, None, false).await?;
        let names: BTreeSet<String> = found
            .iter()
            .flat_map(|(l, _)| l.iter().map(|(k, _)| k.to_string()))
            .collect();
        Ok(response::names(&names.into_iter().collect::<Vec<_>>()))
    }

    /// `label/{name}/values`.
    pub(crate) async fn loki_label_values(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        name: &str,
        params: &[(String, String)],
    ) -> Result<String> {
        let p = request::range_params(params, periscope_store::unix_now_ns())?;
        let name = streams::canonical_name(name);
        let found = self.loki_streams(caller, cluster, &p, None, false).await?;
        let values: BTreeSet<String> = found
            .iter()
            .filter_map(|(l, _)| l.get(name).map(str::to_string))
            .collect();
        Ok(response::names(&values.into_iter().collect::<Vec<_>>()))
    }

    /// `series`: the streams' label sets.
    pub(crate) async fn loki_series(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
    ) -> Result<String> {
        let p = request::range_params(params, periscope_store::unix_now_ns())?;
        let found = self.loki_streams(caller, cluster, &p, None, false).await?;
        let sets: BTreeSet<LabelSet> = found.into_iter().map(|(l, _)| l).collect();
        let max = caller.principal.limits.max_log_series;
        if sets.len() > max {
            return Err(series_limit(sets.len(), max));
        }
        Ok(response::series(&sets.into_iter().collect::<Vec<_>>()))
    }

    /// `index/stats`: streams, lines and bytes of a selector.
    pub(crate) async fn loki_index_stats(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
    ) -> Result<String> {
        let p = request::range_params(params, periscope_store::unix_now_ns())?;
        let found = self.loki_streams(caller, cluster, &p, None, true).await?;
        let entries: u64 = found.iter().map(|(_, v)| v.lines).sum();
        let bytes: u64 = found.iter().map(|(_, v)| v.bytes.unwrap_or(0)).sum();
        Ok(serde_json::json!({"streams": found.len(), "chunks": 0, "bytes": bytes, "entries": entries}).to_string())
    }

    /// `index/volume` and `index/volume_range`: bytes per label set.
    pub(crate) async fn loki_volume(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        params: &[(String, String)],
        range: bool,
    ) -> Result<String> {
        let p = request::range_params(params, periscope_store::unix_now_ns())?;
        if p.selectors.is_empty() {
            return Err(Error::bad_request("parameter \"query\" is required"));
        }
        let mut names: Vec<String> = p
            .target_labels
            .iter()
            .map(|n| streams::canonical_name(n).to_string())
            .collect();
        if names.is_empty() {
            for s in &p.selectors {
                let sel = parse_stream_selector(s)?;
                names.extend(
                    sel.matchers
                        .iter()
                        .map(|m| streams::canonical_name(&m.name).to_string()),
                );
            }
        }
        names.sort();
        names.dedup();
        let bucket = range.then_some(p.step);
        let found = self.loki_streams(caller, cluster, &p, bucket, true).await?;
        let mut groups: BTreeMap<(LabelSet, i64), f64> = BTreeMap::new();
        for (labels, v) in &found {
            let value = v.bytes.unwrap_or(0) as f64;
            if p.by_labels {
                for n in &names {
                    if let Some(val) = labels.get(n) {
                        *groups
                            .entry((LabelSet::from_pairs([(n.as_str(), val)]), v.bucket))
                            .or_default() += value;
                    }
                }
            } else {
                *groups
                    .entry((labels.grouped(&names, false), v.bucket))
                    .or_default() += value;
            }
        }
        let max = p
            .limit
            .unwrap_or(100)
            .min(caller.principal.limits.max_log_series);
        if range {
            let mut series: BTreeMap<LabelSet, Vec<(i64, f64)>> = BTreeMap::new();
            for ((labels, t), v) in groups {
                series.entry(labels).or_default().push((t, v));
            }
            let mut series: Vec<eval::Series> = series
                .into_iter()
                .map(|(labels, points)| eval::Series { labels, points })
                .collect();
            series.sort_by(|a, b| total(b).total_cmp(&total(a)));
            series.truncate(max);
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            return Ok(response::volume_matrix(&series));
        }
        let mut samples: Vec<(LabelSet, f64)> =
            groups.into_iter().map(|((l, _), v)| (l, v)).collect();
        samples.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        samples.truncate(max);
        Ok(response::volume_vector(&samples, p.end))
    }
}

fn total(s: &eval::Series) -> f64 {
    s.points.iter().map(|p| p.1).sum()
}

fn series_limit(found: usize, max: usize) -> Error {
    Error::new(
        ErrorKind::LimitExceeded,
        format!("the selector matches {found} streams, more than the limit of {max} (max_log_series); narrow it with more matchers"),
    )
}

fn stats(scanned: (u64, u64), started: Instant, returned: u64) -> Stats {
    Stats {
        lines: scanned.0,
        bytes: scanned.1,
        seconds: started.elapsed().as_secs_f64(),
        returned,
    }
}

/// The backend filter of a selector; keywords are pushed down only where
/// the backend matches substrings exactly as LogQL's `|=` (case aside).
fn filter_for(
    backend: &LogBackend,
    selector: &Selector,
    substrings: Option<Vec<String>>,
    scope: &Scope,
    start: i64,
    end: i64,
) -> LogFilter {
    let substrings = substrings.filter(|_| backend.matches_substrings());
    streams::log_filter(selector, substrings.as_deref(), visible(scope), start, end)
}

/// What to read from one source.
struct Read<'a> {
    source: Source,
    selector: &'a Selector,
    substrings: Option<Vec<String>>,
    /// Unix ns, inclusive.
    from: i64,
    to: i64,
    /// `None`: any order will do.
    order: Option<SortOrder>,
}

/// Takes one line: (Unix ns, text, stream labels, stream id); false to stop.
type Take<'t> = dyn FnMut(i64, &str, &LabelSet, u64) -> Result<bool> + Send + 't;

impl AppState {
    /// Streams a source's lines for a selector into `take`: log lines from
    /// the cluster's log backend; events and audit records (their JSON as
    /// the line) through their searches, scoped as those are.
    async fn read_source(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        cluster_name: &str,
        read: Read<'_>,
        timeout: std::time::Duration,
        take: &mut Take<'_>,
    ) -> Result<()> {
        match read.source {
            Source::Logs => {
                let backend = self.log_backend(cluster)?;
                let filter = filter_for(
                    backend,
                    read.selector,
                    read.substrings,
                    &caller.scope,
                    read.from,
                    read.to,
                );
                let mut cache = LineStreams::new(cluster_name);
                read_lines(backend, filter, read.order, |line| {
                    let (id, labels) = cache.get(line);
                    take(line.time, &line.log, labels, id)
                })
                .await
            }
            Source::Events => {
                let pairs = record_search(
                    &read,
                    &[
                        ("namespace", "involved_object_namespace_filter"),
                        ("kind", "involved_object_kind_filter"),
                        ("name", "involved_object_name_filter"),
                        ("pod", "involved_object_name_filter"),
                        ("reason", "reason_filter"),
                        ("type", "type_filter"),
                    ],
                );
                let Answer::Export(export) = self
                    .event_answer(caller, cluster, &pairs, timeout, ())
                    .await?
                else {
                    return Err(Error::internal("an event export answered something else"));
                };
                let mut labels_of = StreamIds::default();
                read_records(
                    export,
                    |chunk| chunk,
                    |raw| {
                        let Ok(parsed) =
                            periscope_events::parse_body(raw, cluster_name, usize::MAX)
                        else {
                            return Ok(true);
                        };
                        let Some(e) = parsed.records.first() else {
                            return Ok(true);
                        };
                        if e.last_seen < read.from || e.last_seen > read.to {
                            return Ok(true);
                        }
                        let i = &e.involved;
                        let (id, labels) = labels_of.get(
                            &[
                                &e.cluster,
                                &i.namespace,
                                &i.kind,
                                &i.name,
                                &e.reason,
                                &e.event_type,
                            ],
                            |f| streams::event_labels(f[0], f[1], f[2], f[3], f[4], f[5]),
                        );
                        take(e.last_seen, raw, labels, id)
                    },
                )
                .await
            }
            Source::Audit => {
                let pairs = record_search(
                    &read,
                    &[
                        ("namespace", "objectref_namespace_filter"),
                        ("resource", "objectref_resource_filter"),
                        ("verb", "verb_filter"),
                        ("user", "user_filter"),
                    ],
                );
                let (Answer::Export(export), bodies) = self
                    .audit_answer(caller, cluster, &pairs, timeout, ())
                    .await?
                else {
                    return Err(Error::internal("an audit export answered something else"));
                };
                let mut labels_of = StreamIds::default();
                read_records(
                    export,
                    |chunk| bodies.apply(chunk),
                    |raw| {
                        let Ok(doc) = serde_json::from_str::<Value>(raw) else {
                            return Ok(true);
                        };
                        let text = |path: &str| {
                            doc.pointer(path)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                        };
                        let time = ["/StageTimestamp", "/RequestReceivedTimestamp"]
                            .iter()
                            .find_map(|p| periscope_logs::parse_rfc3339(text(p)))
                            .unwrap_or(0);
                        if time < read.from || time > read.to {
                            return Ok(true);
                        }
                        let cluster = match text("/Cluster") {
                            "" => cluster_name,
                            c => c,
                        };
                        // `User` is kept as the apiserver sent it (UserInfo's `username`).
                        let user = match text("/User/username") {
                            "" => text("/User/Username"),
                            u => u,
                        };
                        let (id, labels) = labels_of.get(
                            &[
                                cluster,
                                text("/ObjectRef/Namespace"),
                                text("/ObjectRef/Resource"),
                                text("/Verb"),
                                user,
                            ],
                            |f| streams::audit_labels(f[0], f[1], f[2], f[3], f[4]),
                        );
                        take(time, raw, labels, id)
                    },
                )
                .await
            }
        }
    }
}

/// KubeSphere's export parameters for a read: its time range, order, and a
/// filter for each equality matcher the search can apply (`mapping` from
/// stream label to parameter).
fn record_search(read: &Read<'_>, mapping: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("operation".to_string(), "export".to_string()),
        (
            "start_time".to_string(),
            read.from.div_euclid(1_000_000_000).to_string(),
        ),
        (
            "end_time".to_string(),
            (read.to.div_euclid(1_000_000_000) + 1).to_string(),
        ),
        (
            "sort".to_string(),
            if read.order == Some(SortOrder::Desc) {
                "desc"
            } else {
                "asc"
            }
            .to_string(),
        ),
    ];
    for (label, parameter) in mapping {
        let values = streams::equal_values(read.selector, label);
        // Two different values match nothing; the selector check drops all.
        if let Some(v) = values.first() {
            if !pairs.iter().any(|(k, _)| k == parameter) {
                pairs.push((parameter.to_string(), v.clone()));
            }
        }
    }
    pairs
}

/// Reads an export's records into `take` until it returns false or they end.
/// `shown` turns each chunk into what the caller may see (audit bodies).
async fn read_records(
    export: Export,
    shown: impl Fn(Chunk) -> Chunk,
    mut take: impl FnMut(&str) -> Result<bool>,
) -> Result<()> {
    let Export { mut records, done } = export;
    let mut stopped = false;
    'chunks: while let Some(chunk) = records.recv().await {
        for raw in &shown(chunk) {
            if !take(raw.get())? {
                stopped = true;
                break 'chunks;
            }
        }
    }
    drop(records);
    match done.await {
        Ok(result) => result,
        Err(_) if stopped => Ok(()),
        Err(_) => Err(Error::internal("the record export stopped")),
    }
}

/// Streams the filter's lines from the backend into `take` until it returns
/// false or the lines end.
async fn read_lines(
    backend: &LogBackend,
    filter: LogFilter,
    order: Option<SortOrder>,
    mut take: impl FnMut(&LogLine) -> Result<bool>,
) -> Result<()> {
    if filter.is_empty_scope() {
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel(LINE_BUFFER);
    let backend = backend.clone();
    let reader = tokio::spawn(async move {
        match order {
            Some(order) => backend.export(&filter, order, tx).await,
            None => backend.scan(&filter, tx).await,
        }
    });
    'chunks: while let Some(chunk) = rx.recv().await {
        for line in &chunk {
            if !take(line)? {
                break 'chunks;
            }
        }
    }
    // Dropping the receiver stops the export at its next chunk.
    drop(rx);
    match reader.await {
        Ok(result) => result,
        Err(e) => Err(Error::internal(format!("the log reader stopped: {e}"))),
    }
}
