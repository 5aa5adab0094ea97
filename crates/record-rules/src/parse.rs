//! The parser: tokens, then a recursive descent with the dialect's
//! precedence (kube-events: one level for `and`/`or`, left to right, `not`
//! takes the rest; strict: `not` over `and` over `or`), names resolved
//! through the [`Context`] (aliases, Falco's `ka.*` fields, lists, macros).

use crate::ast::{Affix, Comparison, Condition, Literal, Path, Segment};
use crate::vocabulary::{Context, Dialect, Fields};

/// Why a condition is refused, with the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition, at {offset}: {message}")]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
}

/// Longest condition accepted.
const MAX_LEN: usize = 16 * 1024;
/// Deepest nesting of parentheses and `not`s.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(f64),
    Op(&'static str),
    /// `${name}`: a macro, list or alias of the group (KubeSphere auditing's syntax).
    Ref(String),
    Open,
    Close,
    Comma,
}

fn lex(text: &str) -> Result<Vec<(usize, Token)>, ParseError> {
    let err = |offset, message: &str| ParseError {
        offset,
        message: message.into(),
    };
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((start, Token::Open));
                i += 1
            }
            b')' => {
                out.push((start, Token::Close));
                i += 1
            }
            b',' => {
                out.push((start, Token::Comma));
                i += 1
            }
            b'$' => {
                let close = text[i..]
                    .strip_prefix("${")
                    .and_then(|rest| rest.find('}'))
                    .ok_or_else(|| err(start, "a ${name} is not closed"))?;
                out.push((start, Token::Ref(text[i + 2..i + 2 + close].to_string())));
                i += close + 3;
            }
            b'"' => {
                // As the engine: \" and \\ are lexed, the text kept as written.
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if i >= bytes.len() {
                    return Err(err(start, "a string is not closed"));
                }
                out.push((start, Token::Text(text[start + 1..i].to_string())));
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let two = text.get(i..i + 2).unwrap_or("");
                let op = match two {
                    "==" => "=",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        b'=' => "=",
                        b'!' => "!",
                        b'<' => "<",
                        _ => ">",
                    },
                };
                i += if matches!(two, "==" | "!=" | "<=" | ">=") {
                    2
                } else {
                    1
                };
                out.push((start, Token::Op(op)));
            }
            b'0'..=b'9' | b'-' | b'.'
                if c != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_digit() || matches!(bytes[i], b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                let n: f64 = text[start..i]
                    .parse()
                    .map_err(|_| err(start, "not a number"))?;
                out.push((start, Token::Number(n)));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                // A field path: names, dots, and [*], [N], [N:M].
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'-' | b'.' | b'/'))
                {
                    i += 1;
                }
                while i < bytes.len() && bytes[i] == b'[' {
                    while i < bytes.len() && bytes[i] != b']' {
                        i += 1;
                    }
                    i += 1;
                    while i < bytes.len()
                        && (bytes[i].is_ascii_alphanumeric()
                            || matches!(bytes[i], b'_' | b'-' | b'.' | b'/'))
                    {
                        i += 1;
                    }
                }
                out.push((
                    start,
                    Token::Ident(text[start..i.min(bytes.len())].to_string()),
                ));
            }
            _ => return Err(err(start, &format!("unexpected {:?}", c as char))),
        }
    }
    Ok(out)
}

pub(crate) fn path(text: &str, offset: usize) -> Result<Path, ParseError> {
    let err = |message: String| ParseError { offset, message };
    let mut segments = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner
                .find(']')
                .ok_or_else(|| err(format!("{text:?}: an index is not closed")))?;
            let index = &inner[..end];
            segments.push(match index.split_once(':') {
                _ if index == "*" => Segment::Any,
                Some((a, b)) => {
                    let (a, b) = (
                        a.parse().map_err(|_| err(format!("{text:?}: bad slice")))?,
                        b.parse().map_err(|_| err(format!("{text:?}: bad slice")))?,
                    );
                    if a > b {
                        return Err(err(format!("{text:?}: a slice ends before it starts")));
                    }
                    Segment::Slice(a, b)
                }
                None => Segment::Index(
                    index
                        .parse()
                        .map_err(|_| err(format!("{text:?}: an index is *, N or N:M")))?,
                ),
            });
            rest = inner[end + 1..]
                .strip_prefix('.')
                .unwrap_or(&inner[end + 1..]);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err(err(format!("{text:?}: an empty field name")));
            }
            segments.push(Segment::Key(rest[..end].to_string()));
            rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        }
    }
    Ok(Path(segments))
}

struct Parser<'c> {
    tokens: Vec<(usize, Token)>,
    at: usize,
    end: usize,
    context: &'c Context,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(o, _)| *o)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn word(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Ident(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn is_not(&self) -> bool {
        matches!(self.peek(), Some(Token::Op("!"))) || self.word().as_deref() == Some("not")
    }

    fn strict(&self) -> bool {
        self.context.dialect == Dialect::Strict
    }

    /// kube-events: unary ((and|or) unary)*, left to right. Strict: the
    /// `or`s of `and`s.
    fn expression(&mut self, depth: usize) -> Result<Condition, ParseError> {
        if self.strict() {
            let mut left = self.conjunction(depth)?;
            while self.word().as_deref() == Some("or") {
                self.at += 1;
                left = Condition::Or(Box::new(left), Box::new(self.conjunction(depth)?));
            }
            return Ok(left);
        }
        let mut left = self.unary(depth)?;
        loop {
            match self.word().as_deref() {
                Some("and") => {
                    self.at += 1;
                    left = Condition::And(Box::new(left), Box::new(self.unary(depth)?));
                }
                Some("or") => {
                    self.at += 1;
                    left = Condition::Or(Box::new(left), Box::new(self.unary(depth)?));
                }
                _ => return Ok(left),
            }
        }
    }

    /// Strict: unary (and unary)*.
    fn conjunction(&mut self, depth: usize) -> Result<Condition, ParseError> {
        let mut left = self.unary(depth)?;
        while self.word().as_deref() == Some("and") {
            self.at += 1;
            left = Condition::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Condition, ParseError> {
        if depth > MAX_DEPTH {
            return self.error(format!("nested more than {MAX_DEPTH} deep"));
        }
        if self.is_not() {
            self.at += 1;
            // kube-events: `not` takes everything after it, as the engine
            // parses it; strict: the next term only.
            let operand = if self.strict() {
                self.unary(depth + 1)?
            } else {
                self.expression(depth + 1)?
            };
            return Ok(Condition::Not(Box::new(operand)));
        }
        if let Some(Token::Ref(name)) = self.peek() {
            let name = name.clone();
            if let Some(m) = self.context.macros.get(&name) {
                self.at += 1;
                return Ok(m.clone());
            }
            if self.context.aliases.contains_key(&name) {
                return self.predicate();
            }
            return self.error(format!("no macro or alias named {name:?}"));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.expression(depth + 1)?;
            if self.peek() != Some(&Token::Close) {
                return self.error("expected )");
            }
            self.at += 1;
            return Ok(inner);
        }
        self.predicate()
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        let literal = match self.peek() {
            Some(Token::Text(t)) => Literal::Text(t.clone()),
            Some(Token::Number(n)) => Literal::Number(*n),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Token::Ident(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return self.error("expected a string, a number or a boolean"),
        };
        self.at += 1;
        Ok(literal)
    }

    /// A negated operator: as written in the kube-events dialect (false on a
    /// missing field); `not (...)` in the strict one (true on a missing field).
    fn negatable(&self, negated: bool, make: impl FnOnce(bool) -> Condition) -> Condition {
        if negated && self.strict() {
            Condition::Not(Box::new(make(false)))
        } else {
            make(negated)
        }
    }

    /// `( item, ... )`, `${list}` or `(list_name)`: the literals, lists expanded.
    fn list(&mut self) -> Result<Vec<Literal>, ParseError> {
        if let Some(Token::Ref(name)) = self.peek() {
            let name = name.clone();
            let items = self.named_list(&name)?;
            self.at += 1;
            return Ok(items);
        }
        if self.peek() != Some(&Token::Open) {
            return self.error("expected ( after in");
        }
        self.at += 1;
        let mut values = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Ref(name)) | Some(Token::Ident(name))
                    if self.context.lists.contains_key(name) =>
                {
                    let name = name.clone();
                    values.extend(self.named_list(&name)?);
                    self.at += 1;
                }
                // Falco writes list items bare: `in (exec, attach)`.
                Some(Token::Ident(word))
                    if !word.eq_ignore_ascii_case("true")
                        && !word.eq_ignore_ascii_case("false") =>
                {
                    values.push(Literal::Text(word.clone()));
                    self.at += 1;
                }
                _ => values.push(self.literal()?),
            }
            if self.peek() != Some(&Token::Comma) {
                break;
            }
            self.at += 1;
        }
        if self.peek() != Some(&Token::Close) {
            return self.error("expected , or ) in the list");
        }
        self.at += 1;
        Ok(values)
    }

    fn named_list(&self, name: &str) -> Result<Vec<Literal>, ParseError> {
        match self.context.lists.get(name) {
            Some(items) => Ok(items.clone()),
            None => self.error(format!("no list named {name:?}")),
        }
    }

    fn predicate(&mut self) -> Result<Condition, ParseError> {
        let (offset, name, referenced) = match self.tokens.get(self.at) {
            Some((o, Token::Ident(name))) => (*o, name.clone(), false),
            Some((o, Token::Ref(name))) => (*o, name.clone(), true),
            _ => return self.error("expected a field name"),
        };
        if !referenced {
            if let Some(m) = self.context.macros.get(&name) {
                // Falco's macros are used by their bare name.
                self.at += 1;
                return Ok(m.clone());
            }
        }
        if matches!(
            name.to_ascii_lowercase().as_str(),
            "and"
                | "or"
                | "in"
                | "contains"
                | "like"
                | "regex"
                | "exists"
                | "startswith"
                | "endswith"
                | "intersects"
        ) {
            return self.error(format!("expected a field name, found {name:?}"));
        }
        let field = match self.context.field(&name) {
            Some(resolved) => resolved,
            None if self.context.fields == Fields::Audit && name.starts_with("ka.") => {
                return self.error(format!(
                    "{name:?} is not a Falco k8saudit field Periscope knows"
                ));
            }
            None => path(&name, offset)?,
        };
        self.at += 1;
        let negated = self.word().as_deref() == Some("not");
        if negated {
            self.at += 1;
        }
        let word = self.word();
        match (self.peek(), word.as_deref()) {
            (Some(Token::Op(op)), _) if !negated && *op != "!" => {
                let op = match *op {
                    "=" => Comparison::Eq,
                    "!=" => Comparison::Ne,
                    "<" => Comparison::Lt,
                    "<=" => Comparison::Le,
                    ">" => Comparison::Gt,
                    _ => Comparison::Ge,
                };
                self.at += 1;
                let value = self.literal()?;
                if matches!(value, Literal::Bool(_))
                    && !matches!(op, Comparison::Eq | Comparison::Ne)
                {
                    return self.error("booleans compare only with = and !=");
                }
                if op == Comparison::Ne && self.strict() {
                    // Strict: `x != v` is `not (x = v)`, so it holds for a missing x.
                    return Ok(Condition::Not(Box::new(Condition::Compare(
                        field,
                        Comparison::Eq,
                        value,
                    ))));
                }
                Ok(Condition::Compare(field, op, value))
            }
            (_, Some(op @ ("in" | "intersects"))) => {
                if op == "intersects" && negated {
                    return self.error("not intersects is written not (x intersects (...))");
                }
                self.at += 1;
                let values = self.list()?;
                Ok(self.negatable(negated, |n| Condition::In(field, n, values)))
            }
            (_, Some(op @ ("startswith" | "endswith"))) => {
                let affix = if op == "startswith" {
                    Affix::Prefix
                } else {
                    Affix::Suffix
                };
                self.at += 1;
                let text = match self.literal()? {
                    Literal::Text(t) => t,
                    Literal::Number(n) => n.to_string(),
                    Literal::Bool(b) => b.to_string(),
                };
                Ok(self.negatable(negated, |n| Condition::Affix(field, n, affix, text)))
            }
            (_, Some("contains")) => {
                self.at += 1;
                let needle = self.literal()?;
                Ok(self.negatable(negated, |n| Condition::Contains(field, n, needle)))
            }
            (_, Some(kind @ ("like" | "regex"))) => {
                let like = kind == "like";
                self.at += 1;
                let pattern = match self.literal()? {
                    Literal::Text(t) => t,
                    _ => return self.error(format!("{kind} takes a string")),
                };
                let source = if like {
                    regex::escape(&pattern)
                        .replace("\\*", "(.*)")
                        .replace("\\?", ".")
                } else {
                    pattern
                };
                // Strict matching is anchored, as Falco's regex is.
                let source = if self.strict() {
                    format!("^(?:{source})$")
                } else {
                    source
                };
                let re = regex::RegexBuilder::new(&source)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| ParseError {
                        offset,
                        message: format!("{kind} {source:?}: {e}"),
                    })?;
                Ok(self.negatable(negated, |n| Condition::Matches(field, n, re)))
            }
            (_, Some("exists")) => {
                self.at += 1;
                Ok(Condition::Exists(field, negated))
            }
            _ if negated => self.error(
                "expected in, contains, like, regex, startswith, endswith or exists after not",
            ),
            _ => Ok(Condition::Truthy(field)),
        }
    }
}

impl Condition {
    /// Parses (and so validates) a condition in kube-events' dialect, with
    /// no aliases, lists or macros.
    pub fn parse(text: &str) -> Result<Condition, ParseError> {
        Self::parse_in(text, &Context::default())
    }

    /// Parses (and so validates) a condition in `context`.
    pub fn parse_in(text: &str, context: &Context) -> Result<Condition, ParseError> {
        if text.len() > MAX_LEN {
            return Err(ParseError {
                offset: MAX_LEN,
                message: format!("longer than {MAX_LEN} bytes"),
            });
        }
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(ParseError {
                offset: 0,
                message: "the condition is empty".into(),
            });
        }
        let mut parser = Parser {
            tokens,
            at: 0,
            end: text.len(),
            context,
        };
        let condition = parser.expression(0)?;
        if parser.at < parser.tokens.len() {
            return parser.error("expected and, or, or the end");
        }
        Ok(condition)
    }
}
