//! The precedence parser: `||` binds loosest, then `&&`, then `!`.

use super::ast::{AttributeScope, Comparison, Field, Filter, Op, Value};
use super::lexer::{tokens, Token};
use super::{MAX_DEPTH, MAX_QUERY_BYTES};
use periscope_model::{Error, Result};

/// Parses one spanset filter, e.g. `{ resource.service.name = "api" && duration > 1s }`.
pub fn parse(text: &str) -> Result<Filter> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::too_large(format!(
            "the TraceQL query is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    let tokens = tokens(text)?;
    if let Some(Token::Unsupported(what)) =
        tokens.iter().find(|t| matches!(t, Token::Unsupported(_)))
    {
        return Err(unsupported(what));
    }
    let mut p = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    p.expect(&Token::OpenBrace, "a query starts with `{`")?;
    let filter = if p.peek() == Some(&Token::CloseBrace) {
        Filter::All
    } else {
        p.or()?
    };
    p.expect(&Token::CloseBrace, "expected `}`")?;
    match p.peek() {
        None => Ok(filter),
        Some(Token::And | Token::Or) => {
            Err(unsupported("spanset operators between `{...}` filters"))
        }
        Some(Token::Ident(name)) if is_aggregate(name) => Err(unsupported("aggregates")),
        Some(other) => Err(Error::bad_request(format!(
            "invalid TraceQL: unexpected {} after the filter",
            describe(other)
        ))),
    }
}

fn is_aggregate(name: &str) -> bool {
    matches!(
        name,
        "count" | "avg" | "max" | "min" | "sum" | "select" | "by" | "coalesce"
    )
}

fn unsupported(what: &str) -> Error {
    Error::bad_request(format!(
        "unsupported TraceQL: {what} (Periscope accepts one `{{...}}` filter of comparisons joined by &&, || and !)"
    ))
}

fn describe(t: &Token) -> String {
    match t {
        Token::OpenBrace => "`{`".into(),
        Token::CloseBrace => "`}`".into(),
        Token::OpenParen => "`(`".into(),
        Token::CloseParen => "`)`".into(),
        Token::And => "`&&`".into(),
        Token::Or => "`||`".into(),
        Token::Not => "`!`".into(),
        Token::Compare(op) => format!("`{op}`"),
        Token::Ident(s) => format!("`{s}`"),
        Token::Str(s) => format!("string {s:?}"),
        Token::Number(n) => format!("number {n}"),
        Token::Unsupported(what) => (*what).to_string(),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, token: &Token, message: &str) -> Result<()> {
        match self.next() {
            Some(t) if &t == token => Ok(()),
            Some(t) => Err(Error::bad_request(format!(
                "invalid TraceQL: {message}, found {}",
                describe(&t)
            ))),
            None => Err(Error::bad_request(format!(
                "invalid TraceQL: {message}, found the end of the query"
            ))),
        }
    }

    fn deeper(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::bad_request(format!(
                "invalid TraceQL: nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter> {
        match self.peek() {
            Some(Token::Not) => {
                self.at += 1;
                self.deeper()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Filter::Not(Box::new(inner)))
            }
            Some(Token::OpenParen) => {
                self.at += 1;
                self.deeper()?;
                let inner = self.or()?;
                self.expect(&Token::CloseParen, "expected `)`")?;
                self.depth -= 1;
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Filter> {
        let field = match self.next() {
            Some(Token::Ident(name)) => field(&name)?,
            Some(t) => {
                return Err(Error::bad_request(format!(
                    "invalid TraceQL: expected an attribute or intrinsic, found {}",
                    describe(&t)
                )))
            }
            None => {
                return Err(Error::bad_request(
                    "invalid TraceQL: expected a comparison, found the end of the query",
                ))
            }
        };
        let op = match self.next() {
            Some(Token::Compare(op)) => match op {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                "=~" => Op::Re,
                _ => Op::NotRe,
            },
            Some(t) => {
                return Err(Error::bad_request(format!(
                    "invalid TraceQL: expected a comparison operator after the field, found {}",
                    describe(&t)
                )))
            }
            None => {
                return Err(Error::bad_request(
                    "invalid TraceQL: a field must be compared (e.g. `name = \"x\"`)",
                ))
            }
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::Str(s),
            Some(Token::Number(n)) => number(&n)?,
            Some(Token::Ident(word)) => keyword(&word, &field)?,
            Some(t) => {
                return Err(Error::bad_request(format!(
                    "invalid TraceQL: expected a value, found {}",
                    describe(&t)
                )))
            }
            None => {
                return Err(Error::bad_request(
                    "invalid TraceQL: expected a value, found the end of the query",
                ))
            }
        };
        check_types(&field, op, &value)?;
        let regex = match (op, &value) {
            (Op::Re | Op::NotRe, Value::Str(pattern)) => Some(
                regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| {
                        Error::bad_request(format!("invalid TraceQL: bad regular expression: {e}"))
                    })?,
            ),
            (Op::Re | Op::NotRe, _) => {
                return Err(Error::bad_request(
                    "invalid TraceQL: =~ and !~ take a string pattern",
                ))
            }
            _ => None,
        };
        Ok(Filter::Compare(Comparison {
            field,
            op,
            value,
            regex,
        }))
    }
}

/// An intrinsic or attribute path, as tag APIs name them
/// (`resource.service.name`, `.http.method`, `name`, `status`).
pub fn field(name: &str) -> Result<Field> {
    let attribute = |scope, key: &str| {
        if key.is_empty() {
            Err(Error::bad_request(format!(
                "invalid TraceQL: {name:?} names no attribute"
            )))
        } else {
            Ok(Field::Attribute {
                scope,
                key: key.to_string(),
            })
        }
    };
    if let Some(key) = name.strip_prefix("span.") {
        return attribute(AttributeScope::Span, key);
    }
    if let Some(key) = name.strip_prefix("resource.") {
        return attribute(AttributeScope::Resource, key);
    }
    if let Some(key) = name.strip_prefix('.') {
        return attribute(AttributeScope::Any, key);
    }
    for scope in ["event.", "link.", "instrumentation.", "parent."] {
        if name.starts_with(scope) {
            return Err(unsupported(&format!(
                "the `{}` scope",
                &scope[..scope.len() - 1]
            )));
        }
    }
    if name.contains(':') {
        return Err(unsupported(&format!("the scoped intrinsic `{name}`")));
    }
    Ok(match name {
        "name" => Field::Name,
        "status" => Field::Status,
        "kind" => Field::Kind,
        "duration" => Field::Duration,
        "rootServiceName" => Field::RootServiceName,
        "rootName" => Field::RootName,
        "statusMessage" | "traceDuration" | "childCount" | "nestedSetLeft" | "nestedSetRight"
        | "nestedSetParent" | "traceID" | "spanID" | "parent" => {
            return Err(unsupported(&format!("the intrinsic `{name}`")))
        }
        other if is_aggregate(other) => return Err(unsupported("aggregates")),
        other => {
            return Err(Error::bad_request(format!(
                "invalid TraceQL: unknown intrinsic `{other}` (attributes are written `span.{other}`, `resource.{other}` or `.{other}`)"
            )))
        }
    })
}

/// An integer, float or duration literal.
fn number(text: &str) -> Result<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(f) = text.parse::<f64>() {
        if f.is_finite() {
            return Ok(Value::Float(f));
        }
    }
    duration(text).map(Value::Duration).ok_or_else(|| {
        Error::bad_request(format!(
            "invalid TraceQL: {text:?} is not a number or duration"
        ))
    })
}

/// `1.5s`, `100ms`, `10us`/`10µs`, `3ns`, `2m`, `1h`, `1d`: nanoseconds.
fn duration(text: &str) -> Option<i64> {
    let split = text.find(|c: char| c.is_alphabetic() || c == 'µ')?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        _ => return None,
    };
    let value = number.parse::<f64>().ok()? * scale;
    (value.is_finite() && value.abs() < 9.2e18).then_some(value as i64)
}

/// `true`, `false`, `nil` and the status and kind names.
fn keyword(word: &str, field: &Field) -> Result<Value> {
    Ok(match (word, field) {
        ("true", _) => Value::Bool(true),
        ("false", _) => Value::Bool(false),
        ("nil", _) => Value::Nil,
        ("unset", Field::Status) => Value::Status(0),
        ("ok", Field::Status) => Value::Status(1),
        ("error", Field::Status) => Value::Status(2),
        ("unspecified", Field::Kind) => Value::Kind(0),
        ("internal", Field::Kind) => Value::Kind(1),
        ("server", Field::Kind) => Value::Kind(2),
        ("client", Field::Kind) => Value::Kind(3),
        ("producer", Field::Kind) => Value::Kind(4),
        ("consumer", Field::Kind) => Value::Kind(5),
        (other, _) => {
            return Err(Error::bad_request(format!(
                "invalid TraceQL: {other:?} is not a value here (strings are quoted)"
            )))
        }
    })
}

/// Refuses comparisons that can never be meaningful.
fn check_types(field: &Field, op: Op, value: &Value) -> Result<()> {
    let equality = matches!(op, Op::Eq | Op::Ne);
    let ok = match field {
        Field::Status => matches!(value, Value::Status(_)) && equality,
        Field::Kind => matches!(value, Value::Kind(_)) && equality,
        Field::Duration => {
            matches!(value, Value::Duration(_) | Value::Int(_) | Value::Float(_))
                && !matches!(op, Op::Re | Op::NotRe)
        }
        Field::Name | Field::RootServiceName | Field::RootName => matches!(value, Value::Str(_)),
        Field::Attribute { .. } => !matches!(value, Value::Status(_) | Value::Kind(_)),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::bad_request(format!(
            "invalid TraceQL: {field:?} cannot be compared with {value:?} using {op:?}"
        )))
    }
}
