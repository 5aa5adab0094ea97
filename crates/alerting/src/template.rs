//! Alert label and annotation templates: the part of Go's `text/template`
//! that Prometheus rules use — `{{ $labels.x }}`, `{{ $value }}`,
//! `{{ $externalURL }}`, pipelines (`{{ $value | humanizePercentage }}`),
//! function calls (`{{ printf "%.2f" $value }}`), `if`/`else`/`end`, and
//! Prometheus' formatting functions. Parsed when a rule is loaded; expanding
//! never fails: an error becomes `<error expanding template: ...>`, as in
//! Prometheus, and evaluation goes on.

use crate::format::{
    civil_from_days, go_f, go_g, go_v, humanize, humanize1024, humanize_duration,
    humanize_percentage,
};
use std::collections::BTreeMap;
use std::fmt;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    source: String,
    nodes: Vec<Node>,
}

/// What a template is expanded with.
#[derive(Debug, Clone, Default)]
pub struct TemplateData<'a> {
    pub labels: Option<&'a BTreeMap<String, String>>,
    pub external_labels: Option<&'a BTreeMap<String, String>>,
    pub external_url: &'a str,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline),
    If {
        condition: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

type Pipeline = Vec<Command>;
type Command = Vec<Term>;

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Str(String),
    Num(f64),
    Bool(bool),
    /// `$name.a.b` (`$` alone is the data).
    Variable(String, Vec<String>),
    /// `.A.b`.
    Field(Vec<String>),
    Function(String),
    Sub(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Map(BTreeMap<String, String>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Num(n) => f.write_str(&go_v(*n)),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Map(m) => {
                let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                write!(f, "map[{}]", items.join(" "))
            }
        }
    }
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Value::Str(s) => !s.is_empty(),
            Value::Num(n) => *n != 0.0,
            Value::Bool(b) => *b,
            Value::Map(m) => !m.is_empty(),
        }
    }

    fn number(&self) -> Result<f64, String> {
        match self {
            Value::Num(n) => Ok(*n),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| format!("cannot convert {s:?} to a number")),
            Value::Bool(b) => Ok(f64::from(u8::from(*b))),
            Value::Map(_) => Err("cannot convert a map to a number".into()),
        }
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Template {
    /// Parses `source`; unknown functions and unsupported actions are errors.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut pieces = split(source)?.into_iter().peekable();
        let nodes = parse_nodes(&mut pieces, false)?.0;
        Ok(Self {
            source: source.to_string(),
            nodes,
        })
    }

    /// Expands the template; errors become `<error expanding template: ...>`.
    pub fn expand(&self, data: &TemplateData<'_>) -> String {
        let mut out = String::new();
        match render(&self.nodes, data, &mut out) {
            Ok(()) => out,
            Err(e) => format!("<error expanding template: {e}>"),
        }
    }
}

enum Piece {
    Text(String),
    Action(String),
}

/// Splits text and `{{ actions }}`, applying `{{-` / `-}}` trimming.
fn split(source: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = source;
    let mut trim_next_text = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "unclosed action: missing }}".to_string())?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix('-') {
            text = text.trim_end();
            action = a;
        }
        trim_next_text = false;
        if let Some(a) = action.strip_suffix('-') {
            trim_next_text = true;
            action = a;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let action = action.trim();
        if !(action.starts_with("/*") && action.ends_with("*/")) {
            pieces.push(Piece::Action(action.to_string()));
        }
        rest = &after[end + 2..];
    }
    let text = if trim_next_text {
        rest.trim_start()
    } else {
        rest
    };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// Parses nodes until `{{ end }}` / `{{ else }}` (inside an `if`) or the end.
/// Returns the nodes and the closing keyword.
fn parse_nodes(
    pieces: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    inside_if: bool,
) -> Result<(Vec<Node>, Option<&'static str>), String> {
    let mut nodes = Vec::new();
    while let Some(piece) = pieces.next() {
        match piece {
            Piece::Text(t) => nodes.push(Node::Text(t)),
            Piece::Action(a) if a == "end" || a == "else" => {
                if !inside_if {
                    return Err(format!("unexpected {{{{{a}}}}}"));
                }
                return Ok((nodes, Some(if a == "end" { "end" } else { "else" })));
            }
            Piece::Action(a) => {
                if let Some(condition) = a.strip_prefix("if ") {
                    let condition = parse_pipeline(&tokenize(condition)?)?;
                    let (then, closer) = parse_nodes(pieces, true)?;
                    let otherwise = match closer {
                        Some("else") => match parse_nodes(pieces, true)? {
                            (nodes, Some("end")) => nodes,
                            _ => return Err("missing {{end}} after {{else}}".into()),
                        },
                        Some(_) => Vec::new(),
                        None => return Err("missing {{end}}".into()),
                    };
                    nodes.push(Node::If {
                        condition,
                        then,
                        otherwise,
                    });
                } else {
                    let first = a.split_whitespace().next().unwrap_or_default();
                    if matches!(
                        first,
                        "range" | "with" | "define" | "template" | "block" | "break" | "continue"
                    ) || a.contains(":=")
                    {
                        return Err(format!("{first:?} actions are not supported"));
                    }
                    nodes.push(Node::Print(parse_pipeline(&tokenize(&a)?)?));
                }
            }
        }
    }
    if inside_if {
        return Err("missing {{end}}".into());
    }
    Ok((nodes, None))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Term(Term),
    Pipe,
    Open,
    Close,
}

fn tokenize(action: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = action.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let path = |i: &mut usize| {
        let mut parts = Vec::new();
        while *i < chars.len() && chars[*i] == '.' {
            *i += 1;
            let start = *i;
            while *i < chars.len() && (chars[*i].is_alphanumeric() || chars[*i] == '_') {
                *i += 1;
            }
            parts.push(chars[start..*i].iter().collect::<String>());
        }
        parts
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().ok_or("unterminated string")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        c => s.push(c),
                    }
                }
                tokens.push(Token::Term(Term::Str(s)));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or("unterminated raw string")?;
                tokens.push(Token::Term(Term::Str(
                    chars[start..start + end].iter().collect(),
                )));
                i = start + end + 1;
            }
            '$' => {
                i += 1;
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let fields = path(&mut i);
                tokens.push(Token::Term(Term::Variable(name, fields)));
            }
            '.' => {
                let fields = path(&mut i);
                tokens.push(Token::Term(Term::Field(
                    fields.into_iter().filter(|f| !f.is_empty()).collect(),
                )));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '.' | '_' | '+' | '-'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| format!("bad number {text:?}"))?;
                tokens.push(Token::Term(Term::Num(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                tokens.push(Token::Term(match word.as_str() {
                    "true" => Term::Bool(true),
                    "false" => Term::Bool(false),
                    _ if FUNCTIONS.contains(&word.as_str()) => Term::Function(word),
                    _ => return Err(format!("function {word:?} not defined")),
                }));
            }
            other => return Err(format!("unexpected {other:?} in action")),
        }
    }
    Ok(tokens)
}

fn parse_pipeline(tokens: &[Token]) -> Result<Pipeline, String> {
    let mut pipeline = Vec::new();
    let mut command = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Pipe => {
                if command.is_empty() {
                    return Err("missing command before |".into());
                }
                pipeline.push(std::mem::take(&mut command));
            }
            Token::Open => {
                let mut depth = 1;
                let start = i + 1;
                while depth > 0 {
                    i += 1;
                    match tokens.get(i) {
                        Some(Token::Open) => depth += 1,
                        Some(Token::Close) => depth -= 1,
                        Some(_) => {}
                        None => return Err("unclosed (".into()),
                    }
                }
                command.push(Term::Sub(parse_pipeline(&tokens[start..i])?));
            }
            Token::Close => return Err("unexpected )".into()),
            Token::Term(t) => command.push(t.clone()),
        }
        i += 1;
    }
    if command.is_empty() {
        return Err("empty command".into());
    }
    pipeline.push(command);
    Ok(pipeline)
}

const FUNCTIONS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "print",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "safeHtml",
    "urlQueryEscape",
    "stripPort",
    "stripDomain",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "index",
];

fn render(nodes: &[Node], data: &TemplateData<'_>, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&eval_pipeline(p, data)?.to_string()),
            Node::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = if eval_pipeline(condition, data)?.truthy() {
                    then
                } else {
                    otherwise
                };
                render(branch, data, out)?;
            }
        }
    }
    Ok(())
}

fn eval_pipeline(pipeline: &Pipeline, data: &TemplateData<'_>) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for command in pipeline {
        piped = Some(eval_command(command, piped.take(), data)?);
    }
    piped.ok_or_else(|| "empty pipeline".into())
}

fn eval_command(
    command: &Command,
    piped: Option<Value>,
    data: &TemplateData<'_>,
) -> Result<Value, String> {
    match &command[0] {
        Term::Function(name) => {
            let mut args = command[1..]
                .iter()
                .map(|t| eval_term(t, data))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(name, args)
        }
        term => {
            if command.len() > 1 || piped.is_some() {
                return Err(format!("can't give argument to non-function {term:?}"));
            }
            eval_term(term, data)
        }
    }
}

fn eval_term(term: &Term, data: &TemplateData<'_>) -> Result<Value, String> {
    let map = |m: Option<&BTreeMap<String, String>>| Value::Map(m.cloned().unwrap_or_default());
    let lookup = |base: Value, fields: &[String]| -> Result<Value, String> {
        match (base, fields) {
            (v, []) => Ok(v),
            (Value::Map(m), [key]) => Ok(Value::Str(
                m.get(key).cloned().unwrap_or_else(|| "<no value>".into()),
            )),
            (_, _) => Err(format!("can't evaluate field {}", fields.join("."))),
        }
    };
    match term {
        Term::Str(s) => Ok(Value::Str(s.clone())),
        Term::Num(n) => Ok(Value::Num(*n)),
        Term::Bool(b) => Ok(Value::Bool(*b)),
        Term::Sub(p) => eval_pipeline(p, data),
        Term::Function(f) => call(f, Vec::new()),
        Term::Variable(name, fields) => {
            // `$labels.x`: one lookup, without copying the label set.
            if let ("labels" | "Labels", [key]) = (name.as_str(), fields.as_slice()) {
                let value = data.labels.and_then(|l| l.get(key));
                return Ok(Value::Str(
                    value.cloned().unwrap_or_else(|| "<no value>".into()),
                ));
            }
            let base = match name.as_str() {
                "labels" | "Labels" => map(data.labels),
                "externalLabels" => map(data.external_labels),
                "value" | "Value" => Value::Num(data.value),
                "externalURL" => Value::Str(data.external_url.to_string()),
                _ => return Err(format!("undefined variable \"${name}\"")),
            };
            lookup(base, fields)
        }
        Term::Field(fields) => {
            let Some((first, rest)) = fields.split_first() else {
                return Err("the dot alone is not supported; use $labels or $value".into());
            };
            let base = match first.as_str() {
                "Labels" => map(data.labels),
                "ExternalLabels" => map(data.external_labels),
                "Value" => Value::Num(data.value),
                "ExternalURL" => Value::Str(data.external_url.to_string()),
                other => return Err(format!("can't evaluate field {other}")),
            };
            lookup(base, rest)
        }
    }
}

fn call(name: &str, args: Vec<Value>) -> Result<Value, String> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            ))
        }
    };
    let text = |v: &Value| v.to_string();
    Ok(match name {
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" => {
            arity(1)?;
            let v = args[0].number()?;
            Value::Str(match name {
                "humanize" => humanize(v),
                "humanize1024" => humanize1024(v),
                "humanizeDuration" => humanize_duration(v),
                "humanizePercentage" => humanize_percentage(v),
                _ => timestamp(v),
            })
        }
        "printf" => {
            let (format, rest) = args.split_first().ok_or("printf needs a format")?;
            Value::Str(printf(&text(format), rest)?)
        }
        "print" => Value::Str(args.iter().map(text).collect::<Vec<_>>().join(" ")),
        "toUpper" | "toLower" | "title" | "safeHtml" | "urlQueryEscape" | "stripPort"
        | "stripDomain" => {
            arity(1)?;
            let s = text(&args[0]);
            Value::Str(match name {
                "toUpper" => s.to_uppercase(),
                "toLower" => s.to_lowercase(),
                "title" => title(&s),
                "urlQueryEscape" => query_escape(&s),
                "stripPort" => strip_port(&s),
                "stripDomain" => strip_domain(&s),
                _ => s,
            })
        }
        "reReplaceAll" => {
            arity(3)?;
            let re = regex::Regex::new(&text(&args[0])).map_err(|e| e.to_string())?;
            let replacement = go_replacement(&text(&args[1]));
            Value::Str(
                re.replace_all(&text(&args[2]), replacement.as_str())
                    .into_owned(),
            )
        }
        "match" => {
            arity(2)?;
            let re = regex::Regex::new(&text(&args[0])).map_err(|e| e.to_string())?;
            Value::Bool(re.is_match(&text(&args[1])))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(2)?;
            let ordering = match (&args[0], &args[1]) {
                (Value::Str(a), Value::Str(b)) => a.partial_cmp(b),
                (Value::Bool(a), Value::Bool(b)) if matches!(name, "eq" | "ne") => a.partial_cmp(b),
                (a, b) => a.number()?.partial_cmp(&b.number()?),
            };
            let o = ordering.ok_or("incomparable values")?;
            use std::cmp::Ordering::*;
            Value::Bool(match name {
                "eq" => o == Equal,
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "and" => args
            .iter()
            .find(|v| !v.truthy())
            .or(args.last())
            .cloned()
            .ok_or("and needs arguments")?,
        "or" => args
            .iter()
            .find(|v| v.truthy())
            .or(args.last())
            .cloned()
            .ok_or("or needs arguments")?,
        "not" => {
            arity(1)?;
            Value::Bool(!args[0].truthy())
        }
        "len" => {
            arity(1)?;
            Value::Num(match &args[0] {
                Value::Map(m) => m.len(),
                v => v.to_string().chars().count(),
            } as f64)
        }
        "index" => {
            arity(2)?;
            match &args[0] {
                Value::Map(m) => Value::Str(m.get(&text(&args[1])).cloned().unwrap_or_default()),
                _ => return Err("index of a non-map".into()),
            }
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

/// Go's `fmt.Sprintf` for the verbs alert templates use: `%s %v %d %f %g %e
/// %q %%` with optional precision (`%.2f`).
fn printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut precision = String::new();
        let mut verb = chars.next().ok_or("format ends with %")?;
        if verb == '.' {
            while let Some(&d) = chars.peek() {
                if !d.is_ascii_digit() {
                    break;
                }
                precision.push(d);
                chars.next();
            }
            verb = chars.next().ok_or("format ends in a verb")?;
        }
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let prec: Option<usize> = precision.parse().ok();
        out.push_str(&match verb {
            's' | 'v' => arg.to_string(),
            'q' => format!("{:?}", arg.to_string()),
            'd' => format!("{}", arg.number()? as i64),
            'f' => go_f(arg.number()?, prec.unwrap_or(6)),
            'g' => match prec {
                Some(p) => go_g(arg.number()?, p),
                None => go_v(arg.number()?),
            },
            'e' => {
                let v = arg.number()?;
                let s = format!("{:.*e}", prec.unwrap_or(6), v);
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
            }
            other => format!("%!{other}(unsupported)"),
        });
    }
    Ok(out)
}

/// `$1` / `${1}` references of Go's regexp replacement, in the regex crate's
/// syntax (`${1}`), so `$1x` is not read as group `1x`.
fn go_replacement(s: &str) -> String {
    let re = regex::Regex::new(r"\$(\d+)").expect("valid regex");
    re.replace_all(s, "$${$1}").into_owned()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, _)) = rest.split_once(']') {
            return host.to_string();
        }
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host.to_string()
        }
        _ => s.to_string(),
    }
}

fn strip_domain(s: &str) -> String {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (s, None),
    };
    let short = host.split('.').next().unwrap_or(host);
    match port {
        Some(p) => format!("{short}:{p}"),
        None => short.to_string(),
    }
}

/// `humanizeTimestamp`: Go's `time.Time.String()` of a Unix time, in UTC.
fn timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, 4);
    }
    let secs = v.floor() as i64;
    let nanos = ((v - v.floor()) * 1e9).round() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(t: &str, value: f64) -> String {
        let labels = BTreeMap::from([
            ("instance".to_string(), "node-1:9100".to_string()),
            ("pod".to_string(), "api-0".to_string()),
        ]);
        Template::parse(t).unwrap().expand(&TemplateData {
            labels: Some(&labels),
            external_labels: None,
            external_url: "http://periscope:9480",
            value,
        })
    }

    #[test]
    fn labels_values_and_pipelines() {
        assert_eq!(
            expand("{{ $labels.pod }} at {{ $value }}", 0.5),
            "api-0 at 0.5"
        );
        assert_eq!(expand("{{ .Labels.pod }} {{ .Value }}", 2.0), "api-0 2");
        assert_eq!(expand("{{ $value | humanizePercentage }}", 0.953), "95.3%");
        assert_eq!(expand("{{ humanize $value }}B", 1_234_567.0), "1.235MB");
        assert_eq!(expand(r#"{{ printf "%.2f" $value }}"#, 1.0 / 3.0), "0.33");
        assert_eq!(
            expand("{{ $labels.instance | stripPort | toUpper }}", 0.0),
            "NODE-1"
        );
        assert_eq!(
            expand(r#"{{ reReplaceAll "(.*):.*" "$1" $labels.instance }}"#, 0.0),
            "node-1"
        );
        assert_eq!(expand("{{ $labels.missing }}", 0.0), "<no value>");
        assert_eq!(
            expand("{{ $externalURL }}/alerts", 0.0),
            "http://periscope:9480/alerts"
        );
        assert_eq!(
            expand("{{ title \"hello wide world\" }}", 0.0),
            "Hello Wide World"
        );
        assert_eq!(
            expand("{{ humanizeTimestamp 1700000000 }}", 0.0),
            "2023-11-14 22:13:20 +0000 UTC"
        );
    }

    #[test]
    fn conditions_and_trimming() {
        let t = "{{ if gt $value 0.9 }}critical{{ else }}warning{{ end }}";
        assert_eq!(expand(t, 0.95), "critical");
        assert_eq!(expand(t, 0.5), "warning");
        assert_eq!(expand("a  {{- \" b \" -}}  c", 0.0), "a b c");
        assert_eq!(expand("{{/* a comment */}}x", 0.0), "x");
    }

    #[test]
    fn bad_templates_are_refused_at_parse_and_runtime_errors_do_not_fail() {
        for bad in [
            "{{ $labels.a ",
            "{{ nosuch $value }}",
            "{{ if $value }}x",
            "{{ range $labels }}{{ end }}",
            "{{ end }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} parsed");
        }
        let e = expand("{{ humanize $labels.pod }}", 0.0);
        assert!(e.starts_with("<error expanding template: "), "{e}");
    }
}
