//! Evaluation over lines a backend streams in.
//!
//! A caller asks what to read ([`MetricQuery::selections`]), streams each
//! selection's lines in with `push`, then `finish`es. Lines are matched
//! against their selector again here, so an answer never holds a line its
//! (tenant-scoped) selector does not match, whatever the backend returned.

use crate::ast::*;
use crate::error::EvalError;
use crate::labels::LabelSet;
use crate::parser::is_scalar;
use crate::pipeline::{CompiledMatcher, Pipeline, Predicate, ERROR_DETAILS_LABEL, ERROR_LABEL};
use crate::units;
use regex::Regex;
use std::collections::HashMap;

/// One stored line.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Unix nanoseconds.
    pub time: i64,
    pub line: &'a str,
    /// The stream's labels.
    pub stream: &'a LabelSet,
    /// The same number for every line of one stream within a query.
    pub stream_id: u64,
}

/// Bounds of one query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most series a metric query returns.
    pub max_series: usize,
}

impl Limits {
    /// Most series a range aggregation may hold while evaluating, before an
    /// outer aggregation reduces them: far more than an answer may have, but
    /// bounded (one series per distinct extracted label value adds up).
    pub fn max_inner_series(&self) -> usize {
        self.max_series.saturating_mul(100).max(10_000)
    }
}

/// Whether a selector has a matcher that an empty value cannot satisfy
/// (Loki refuses selectors that would match every stream).
pub fn is_selective(selector: &Selector) -> bool {
    selector
        .matchers
        .iter()
        .any(|m| !CompiledMatcher::new(m).matches(""))
}

fn compiled_selector(selector: &Selector) -> Vec<CompiledMatcher> {
    selector.matchers.iter().map(CompiledMatcher::new).collect()
}

fn selector_matches(matchers: &[CompiledMatcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches_labels(labels))
}

/// A stream of a log query's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub labels: LabelSet,
    /// (Unix ns, line), in the query's direction.
    pub entries: Vec<(i64, String)>,
}

/// A log query: lines through the pipeline, in the order pushed, up to a limit.
pub struct LogQuery {
    matchers: Vec<CompiledMatcher>,
    pipeline: Pipeline,
    limit: usize,
    taken: usize,
    streams: HashMap<LabelSet, usize>,
    by_stream: HashMap<u64, usize>,
    out: Vec<Stream>,
    /// Lines read, bytes read (for stats).
    pub scanned: (u64, u64),
}

impl LogQuery {
    /// A query returning at most `limit` lines.
    pub fn new(expr: &LogExpr, limit: usize) -> LogQuery {
        LogQuery {
            matchers: compiled_selector(&expr.selector),
            pipeline: Pipeline::new(&expr.pipeline),
            limit,
            taken: 0,
            streams: HashMap::new(),
            by_stream: HashMap::new(),
            out: Vec::new(),
            scanned: (0, 0),
        }
    }

    /// Substrings one of which every answered line contains (a pre-filter).
    pub fn required_substrings(&self) -> Option<Vec<String>> {
        self.pipeline.required_substrings()
    }

    /// Takes one line; false once the limit is reached.
    pub fn push(&mut self, e: Entry<'_>) -> bool {
        if self.taken >= self.limit {
            return false;
        }
        self.scanned.0 += 1;
        self.scanned.1 += e.line.len() as u64;
        if !selector_matches(&self.matchers, e.stream) {
            return true;
        }
        let Some(out) = self.pipeline.process(e.time, e.line, e.stream) else {
            return true;
        };
        let index = match out.labels {
            None => *self
                .by_stream
                .entry(e.stream_id)
                .or_insert_with(|| index_of(&mut self.streams, &mut self.out, e.stream.clone())),
            Some(labels) => index_of(&mut self.streams, &mut self.out, labels),
        };
        self.out[index]
            .entries
            .push((e.time, out.line.into_owned()));
        self.taken += 1;
        self.taken < self.limit
    }

    /// The streams, sorted by labels.
    pub fn finish(mut self) -> Vec<Stream> {
        self.out.sort_by(|a, b| a.labels.cmp(&b.labels));
        self.out
    }
}

/// Joins the answers of one log query over several sources: streams of the
/// same labels merged, and only the `limit` first lines in the query's
/// direction (`forward`: oldest first) kept.
pub fn merge_streams(parts: Vec<Vec<Stream>>, limit: usize, forward: bool) -> Vec<Stream> {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    let mut labels: Vec<LabelSet> = Vec::new();
    let mut index: HashMap<LabelSet, usize> = HashMap::new();
    let mut entries: Vec<(i64, usize, String)> = Vec::new();
    for stream in parts.into_iter().flatten() {
        let i = index_of_labels(&mut index, &mut labels, stream.labels);
        entries.extend(stream.entries.into_iter().map(|(t, line)| (t, i, line)));
    }
    entries.sort_by_key(|e| e.0);
    if !forward {
        entries.reverse();
    }
    entries.truncate(limit);
    let mut out: Vec<Stream> = labels
        .into_iter()
        .map(|labels| Stream {
            labels,
            entries: Vec::new(),
        })
        .collect();
    for (t, i, line) in entries {
        out[i].entries.push((t, line));
    }
    out.retain(|s| !s.entries.is_empty());
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

fn index_of_labels(
    map: &mut HashMap<LabelSet, usize>,
    out: &mut Vec<LabelSet>,
    labels: LabelSet,
) -> usize {
    if let Some(i) = map.get(&labels) {
        return *i;
    }
    out.push(labels.clone());
    map.insert(labels, out.len() - 1);
    out.len() - 1
}

fn index_of(map: &mut HashMap<LabelSet, usize>, out: &mut Vec<Stream>, labels: LabelSet) -> usize {
    if let Some(i) = map.get(&labels) {
        return *i;
    }
    out.push(Stream {
        labels: labels.clone(),
        entries: Vec::new(),
    });
    map.insert(labels, out.len() - 1);
    out.len() - 1
}

/// What a metric query reads: the lines of `selector` in `[from, to]` (Unix ns).
#[derive(Debug, Clone)]
pub struct Selection<'q> {
    pub selector: &'q Selector,
    /// One of these is in every line that counts (a pre-filter).
    pub substrings: Option<Vec<String>>,
    pub from: i64,
    pub to: i64,
}

/// The value of a metric query at each step.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryValue {
    /// (Unix ns, value) per step.
    Scalar(Vec<(i64, f64)>),
    /// Series sorted by labels, each with its (Unix ns, value) points.
    Matrix(Vec<Series>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: LabelSet,
    pub points: Vec<(i64, f64)>,
}

struct RangeState<'q> {
    expr: &'q RangeAggregation,
    matchers: Vec<CompiledMatcher>,
    pipeline: Pipeline,
    unwrap_filters: Vec<Predicate>,
    /// Series of samples (time, value), keyed by labels.
    index: HashMap<LabelSet, usize>,
    by_stream: HashMap<u64, usize>,
    series: Vec<(LabelSet, Vec<(i64, f64)>)>,
}

enum Node {
    Range(usize),
    Vector {
        op: VectorOp,
        k: usize,
        grouping: Option<Grouping>,
        inner: Box<Node>,
    },
    Binary {
        op: BinaryOp,
        modifier: BinaryModifier,
        lhs: Box<Node>,
        rhs: Box<Node>,
    },
    Literal(f64),
    VectorLiteral(f64),
    LabelReplace {
        inner: Box<Node>,
        dst: String,
        replacement: String,
        src: String,
        regex: Regex,
    },
}

/// A metric query over `[start, end]` every `step`.
pub struct MetricQuery<'q> {
    root: Node,
    ranges: Vec<RangeState<'q>>,
    times: Vec<i64>,
    limits: Limits,
    scalar: bool,
    /// Lines read, bytes read (for stats).
    pub scanned: (u64, u64),
}

enum Instant {
    Scalar(f64),
    Vector(Vec<(LabelSet, f64)>),
}

impl<'q> MetricQuery<'q> {
    /// Plans the query; `step` 0 evaluates once at `end` (an instant query).
    pub fn new(
        expr: &'q MetricExpr,
        start: i64,
        end: i64,
        step: i64,
        limits: Limits,
    ) -> MetricQuery<'q> {
        let mut ranges = Vec::new();
        let root = plan(expr, &mut ranges);
        let times = if step <= 0 {
            vec![end]
        } else {
            let mut t = start;
            let mut times = Vec::new();
            while t <= end {
                times.push(t);
                t += step;
            }
            times
        };
        MetricQuery {
            root,
            ranges,
            times,
            limits,
            scalar: is_scalar(expr),
            scanned: (0, 0),
        }
    }

    /// What to read, one selection per range aggregation (pushed by index).
    pub fn selections(&self) -> Vec<Selection<'q>> {
        let first = self.times.first().copied().unwrap_or_default();
        let last = self.times.last().copied().unwrap_or_default();
        self.ranges
            .iter()
            .map(|r| Selection {
                selector: &r.expr.range.log.selector,
                substrings: r.pipeline.required_substrings(),
                from: first - r.expr.range.offset - r.expr.range.range + 1,
                to: last - r.expr.range.offset,
            })
            .collect()
    }

    /// Takes one line of selection `range`.
    pub fn push(&mut self, range: usize, e: Entry<'_>) -> Result<(), EvalError> {
        self.scanned.0 += 1;
        self.scanned.1 += e.line.len() as u64;
        let max_series = self.limits.max_inner_series();
        let r = &mut self.ranges[range];
        if !selector_matches(&r.matchers, e.stream) {
            return Ok(());
        }
        let unwrap = r.expr.range.unwrap.as_ref();
        let cacheable = unwrap.is_none() && !r.pipeline.changes_labels();
        if cacheable {
            if let Some(&i) = r.by_stream.get(&e.stream_id) {
                if r.pipeline.process(e.time, e.line, e.stream).is_some() {
                    let v = line_value(r.expr.op, e.line);
                    r.series[i].1.push((e.time, v));
                }
                return Ok(());
            }
        }
        let Some(out) = r.pipeline.process(e.time, e.line, e.stream) else {
            return Ok(());
        };
        let mut labels = out.labels.unwrap_or_else(|| e.stream.clone());
        let value = match unwrap {
            None => line_value(r.expr.op, &out.line),
            Some(u) => {
                let text = labels.remove(&u.label).unwrap_or_default();
                let value = convert(&text, u.conversion);
                if value.is_none() && labels.get(ERROR_LABEL).is_none() {
                    labels.set(ERROR_LABEL.into(), "SampleExtractionErr".into());
                    labels.set(
                        ERROR_DETAILS_LABEL.into(),
                        format!(
                            "unwrap {:?}: {text:?} is not a {}",
                            u.label,
                            match u.conversion {
                                Conversion::None => "number",
                                Conversion::Duration => "duration",
                                Conversion::Bytes => "byte size",
                            }
                        ),
                    );
                }
                for f in &r.unwrap_filters {
                    if !f.eval(&mut labels) {
                        return Ok(());
                    }
                }
                value.unwrap_or(0.0)
            }
        };
        if let Some(error) = labels.get(ERROR_LABEL) {
            return Err(EvalError::Invalid(format!(
                "pipeline error {error:?} ({}) on a line of {}: metric queries need lines without errors; drop such lines with | __error__=\"\" or fix the parser",
                labels.get(ERROR_DETAILS_LABEL).unwrap_or_default(),
                e.stream
            )));
        }
        if let Some(g) = &r.expr.grouping {
            labels = labels.grouped(&g.labels, g.without);
        }
        let i = match r.index.get(&labels) {
            Some(i) => *i,
            None => {
                if r.series.len() >= max_series {
                    return Err(EvalError::Limit(format!(
                        "a range aggregation of the query holds more than {max_series} series; narrow the stream selector or extract fewer labels (a parser's labels with many values make one series each)"
                    )));
                }
                r.series.push((labels.clone(), Vec::new()));
                r.index.insert(labels, r.series.len() - 1);
                r.series.len() - 1
            }
        };
        if cacheable {
            r.by_stream.insert(e.stream_id, i);
        }
        r.series[i].1.push((e.time, value));
        Ok(())
    }

    /// The query's value at every step.
    pub fn finish(mut self) -> Result<QueryValue, EvalError> {
        for r in &mut self.ranges {
            for (_, samples) in &mut r.series {
                if !samples.is_sorted_by_key(|s| s.0) {
                    samples.sort_by_key(|s| s.0);
                }
            }
        }
        if self.scalar {
            let mut points = Vec::with_capacity(self.times.len());
            for &t in &self.times {
                if let Instant::Scalar(v) = self.eval(&self.root, t)? {
                    points.push((t, v));
                }
            }
            return Ok(QueryValue::Scalar(points));
        }
        let mut index: HashMap<LabelSet, usize> = HashMap::new();
        let mut out: Vec<Series> = Vec::new();
        for &t in &self.times {
            let Instant::Vector(samples) = self.eval(&self.root, t)? else {
                continue;
            };
            for (labels, v) in samples {
                let i = match index.get(&labels) {
                    Some(i) => *i,
                    None => {
                        if out.len() >= self.limits.max_series {
                            return Err(series_limit(self.limits.max_series));
                        }
                        out.push(Series {
                            labels: labels.clone(),
                            points: Vec::new(),
                        });
                        index.insert(labels, out.len() - 1);
                        out.len() - 1
                    }
                };
                out[i].points.push((t, v));
            }
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(QueryValue::Matrix(out))
    }

    fn eval(&self, node: &Node, t: i64) -> Result<Instant, EvalError> {
        Ok(match node {
            Node::Literal(v) => Instant::Scalar(*v),
            Node::VectorLiteral(v) => Instant::Vector(vec![(LabelSet::default(), *v)]),
            Node::Range(i) => Instant::Vector(self.range_at(&self.ranges[*i], t)),
            Node::Vector {
                op,
                k,
                grouping,
                inner,
            } => {
                let Instant::Vector(v) = self.eval(inner, t)? else {
                    return Err(EvalError::Invalid(format!("{} needs a vector", op.name())));
                };
                Instant::Vector(aggregate(*op, *k, grouping.as_ref(), v))
            }
            Node::Binary {
                op,
                modifier,
                lhs,
                rhs,
            } => {
                let l = self.eval(lhs, t)?;
                let r = self.eval(rhs, t)?;
                binary(*op, modifier, l, r)?
            }
            Node::LabelReplace {
                inner,
                dst,
                replacement,
                src,
                regex,
            } => {
                let Instant::Vector(v) = self.eval(inner, t)? else {
                    return Err(EvalError::Invalid("label_replace needs a vector".into()));
                };
                let mut out = Vec::with_capacity(v.len());
                for (mut labels, value) in v {
                    let source = labels.get(src).unwrap_or_default().to_string();
                    if let Some(caps) = regex.captures(&source) {
                        let mut expanded = String::new();
                        caps.expand(replacement, &mut expanded);
                        labels.set(dst.clone(), expanded);
                    }
                    out.push((labels, value));
                }
                check_unique(&out)?;
                Instant::Vector(out)
            }
        })
    }

    fn range_at(&self, r: &RangeState<'_>, t: i64) -> Vec<(LabelSet, f64)> {
        let end = t - r.expr.range.offset;
        let start = end - r.expr.range.range;
        let seconds = r.expr.range.range as f64 / 1e9;
        let mut out = Vec::new();
        for (labels, samples) in &r.series {
            let lo = samples.partition_point(|s| s.0 <= start);
            let hi = samples.partition_point(|s| s.0 <= end);
            let window = &samples[lo..hi];
            if window.is_empty() {
                continue;
            }
            if r.expr.op == RangeOp::AbsentOverTime {
                return Vec::new();
            }
            let values = window.iter().map(|s| s.1);
            let v = match r.expr.op {
                RangeOp::CountOverTime => window.len() as f64,
                RangeOp::Rate if r.expr.range.unwrap.is_none() => window.len() as f64 / seconds,
                RangeOp::Rate => values.sum::<f64>() / seconds,
                RangeOp::BytesOverTime | RangeOp::SumOverTime => values.sum(),
                RangeOp::BytesRate => values.sum::<f64>() / seconds,
                RangeOp::AvgOverTime => values.sum::<f64>() / window.len() as f64,
                RangeOp::MinOverTime => values.fold(f64::INFINITY, f64::min),
                RangeOp::MaxOverTime => values.fold(f64::NEG_INFINITY, f64::max),
                RangeOp::FirstOverTime => window[0].1,
                RangeOp::LastOverTime => window[window.len() - 1].1,
                RangeOp::StdvarOverTime => variance(values),
                RangeOp::StddevOverTime => variance(values).sqrt(),
                RangeOp::QuantileOverTime => {
                    let mut sorted: Vec<f64> = values.collect();
                    quantile(r.expr.parameter.unwrap_or(0.5), &mut sorted)
                }
                RangeOp::RateCounter => {
                    let mut increase = 0.0;
                    for pair in window.windows(2) {
                        let (a, b) = (pair[0].1, pair[1].1);
                        increase += if b >= a { b - a } else { b };
                    }
                    increase / seconds
                }
                RangeOp::AbsentOverTime => unreachable!("answered above"),
            };
            out.push((labels.clone(), v));
        }
        if r.expr.op == RangeOp::AbsentOverTime {
            let labels = LabelSet::from_pairs(
                r.expr
                    .range
                    .log
                    .selector
                    .matchers
                    .iter()
                    .filter(|m| m.op == MatchOp::Eq)
                    .map(|m| (m.name.clone(), m.value.clone())),
            );
            return vec![(labels, 1.0)];
        }
        out
    }
}

fn series_limit(max: usize) -> EvalError {
    EvalError::Limit(format!(
        "maximum of series ({max}) reached for a single query; narrow the stream selector, or aggregate with sum by (…) over fewer labels"
    ))
}

fn line_value(op: RangeOp, line: &str) -> f64 {
    match op {
        RangeOp::BytesOverTime | RangeOp::BytesRate => line.len() as f64,
        _ => 1.0,
    }
}

fn convert(text: &str, conversion: Conversion) -> Option<f64> {
    let text = text.trim();
    match conversion {
        Conversion::None => text.parse::<f64>().ok(),
        Conversion::Duration => units::parse_duration(text).map(|ns| ns as f64 / 1e9),
        Conversion::Bytes => units::parse_bytes(text).map(|b| b as f64),
    }
}

fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64
}

/// Prometheus' quantile: linear interpolation between the closest ranks.
fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = q * (values.len() - 1) as f64;
    let lower = rank.floor() as usize;
    let upper = (lower + 1).min(values.len() - 1);
    let weight = rank - rank.floor();
    values[lower] * (1.0 - weight) + values[upper] * weight
}

fn plan<'q>(expr: &'q MetricExpr, ranges: &mut Vec<RangeState<'q>>) -> Node {
    match expr {
        MetricExpr::Range(r) => {
            ranges.push(RangeState {
                expr: r,
                matchers: compiled_selector(&r.range.log.selector),
                pipeline: Pipeline::new(&r.range.log.pipeline),
                unwrap_filters: r
                    .range
                    .unwrap
                    .as_ref()
                    .map(|u| Pipeline::predicates(&u.filters))
                    .unwrap_or_default(),
                index: HashMap::new(),
                by_stream: HashMap::new(),
                series: Vec::new(),
            });
            Node::Range(ranges.len() - 1)
        }
        MetricExpr::Vector(v) => Node::Vector {
            op: v.op,
            k: v.parameter.unwrap_or(0.0) as usize,
            grouping: v.grouping.clone(),
            inner: Box::new(plan(&v.inner, ranges)),
        },
        MetricExpr::Binary(b) => Node::Binary {
            op: b.op,
            modifier: b.modifier.clone(),
            lhs: Box::new(plan(&b.lhs, ranges)),
            rhs: Box::new(plan(&b.rhs, ranges)),
        },
        MetricExpr::Literal(v) => Node::Literal(*v),
        MetricExpr::VectorLiteral(v) => Node::VectorLiteral(*v),
        MetricExpr::LabelReplace(l) => Node::LabelReplace {
            inner: Box::new(plan(&l.inner, ranges)),
            dst: l.dst.clone(),
            replacement: l.replacement.clone(),
            src: l.src.clone(),
            regex: Regex::new(&format!("^(?:{})$", l.regex)).expect("validated by the parser"),
        },
        MetricExpr::Paren(inner) => plan(inner, ranges),
    }
}

fn aggregate(
    op: VectorOp,
    k: usize,
    grouping: Option<&Grouping>,
    v: Vec<(LabelSet, f64)>,
) -> Vec<(LabelSet, f64)> {
    let key = |labels: &LabelSet| match grouping {
        None => LabelSet::default(),
        Some(g) => labels.grouped(&g.labels, g.without),
    };
    match op {
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut v = v;
            v.sort_by(|a, b| a.1.total_cmp(&b.1));
            if op == VectorOp::SortDesc {
                v.reverse();
            }
            v
        }
        VectorOp::Topk | VectorOp::Bottomk => {
            let mut groups: HashMap<LabelSet, Vec<(LabelSet, f64)>> = HashMap::new();
            for (labels, value) in v {
                groups
                    .entry(key(&labels))
                    .or_default()
                    .push((labels, value));
            }
            let mut out = Vec::new();
            for (_, mut members) in groups {
                members.sort_by(|a, b| {
                    let order = a.1.total_cmp(&b.1);
                    if op == VectorOp::Topk {
                        order.reverse()
                    } else {
                        order
                    }
                });
                members.truncate(k);
                out.extend(members);
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        _ => {
            let mut groups: Vec<(LabelSet, Vec<f64>)> = Vec::new();
            let mut index: HashMap<LabelSet, usize> = HashMap::new();
            for (labels, value) in v {
                let g = key(&labels);
                let i = *index.entry(g.clone()).or_insert_with(|| {
                    groups.push((g, Vec::new()));
                    groups.len() - 1
                });
                groups[i].1.push(value);
            }
            groups
                .into_iter()
                .map(|(labels, values)| {
                    let n = values.len() as f64;
                    let v = match op {
                        VectorOp::Sum => values.iter().sum(),
                        VectorOp::Avg => values.iter().sum::<f64>() / n,
                        VectorOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                        VectorOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        VectorOp::Count => n,
                        VectorOp::Stdvar => variance(values.into_iter()),
                        VectorOp::Stddev => variance(values.into_iter()).sqrt(),
                        _ => unreachable!("handled above"),
                    };
                    (labels, v)
                })
                .collect()
        }
    }
}

fn arithmetic(op: BinaryOp, a: f64, b: f64) -> Option<f64> {
    Some(match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Eq => f64::from(a == b),
        BinaryOp::Ne => f64::from(a != b),
        BinaryOp::Gt => f64::from(a > b),
        BinaryOp::Gte => f64::from(a >= b),
        BinaryOp::Lt => f64::from(a < b),
        BinaryOp::Lte => f64::from(a <= b),
        BinaryOp::Or | BinaryOp::And | BinaryOp::Unless => return None,
    })
}

/// `a op b` for one pair: the value, or `None` when a comparison drops it.
fn apply(op: BinaryOp, return_bool: bool, a: f64, b: f64, keep: f64) -> Option<f64> {
    let v = arithmetic(op, a, b)?;
    if op.is_comparison() && !return_bool {
        return (v == 1.0).then_some(keep);
    }
    Some(v)
}

fn binary(op: BinaryOp, m: &BinaryModifier, l: Instant, r: Instant) -> Result<Instant, EvalError> {
    Ok(match (l, r) {
        (Instant::Scalar(a), Instant::Scalar(b)) => {
            Instant::Scalar(arithmetic(op, a, b).unwrap_or(f64::NAN))
        }
        (Instant::Vector(v), Instant::Scalar(s)) => Instant::Vector(
            v.into_iter()
                .filter_map(|(l, x)| apply(op, m.return_bool, x, s, x).map(|y| (l, y)))
                .collect(),
        ),
        (Instant::Scalar(s), Instant::Vector(v)) => Instant::Vector(
            v.into_iter()
                .filter_map(|(l, x)| apply(op, m.return_bool, s, x, x).map(|y| (l, y)))
                .collect(),
        ),
        (Instant::Vector(lv), Instant::Vector(rv)) => {
            Instant::Vector(vector_binary(op, m, lv, rv)?)
        }
    })
}

fn signature(labels: &LabelSet, matching: Option<&VectorMatching>) -> LabelSet {
    match matching {
        None => labels.clone(),
        Some(v) => labels.grouped(&v.labels, !v.on),
    }
}

fn vector_binary(
    op: BinaryOp,
    m: &BinaryModifier,
    lv: Vec<(LabelSet, f64)>,
    rv: Vec<(LabelSet, f64)>,
) -> Result<Vec<(LabelSet, f64)>, EvalError> {
    let matching = m.matching.as_ref();
    if op.is_set() {
        let right: std::collections::HashSet<LabelSet> =
            rv.iter().map(|(l, _)| signature(l, matching)).collect();
        return Ok(match op {
            BinaryOp::And => lv
                .into_iter()
                .filter(|(l, _)| right.contains(&signature(l, matching)))
                .collect(),
            BinaryOp::Unless => lv
                .into_iter()
                .filter(|(l, _)| !right.contains(&signature(l, matching)))
                .collect(),
            _ => {
                let left: std::collections::HashSet<LabelSet> =
                    lv.iter().map(|(l, _)| signature(l, matching)).collect();
                let mut out = lv;
                out.extend(
                    rv.into_iter()
                        .filter(|(l, _)| !left.contains(&signature(l, matching))),
                );
                out
            }
        });
    }
    // The "one" side is indexed by signature; the "many" side walks it.
    let (many, one, many_is_left) = match &m.group {
        Some(g) if !g.left => (rv, lv, false),
        _ => (lv, rv, true),
    };
    let mut index: HashMap<LabelSet, (LabelSet, f64)> = HashMap::new();
    for (labels, v) in one {
        let sig = signature(&labels, matching);
        if index.insert(sig.clone(), (labels, v)).is_some() {
            return Err(EvalError::Invalid(format!(
                "found duplicate series for the match group {sig} on the {} side of the operation; use on(…)/ignoring(…) with group_left/group_right",
                if many_is_left { "right" } else { "left" }
            )));
        }
    }
    let mut out = Vec::new();
    let mut seen: HashMap<LabelSet, ()> = HashMap::new();
    for (labels, v) in many {
        let sig = signature(&labels, matching);
        let Some((other_labels, w)) = index.get(&sig) else {
            continue;
        };
        let (a, b) = if many_is_left { (v, *w) } else { (*w, v) };
        let Some(value) = apply(op, m.return_bool, a, b, a) else {
            continue;
        };
        let result = match &m.group {
            None => {
                if seen.insert(sig.clone(), ()).is_some() {
                    return Err(EvalError::Invalid(format!(
                        "multiple matches for labels {sig}: many-to-one matching must be explicit (group_left/group_right)"
                    )));
                }
                match matching {
                    Some(v) if v.on => labels.grouped(&v.labels, false),
                    Some(v) => labels.grouped(&v.labels, true),
                    None => labels,
                }
            }
            Some(g) => {
                let mut l = labels;
                for name in &g.labels {
                    match other_labels.get(name) {
                        Some(val) => l.set(name.clone(), val.to_string()),
                        None => {
                            l.remove(name);
                        }
                    }
                }
                l
            }
        };
        out.push((result, value));
    }
    check_unique(&out)?;
    Ok(out)
}

fn check_unique(v: &[(LabelSet, f64)]) -> Result<(), EvalError> {
    let mut seen = std::collections::HashSet::new();
    for (l, _) in v {
        if !seen.insert(l) {
            return Err(EvalError::Invalid(format!(
                "vector cannot contain metrics with the same labelset {l}"
            )));
        }
    }
    Ok(())
}
