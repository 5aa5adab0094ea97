//! Compiled pipelines: what each stage does to one line and its labels.
//!
//! Labels a parser extracts that collide with a stream label get the suffix
//! `_extracted` (Loki's rule), so a line's stream labels — its namespace
//! among them — are never overwritten by its content. Parse failures add
//! `__error__` (and `__error_details__`) and keep the line.

use crate::ast::{
    CompareOp, Extraction, LabelFormatValue, LabelPredicate, LabelSelection, LineOp, Literal,
    MatchOp, Matcher, Parser, Stage,
};
use crate::labels::LabelSet;
use crate::pattern::Pattern;
use crate::template::{Context, Template};
use crate::units;
use regex::Regex;
use std::borrow::Cow;

/// The label a failed stage sets.
pub const ERROR_LABEL: &str = "__error__";
/// Its details.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// A matcher with its regex compiled (anchored, as in selectors).
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    pub name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl CompiledMatcher {
    pub fn new(m: &Matcher) -> CompiledMatcher {
        let regex = matches!(m.op, MatchOp::Re | MatchOp::Nre)
            .then(|| Regex::new(&format!("^(?:{})$", m.value)).expect("validated by the parser"));
        CompiledMatcher {
            name: m.name.clone(),
            op: m.op,
            value: m.value.clone(),
            regex,
        }
    }

    /// Whether `value` (empty for a missing label) matches.
    pub fn matches(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Eq => value == self.value,
            MatchOp::Ne => value != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
            MatchOp::Nre => !self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// Whether the label set matches.
    pub fn matches_labels(&self, labels: &LabelSet) -> bool {
        self.matches(labels.get(&self.name).unwrap_or_default())
    }
}

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Compiled>,
}

#[derive(Debug, Clone)]
enum Compiled {
    Contains(Vec<String>),
    NotContains(Vec<String>),
    Matches(Vec<Regex>),
    NotMatches(Vec<Regex>),
    PatternFilter(Vec<Pattern>, bool),
    Json(Vec<(String, Vec<PathStep>)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
        extractions: Vec<(String, String)>,
    },
    Regexp(Regex),
    PatternParser(Pattern),
    Unpack,
    LabelFilter(Predicate),
    LineFormat(Template),
    LabelFormat(Vec<(String, LabelFormatCompiled)>),
    Drop(Vec<Selection>),
    Keep(Vec<Selection>),
    Decolorize,
}

#[derive(Debug, Clone)]
enum LabelFormatCompiled {
    Rename(String),
    Template(Template),
}

#[derive(Debug, Clone)]
enum Selection {
    Name(String),
    Matcher(CompiledMatcher),
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// A compiled label filter.
#[derive(Debug, Clone)]
pub enum Predicate {
    And(Box<Predicate>, Box<Predicate>),
    Or(Box<Predicate>, Box<Predicate>),
    Matcher(CompiledMatcher),
    Compare {
        name: String,
        op: CompareOp,
        value: Literal,
    },
}

/// A line after the pipeline.
#[derive(Debug, Clone)]
pub struct Output<'l> {
    pub line: Cow<'l, str>,
    /// The line's labels; `None` when they are the stream's.
    pub labels: Option<LabelSet>,
}

/// Checks a `regexp` parser's expression: valid, with at least one named group.
pub fn check_regexp_parser(re: &str) -> Result<(), String> {
    let compiled = Regex::new(re).map_err(|e| format!("invalid regex {re:?}: {e}"))?;
    if compiled.capture_names().flatten().next().is_none() {
        return Err(format!(
            "regexp {re:?} needs at least one named group such as (?P<name>…)"
        ));
    }
    Ok(())
}

impl Pipeline {
    /// Compiles stages that the parser validated.
    pub fn new(stages: &[Stage]) -> Pipeline {
        Pipeline {
            stages: stages.iter().map(compile).collect(),
        }
    }

    /// Compiles label filters (an unwrap's).
    pub fn predicates(filters: &[LabelPredicate]) -> Vec<Predicate> {
        filters.iter().map(Predicate::new).collect()
    }

    /// Whether any stage may change labels (else every line keeps its stream's).
    pub fn changes_labels(&self) -> bool {
        self.stages.iter().any(|s| {
            !matches!(
                s,
                Compiled::Contains(_)
                    | Compiled::NotContains(_)
                    | Compiled::Matches(_)
                    | Compiled::NotMatches(_)
                    | Compiled::PatternFilter(..)
                    | Compiled::LineFormat(_)
                    | Compiled::Decolorize
            )
        })
    }

    /// Substrings of which a line must contain one, checked before any stage
    /// that changes the line: a backend can pre-filter on them
    /// (case-insensitively) without changing the answer.
    pub fn required_substrings(&self) -> Option<Vec<String>> {
        for s in &self.stages {
            match s {
                Compiled::Contains(values) if values.iter().all(|v| !v.is_empty()) => {
                    return Some(values.clone())
                }
                Compiled::LineFormat(_) | Compiled::Decolorize | Compiled::Unpack => return None,
                _ => {}
            }
        }
        None
    }

    /// Runs the pipeline on one line; `None` when a filter drops it.
    pub fn process<'l>(&self, time: i64, line: &'l str, stream: &LabelSet) -> Option<Output<'l>> {
        let mut line: Cow<'l, str> = Cow::Borrowed(line);
        let mut labels: Option<LabelSet> = None;
        for stage in &self.stages {
            match stage {
                Compiled::Contains(values) => {
                    if !values.iter().any(|v| line.contains(v.as_str())) {
                        return None;
                    }
                }
                Compiled::NotContains(values) => {
                    if values.iter().any(|v| line.contains(v.as_str())) {
                        return None;
                    }
                }
                Compiled::Matches(res) => {
                    if !res.iter().any(|r| r.is_match(&line)) {
                        return None;
                    }
                }
                Compiled::NotMatches(res) => {
                    if res.iter().any(|r| r.is_match(&line)) {
                        return None;
                    }
                }
                Compiled::PatternFilter(patterns, negated) => {
                    let hit = patterns.iter().any(|p| p.matches(&line).is_some());
                    if hit == *negated {
                        return None;
                    }
                }
                Compiled::Decolorize => {
                    if let Cow::Owned(clean) = periscope_logs::strip_ansi(&line) {
                        line = Cow::Owned(clean);
                    }
                }
                Compiled::LineFormat(t) => {
                    let current = labels.as_ref().unwrap_or(stream);
                    let rendered = t.render(&LineContext {
                        labels: current,
                        line: &line,
                        time,
                    });
                    line = Cow::Owned(rendered);
                }
                Compiled::LabelFilter(p) => {
                    let set = labels.get_or_insert_with(|| stream.clone());
                    if !p.eval(set) {
                        return None;
                    }
                }
                other => {
                    let set = labels.get_or_insert_with(|| stream.clone());
                    if let Some(new_line) = other.apply(&line, time, stream, set) {
                        line = Cow::Owned(new_line);
                    }
                }
            }
        }
        Some(Output { line, labels })
    }
}

struct LineContext<'a> {
    labels: &'a LabelSet,
    line: &'a str,
    time: i64,
}

impl Context for LineContext<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp(&self) -> i64 {
        self.time
    }
}

fn compile(stage: &Stage) -> Compiled {
    let anchored = |v: &String| Regex::new(v).expect("validated by the parser");
    match stage {
        Stage::LineFilter(f) => match f.op {
            LineOp::Contains => Compiled::Contains(f.values.clone()),
            LineOp::NotContains => Compiled::NotContains(f.values.clone()),
            LineOp::Matches => Compiled::Matches(f.values.iter().map(anchored).collect()),
            LineOp::NotMatches => Compiled::NotMatches(f.values.iter().map(anchored).collect()),
            LineOp::Pattern | LineOp::NotPattern => Compiled::PatternFilter(
                f.values
                    .iter()
                    .map(|v| Pattern::parse(v).expect("validated by the parser"))
                    .collect(),
                f.op == LineOp::NotPattern,
            ),
        },
        Stage::Parser(p) => match p {
            Parser::Json(extractions) => Compiled::Json(
                extractions
                    .iter()
                    .map(|e| (e.name.clone(), json_path(e)))
                    .collect(),
            ),
            Parser::Logfmt {
                strict,
                keep_empty,
                extractions,
            } => Compiled::Logfmt {
                strict: *strict,
                keep_empty: *keep_empty,
                extractions: extractions
                    .iter()
                    .map(|e| {
                        (
                            e.name.clone(),
                            e.path.clone().unwrap_or_else(|| e.name.clone()),
                        )
                    })
                    .collect(),
            },
            Parser::Regexp(re) => {
                Compiled::Regexp(Regex::new(re).expect("validated by the parser"))
            }
            Parser::Pattern(p) => {
                Compiled::PatternParser(Pattern::parse(p).expect("validated by the parser"))
            }
            Parser::Unpack => Compiled::Unpack,
        },
        Stage::LabelFilter(p) => Compiled::LabelFilter(Predicate::new(p)),
        Stage::LineFormat(t) => {
            Compiled::LineFormat(Template::parse(t).expect("validated by the parser"))
        }
        Stage::LabelFormat(items) => Compiled::LabelFormat(
            items
                .iter()
                .map(|i| {
                    let v = match &i.value {
                        LabelFormatValue::Rename(src) => LabelFormatCompiled::Rename(src.clone()),
                        LabelFormatValue::Template(t) => LabelFormatCompiled::Template(
                            Template::parse(t).expect("validated by the parser"),
                        ),
                    };
                    (i.dst.clone(), v)
                })
                .collect(),
        ),
        Stage::Drop(items) => Compiled::Drop(items.iter().map(selection).collect()),
        Stage::Keep(items) => Compiled::Keep(items.iter().map(selection).collect()),
        Stage::Decolorize => Compiled::Decolorize,
    }
}

fn selection(s: &LabelSelection) -> Selection {
    match s {
        LabelSelection::Name(n) => Selection::Name(n.clone()),
        LabelSelection::Matcher(m) => Selection::Matcher(CompiledMatcher::new(m)),
    }
}

/// `a.b[0]["c d"]` as steps; a name alone is its own path.
fn json_path(e: &Extraction) -> Vec<PathStep> {
    let Some(path) = &e.path else {
        return vec![PathStep::Key(e.name.clone())];
    };
    let mut steps = Vec::new();
    let mut rest = path.as_str();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').unwrap_or(after.len());
            let inner = after[..end].trim();
            if let Ok(i) = inner.parse::<usize>() {
                steps.push(PathStep::Index(i));
            } else {
                steps.push(PathStep::Key(
                    inner.trim_matches(|c| c == '"' || c == '\'').to_string(),
                ));
            }
            rest = after.get(end + 1..).unwrap_or_default();
        } else if let Some(after) = rest.strip_prefix('.') {
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            steps.push(PathStep::Key(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    steps
}

/// A label name from text: characters outside `[a-zA-Z0-9_]` become `_`,
/// a leading digit gets a `_` before it.
fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in name.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    out
}

/// Sets an extracted label, renamed when a stream label has its name.
fn extract(labels: &mut LabelSet, stream: &LabelSet, name: &str, value: String) {
    let mut name = sanitize(name);
    if name.is_empty() {
        return;
    }
    if stream.get(&name).is_some() {
        name.push_str("_extracted");
    }
    labels.set(name, value);
}

fn set_error(labels: &mut LabelSet, error: &str, details: String) {
    if labels.get(ERROR_LABEL).is_none() {
        labels.set(ERROR_LABEL.into(), error.into());
        labels.set(ERROR_DETAILS_LABEL.into(), details);
    }
}

impl Compiled {
    /// Runs a label-changing stage; returns the new line when it changes it.
    fn apply(
        &self,
        line: &str,
        time: i64,
        stream: &LabelSet,
        labels: &mut LabelSet,
    ) -> Option<String> {
        match self {
            Compiled::Json(extractions) => {
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(serde_json::Value::Object(map)) => {
                        if extractions.is_empty() {
                            for (k, v) in &map {
                                flatten(labels, stream, k, v);
                            }
                        } else {
                            let root = serde_json::Value::Object(map);
                            for (name, path) in extractions {
                                if let Some(v) = walk(&root, path) {
                                    extract(labels, stream, name, json_text(v));
                                }
                            }
                        }
                    }
                    Ok(_) => set_error(
                        labels,
                        "JSONParserErr",
                        "the line is not a JSON object".into(),
                    ),
                    Err(e) => set_error(labels, "JSONParserErr", e.to_string()),
                }
                None
            }
            Compiled::Logfmt {
                strict,
                keep_empty,
                extractions,
            } => {
                match logfmt(line, *strict) {
                    Ok(pairs) => {
                        for (k, v) in pairs {
                            if v.is_empty() && !keep_empty {
                                continue;
                            }
                            if extractions.is_empty() {
                                extract(labels, stream, &k, v);
                            } else if let Some((name, _)) =
                                extractions.iter().find(|(_, key)| *key == k)
                            {
                                extract(labels, stream, name, v);
                            }
                        }
                    }
                    Err(e) => set_error(labels, "LogfmtParserErr", e),
                }
                None
            }
            Compiled::Regexp(re) => {
                if let Some(caps) = re.captures(line) {
                    for name in re.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            extract(labels, stream, name, m.as_str().to_string());
                        }
                    }
                }
                None
            }
            Compiled::PatternParser(p) => {
                if let Some(caps) = p.matches(line) {
                    for (name, value) in caps {
                        extract(labels, stream, name, value.to_string());
                    }
                }
                None
            }
            Compiled::Unpack => match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(map)) => {
                    let mut entry = None;
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("_entry", serde_json::Value::String(s)) => entry = Some(s),
                            (_, serde_json::Value::String(s)) => extract(labels, stream, &k, s),
                            _ => {}
                        }
                    }
                    entry
                }
                _ => {
                    set_error(
                        labels,
                        "JSONParserErr",
                        "unpack: the line is not a JSON object".into(),
                    );
                    None
                }
            },
            Compiled::LabelFormat(items) => {
                let before = labels.clone();
                for (dst, value) in items {
                    match value {
                        LabelFormatCompiled::Rename(src) => {
                            let v = before.get(src).unwrap_or_default().to_string();
                            labels.remove(src);
                            labels.set(dst.clone(), v);
                        }
                        LabelFormatCompiled::Template(t) => {
                            let v = t.render(&LineContext {
                                labels: &before,
                                line,
                                time,
                            });
                            labels.set(dst.clone(), v);
                        }
                    }
                }
                None
            }
            Compiled::Drop(items) => {
                labels.retain(|k, v| !items.iter().any(|s| s.selects(k, v)));
                None
            }
            Compiled::Keep(items) => {
                labels.retain(|k, v| items.iter().any(|s| s.selects(k, v)));
                None
            }
            _ => None,
        }
    }
}

impl Selection {
    fn selects(&self, name: &str, value: &str) -> bool {
        match self {
            Selection::Name(n) => n == name,
            Selection::Matcher(m) => m.name == name && m.matches(value),
        }
    }
}

fn flatten(labels: &mut LabelSet, stream: &LabelSet, prefix: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                flatten(labels, stream, &format!("{prefix}_{k}"), v);
            }
        }
        serde_json::Value::Array(_) | serde_json::Value::Null => {}
        other => extract(labels, stream, prefix, json_text(other)),
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn walk<'v>(root: &'v serde_json::Value, path: &[PathStep]) -> Option<&'v serde_json::Value> {
    let mut at = root;
    for step in path {
        at = match step {
            PathStep::Key(k) => at.get(k)?,
            PathStep::Index(i) => at.get(*i)?,
        };
    }
    Some(at)
}

/// `key=value key2="quoted \" value" flag` as pairs.
fn logfmt(line: &str, strict: bool) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] > b' ' && bytes[i] != b'=' && bytes[i] != b'"' {
            i += 1;
        }
        let key = &line[key_start..i];
        if key.is_empty() {
            if strict {
                return Err(format!(
                    "logfmt syntax error at position {}: unexpected {:?}",
                    i + 1,
                    bytes[i] as char
                ));
            }
            // Skip to the next space.
            while i < bytes.len() && bytes[i] != b' ' {
                i += 1;
            }
            continue;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            out.push((key.to_string(), String::new()));
            continue;
        }
        i += 1;
        if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut value = String::new();
            let mut closed = false;
            let mut chars = line[i..].char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '"' => {
                        i += j + 1;
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, 't')) => value.push('\t'),
                        Some((_, o)) => value.push(o),
                        None => {}
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                if strict {
                    return Err(format!(
                        "logfmt syntax error: unterminated quoted value of {key:?}"
                    ));
                }
                i = bytes.len();
            }
            out.push((key.to_string(), value));
        } else {
            let start = i;
            while i < bytes.len() && bytes[i] != b' ' {
                i += 1;
            }
            out.push((key.to_string(), line[start..i].to_string()));
        }
    }
    Ok(out)
}

impl Predicate {
    fn new(p: &LabelPredicate) -> Predicate {
        match p {
            LabelPredicate::And(a, b) => {
                Predicate::And(Box::new(Predicate::new(a)), Box::new(Predicate::new(b)))
            }
            LabelPredicate::Or(a, b) => {
                Predicate::Or(Box::new(Predicate::new(a)), Box::new(Predicate::new(b)))
            }
            LabelPredicate::Matcher(m) => Predicate::Matcher(CompiledMatcher::new(m)),
            LabelPredicate::Compare { name, op, value } => Predicate::Compare {
                name: name.clone(),
                op: *op,
                value: *value,
            },
        }
    }

    /// Whether the labels pass; a value that is not a number (duration, byte
    /// size) sets `__error__` and passes, so the caller sees why.
    pub fn eval(&self, labels: &mut LabelSet) -> bool {
        match self {
            Predicate::And(a, b) => a.eval(labels) && b.eval(labels),
            Predicate::Or(a, b) => a.eval(labels) || b.eval(labels),
            Predicate::Matcher(m) => m.matches_labels(labels),
            Predicate::Compare { name, op, value } => {
                let Some(text) = labels.get(name) else {
                    return false;
                };
                let parsed = match value {
                    Literal::Number(n) => text.trim().parse::<f64>().ok().map(|v| (v, *n)),
                    Literal::Duration(d) => units::parse_duration(text.trim())
                        .map(|v| (v as f64 / 1e9, *d as f64 / 1e9)),
                    Literal::Bytes(b) => {
                        units::parse_bytes(text.trim()).map(|v| (v as f64, *b as f64))
                    }
                };
                let Some((left, right)) = parsed else {
                    let details = format!(
                        "label {name:?}: {text:?} is not a {}",
                        match value {
                            Literal::Number(_) => "number",
                            Literal::Duration(_) => "duration",
                            Literal::Bytes(_) => "byte size",
                        }
                    );
                    set_error(labels, "LabelFilterErr", details);
                    return true;
                };
                match op {
                    CompareOp::Eq => left == right,
                    CompareOp::Ne => left != right,
                    CompareOp::Gt => left > right,
                    CompareOp::Gte => left >= right,
                    CompareOp::Lt => left < right,
                    CompareOp::Lte => left <= right,
                }
            }
        }
    }
}
