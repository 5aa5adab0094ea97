//! LogQL's syntax tree, and its text form (`Display` prints a query that
//! parses back to the same tree).

use crate::units::{format_bytes, format_duration};
use std::fmt::{self, Display, Formatter, Write};

/// A whole query: lines, or numbers computed from lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

/// `{selector} | stage | stage …`
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub selector: Selector,
    pub pipeline: Vec<Stage>,
}

/// `{name="value", …}`; every matcher must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector {
    pub matchers: Vec<Matcher>,
}

/// `name op "value"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

/// How a matcher compares; regexes are anchored at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

/// One step of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a" or "b"`, `!~ "re"`, …
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp "…"`, `| pattern "…"`, `| unpack`.
    Parser(Parser),
    /// `| level="error" and duration > 1s`.
    LabelFilter(LabelPredicate),
    /// `| line_format "{{.msg}}"`.
    LineFormat(String),
    /// `| label_format dst=src, dst2="{{.x}}"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="v"`.
    Drop(Vec<LabelSelection>),
    /// `| keep a, b=~"re"`.
    Keep(Vec<LabelSelection>),
    /// `| decolorize`.
    Decolorize,
}

/// A line filter and its alternatives (`or`).
#[derive(Debug, Clone, PartialEq)]
pub struct LineFilter {
    pub op: LineOp,
    /// The line passes when it matches any of these (for a negated operator:
    /// when it matches none).
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`
    Contains,
    /// `!=`
    NotContains,
    /// `|~`
    Matches,
    /// `!~`
    NotMatches,
    /// `|>` (a pattern)
    Pattern,
    /// `!>`
    NotPattern,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Parser {
    /// `| json` or `| json name="path", other`.
    Json(Vec<Extraction>),
    /// `| logfmt [--strict] [--keep-empty] [name="key", …]`.
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<Extraction>,
    },
    Regexp(String),
    Pattern(String),
    Unpack,
}

/// `name` or `name="path"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    pub name: String,
    pub path: Option<String>,
}

/// Label filters joined by `and`/`or`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelPredicate {
    And(Box<LabelPredicate>, Box<LabelPredicate>),
    Or(Box<LabelPredicate>, Box<LabelPredicate>),
    /// A string matcher (`level="error"`, `path=~"/api.*"`).
    Matcher(Matcher),
    /// A numeric comparison; the value is a number, a duration (compared
    /// in seconds) or a byte size.
    Compare {
        name: String,
        op: CompareOp,
        value: Literal,
    },
}

/// The right side of a numeric label filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    Number(f64),
    /// Nanoseconds.
    Duration(i64),
    Bytes(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// `dst=src` (rename) or `dst="template"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelFormat {
    pub dst: String,
    pub value: LabelFormatValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelFormatValue {
    Rename(String),
    Template(String),
}

/// `name` or `name op "value"` in `drop`/`keep`.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSelection {
    Name(String),
    Matcher(Matcher),
}

/// A query that yields numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `count_over_time({…}[5m])`, `quantile_over_time(0.9, … | unwrap x [5m]) by (a)`.
    Range(RangeAggregation),
    /// `sum by (a) (…)`, `topk(5, …)`.
    Vector(VectorAggregation),
    /// `lhs op lhs`.
    Binary(Box<BinaryExpr>),
    /// A number: `2`, `-1.5`.
    Literal(f64),
    /// `vector(1)`.
    VectorLiteral(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    LabelReplace(Box<LabelReplace>),
    /// `( … )`, kept so that printing keeps the reader's grouping.
    Paren(Box<MetricExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    pub op: RangeOp,
    /// `quantile_over_time`'s φ.
    pub parameter: Option<f64>,
    pub range: LogRange,
    pub grouping: Option<Grouping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    CountOverTime,
    Rate,
    RateCounter,
    BytesOverTime,
    BytesRate,
    AbsentOverTime,
    SumOverTime,
    AvgOverTime,
    MinOverTime,
    MaxOverTime,
    FirstOverTime,
    LastOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
}

impl RangeOp {
    pub const ALL: [RangeOp; 15] = [
        RangeOp::CountOverTime,
        RangeOp::Rate,
        RangeOp::RateCounter,
        RangeOp::BytesOverTime,
        RangeOp::BytesRate,
        RangeOp::AbsentOverTime,
        RangeOp::SumOverTime,
        RangeOp::AvgOverTime,
        RangeOp::MinOverTime,
        RangeOp::MaxOverTime,
        RangeOp::FirstOverTime,
        RangeOp::LastOverTime,
        RangeOp::StddevOverTime,
        RangeOp::StdvarOverTime,
        RangeOp::QuantileOverTime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RangeOp::CountOverTime => "count_over_time",
            RangeOp::Rate => "rate",
            RangeOp::RateCounter => "rate_counter",
            RangeOp::BytesOverTime => "bytes_over_time",
            RangeOp::BytesRate => "bytes_rate",
            RangeOp::AbsentOverTime => "absent_over_time",
            RangeOp::SumOverTime => "sum_over_time",
            RangeOp::AvgOverTime => "avg_over_time",
            RangeOp::MinOverTime => "min_over_time",
            RangeOp::MaxOverTime => "max_over_time",
            RangeOp::FirstOverTime => "first_over_time",
            RangeOp::LastOverTime => "last_over_time",
            RangeOp::StddevOverTime => "stddev_over_time",
            RangeOp::StdvarOverTime => "stdvar_over_time",
            RangeOp::QuantileOverTime => "quantile_over_time",
        }
    }

    /// Whether the operation reads unwrapped values (else it counts lines or bytes).
    pub fn needs_unwrap(self) -> bool {
        !matches!(
            self,
            RangeOp::CountOverTime
                | RangeOp::Rate
                | RangeOp::BytesOverTime
                | RangeOp::BytesRate
                | RangeOp::AbsentOverTime
        )
    }
}

/// `{…} | pipeline [range] offset d`, with an optional unwrap.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    pub log: LogExpr,
    /// Nanoseconds.
    pub range: i64,
    /// Nanoseconds.
    pub offset: i64,
    pub unwrap: Option<Unwrap>,
}

/// `| unwrap [conversion(]label[)] [| label filter …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    pub label: String,
    pub conversion: Conversion,
    /// Label filters after the unwrap (they see `__error__`).
    pub filters: Vec<LabelPredicate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// The value as a float.
    None,
    /// `duration(x)`/`duration_seconds(x)`: a Go duration, as seconds.
    Duration,
    /// `bytes(x)`: a byte size, as bytes.
    Bytes,
}

/// `by (a, b)` or `without (a)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    pub op: VectorOp,
    /// `topk`/`bottomk`'s k.
    pub parameter: Option<f64>,
    pub grouping: Option<Grouping>,
    pub inner: Box<MetricExpr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

impl VectorOp {
    pub const ALL: [VectorOp; 11] = [
        VectorOp::Sum,
        VectorOp::Avg,
        VectorOp::Min,
        VectorOp::Max,
        VectorOp::Count,
        VectorOp::Stddev,
        VectorOp::Stdvar,
        VectorOp::Topk,
        VectorOp::Bottomk,
        VectorOp::Sort,
        VectorOp::SortDesc,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VectorOp::Sum => "sum",
            VectorOp::Avg => "avg",
            VectorOp::Min => "min",
            VectorOp::Max => "max",
            VectorOp::Count => "count",
            VectorOp::Stddev => "stddev",
            VectorOp::Stdvar => "stdvar",
            VectorOp::Topk => "topk",
            VectorOp::Bottomk => "bottomk",
            VectorOp::Sort => "sort",
            VectorOp::SortDesc => "sort_desc",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: MetricExpr,
    pub rhs: MetricExpr,
    pub modifier: BinaryModifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Unless,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Unless => "unless",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
        }
    }

    /// Binding strength, as in PromQL: `^` > `* / %` > `+ -` > comparisons >
    /// `and unless` > `or`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Gt
            | BinaryOp::Gte
            | BinaryOp::Lt
            | BinaryOp::Lte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
            BinaryOp::Pow => 6,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    pub fn is_set(self) -> bool {
        matches!(self, BinaryOp::Or | BinaryOp::And | BinaryOp::Unless)
    }
}

/// `bool`, `on(…)`/`ignoring(…)`, `group_left(…)`/`group_right(…)`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BinaryModifier {
    pub return_bool: bool,
    pub matching: Option<VectorMatching>,
    pub group: Option<GroupSide>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    /// `on` (else `ignoring`).
    pub on: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupSide {
    /// `group_left` (else `group_right`).
    pub left: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    pub inner: MetricExpr,
    pub dst: String,
    pub replacement: String,
    pub src: String,
    pub regex: String,
}

impl Expr {
    /// Every log expression of the query, in order (one for a log query).
    pub fn log_exprs(&self) -> Vec<&LogExpr> {
        match self {
            Expr::Log(l) => vec![l],
            Expr::Metric(m) => m.ranges().into_iter().map(|r| &r.log).collect(),
        }
    }

    /// Calls `f` with every log expression, to rewrite it (tenant scope).
    pub fn for_each_log_expr_mut(&mut self, f: &mut dyn FnMut(&mut LogExpr)) {
        match self {
            Expr::Log(l) => f(l),
            Expr::Metric(m) => m.for_each_range_mut(&mut |r| f(&mut r.log)),
        }
    }
}

impl MetricExpr {
    /// The range aggregations' log ranges, left to right.
    pub fn ranges(&self) -> Vec<&LogRange> {
        let mut out = Vec::new();
        self.collect_ranges(&mut out);
        out
    }

    fn collect_ranges<'a>(&'a self, out: &mut Vec<&'a LogRange>) {
        match self {
            MetricExpr::Range(r) => out.push(&r.range),
            MetricExpr::Vector(v) => v.inner.collect_ranges(out),
            MetricExpr::Binary(b) => {
                b.lhs.collect_ranges(out);
                b.rhs.collect_ranges(out);
            }
            MetricExpr::LabelReplace(l) => l.inner.collect_ranges(out),
            MetricExpr::Paren(inner) => inner.collect_ranges(out),
            MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
        }
    }

    /// Calls `f` with every log range, left to right.
    pub fn for_each_range_mut(&mut self, f: &mut dyn FnMut(&mut LogRange)) {
        match self {
            MetricExpr::Range(r) => f(&mut r.range),
            MetricExpr::Vector(v) => v.inner.for_each_range_mut(f),
            MetricExpr::Binary(b) => {
                b.lhs.for_each_range_mut(f);
                b.rhs.for_each_range_mut(f);
            }
            MetricExpr::LabelReplace(l) => l.inner.for_each_range_mut(f),
            MetricExpr::Paren(inner) => inner.for_each_range_mut(f),
            MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
        }
    }

    /// Every `label_replace` destination in the query.
    pub fn label_replace_targets(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let MetricExpr::LabelReplace(l) = e {
                out.push(l.dst.as_str());
            }
        });
        out
    }

    /// Calls `f` on this node and every node below it.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a MetricExpr)) {
        f(self);
        match self {
            MetricExpr::Vector(v) => v.inner.visit(f),
            MetricExpr::Binary(b) => {
                b.lhs.visit(f);
                b.rhs.visit(f);
            }
            MetricExpr::LabelReplace(l) => l.inner.visit(f),
            MetricExpr::Paren(inner) => inner.visit(f),
            MetricExpr::Range(_) | MetricExpr::Literal(_) | MetricExpr::VectorLiteral(_) => {}
        }
    }
}

// ---- Text form ----

/// A string in Go's double-quoted form.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as LogQL reads it back.
fn number(n: f64) -> String {
    if n.is_infinite() {
        if n > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if n.is_nan() {
        "NaN".into()
    } else {
        format!("{n}")
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => l.fmt(f),
            Expr::Metric(m) => m.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.selector.fmt(f)?;
        for stage in &self.pipeline {
            write!(f, " {stage}")?;
        }
        Ok(())
    }
}

impl Display for Selector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            m.fmt(f)?;
        }
        f.write_str("}")
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op, quote(&self.value))
    }
}

impl Display for MatchOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        })
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(l) => {
                let op = match l.op {
                    LineOp::Contains => "|=",
                    LineOp::NotContains => "!=",
                    LineOp::Matches => "|~",
                    LineOp::NotMatches => "!~",
                    LineOp::Pattern => "|>",
                    LineOp::NotPattern => "!>",
                };
                write!(f, "{op} ")?;
                for (i, v) in l.values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    f.write_str(&quote(v))?;
                }
                Ok(())
            }
            Stage::Parser(p) => match p {
                Parser::Json(e) => write!(f, "| json{}", extractions(e)),
                Parser::Logfmt {
                    strict,
                    keep_empty,
                    extractions: e,
                } => {
                    f.write_str("| logfmt")?;
                    if *strict {
                        f.write_str(" --strict")?;
                    }
                    if *keep_empty {
                        f.write_str(" --keep-empty")?;
                    }
                    f.write_str(&extractions(e))
                }
                Parser::Regexp(r) => write!(f, "| regexp {}", quote(r)),
                Parser::Pattern(p) => write!(f, "| pattern {}", quote(p)),
                Parser::Unpack => f.write_str("| unpack"),
            },
            Stage::LabelFilter(p) => write!(f, "| {p}"),
            Stage::LineFormat(t) => write!(f, "| line_format {}", quote(t)),
            Stage::LabelFormat(items) => {
                f.write_str("| label_format ")?;
                for (i, l) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    match &l.value {
                        LabelFormatValue::Rename(src) => write!(f, "{}={src}", l.dst)?,
                        LabelFormatValue::Template(t) => write!(f, "{}={}", l.dst, quote(t))?,
                    }
                }
                Ok(())
            }
            Stage::Drop(items) => write!(f, "| drop {}", selections(items)),
            Stage::Keep(items) => write!(f, "| keep {}", selections(items)),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

fn extractions(items: &[Extraction]) -> String {
    let mut out = String::new();
    for (i, e) in items.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        out.push_str(&e.name);
        if let Some(path) = &e.path {
            out.push('=');
            out.push_str(&quote(path));
        }
    }
    out
}

fn selections(items: &[LabelSelection]) -> String {
    items
        .iter()
        .map(|s| match s {
            LabelSelection::Name(n) => n.clone(),
            LabelSelection::Matcher(m) => m.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl LabelPredicate {
    fn precedence(&self) -> u8 {
        match self {
            LabelPredicate::Or(..) => 1,
            LabelPredicate::And(..) => 2,
            _ => 3,
        }
    }

    fn fmt_within(&self, f: &mut Formatter<'_>, parent: u8) -> fmt::Result {
        if self.precedence() < parent {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl Display for LabelPredicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelPredicate::And(a, b) => {
                a.fmt_within(f, 2)?;
                f.write_str(" and ")?;
                b.fmt_within(f, 3)
            }
            LabelPredicate::Or(a, b) => {
                a.fmt_within(f, 1)?;
                f.write_str(" or ")?;
                b.fmt_within(f, 2)
            }
            LabelPredicate::Matcher(m) => m.fmt(f),
            LabelPredicate::Compare { name, op, value } => {
                let op = match op {
                    CompareOp::Eq => "==",
                    CompareOp::Ne => "!=",
                    CompareOp::Gt => ">",
                    CompareOp::Gte => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Lte => "<=",
                };
                let value = match value {
                    Literal::Number(n) => number(*n),
                    Literal::Duration(d) => format_duration(*d),
                    Literal::Bytes(b) => format_bytes(*b),
                };
                write!(f, "{name} {op} {value}")
            }
        }
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let word = if self.without { "without" } else { "by" };
        write!(f, "{word} ({})", self.labels.join(", "))
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            f.write_str(" | unwrap ")?;
            match u.conversion {
                Conversion::None => f.write_str(&u.label)?,
                Conversion::Duration => write!(f, "duration({})", u.label)?,
                Conversion::Bytes => write!(f, "bytes({})", u.label)?,
            }
            for p in &u.filters {
                write!(f, " | {p}")?;
            }
        }
        write!(f, " [{}]", format_duration(self.range))?;
        if self.offset != 0 {
            write!(f, " offset {}", format_duration(self.offset))?;
        }
        Ok(())
    }
}

impl MetricExpr {
    fn fmt_operand(&self, f: &mut Formatter<'_>, parent: BinaryOp, right: bool) -> fmt::Result {
        if let MetricExpr::Binary(b) = self {
            let p = b.op.precedence();
            let q = parent.precedence();
            // `^` groups to the right, every other operator to the left.
            let needs = p < q || (p == q && (right != (parent == BinaryOp::Pow)));
            if needs {
                return write!(f, "({self})");
            }
        }
        self.fmt(f)
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range(r) => {
                write!(f, "{}(", r.op.name())?;
                if let Some(p) = r.parameter {
                    write!(f, "{}, ", number(p))?;
                }
                write!(f, "{})", r.range)?;
                if let Some(g) = &r.grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::Vector(v) => {
                f.write_str(v.op.name())?;
                if let Some(g) = &v.grouping {
                    write!(f, " {g} ")?;
                }
                f.write_str("(")?;
                if let Some(p) = v.parameter {
                    write!(f, "{}, ", number(p))?;
                }
                write!(f, "{})", v.inner)
            }
            MetricExpr::Binary(b) => {
                b.lhs.fmt_operand(f, b.op, false)?;
                write!(f, " {}", b.op.symbol())?;
                let m = &b.modifier;
                if m.return_bool {
                    f.write_str(" bool")?;
                }
                if let Some(v) = &m.matching {
                    let word = if v.on { "on" } else { "ignoring" };
                    write!(f, " {word} ({})", v.labels.join(", "))?;
                }
                if let Some(g) = &m.group {
                    let word = if g.left { "group_left" } else { "group_right" };
                    write!(f, " {word} ({})", g.labels.join(", "))?;
                }
                f.write_str(" ")?;
                b.rhs.fmt_operand(f, b.op, true)
            }
            MetricExpr::Literal(n) => f.write_str(&number(*n)),
            MetricExpr::VectorLiteral(n) => write!(f, "vector({})", number(*n)),
            MetricExpr::LabelReplace(l) => write!(
                f,
                "label_replace({}, {}, {}, {}, {})",
                l.inner,
                quote(&l.dst),
                quote(&l.replacement),
                quote(&l.src),
                quote(&l.regex)
            ),
            MetricExpr::Paren(inner) => write!(f, "({inner})"),
        }
    }
}
