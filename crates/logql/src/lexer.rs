//! LogQL's tokens: names, strings (Go's double-quoted and back-quoted forms),
//! numbers, durations (`5m`, `1h30m`, `250ms`), byte sizes (`10KB`, `1MiB`)
//! and operators. `#` starts a comment to the end of the line.

use crate::error::ParseError;
use crate::units;

/// One token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Kind,
    pub offset: usize,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Ident(String),
    Str(String),
    Number(f64),
    /// Nanoseconds.
    Duration(i64),
    Bytes(u64),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    /// `|`
    Pipe,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    /// `=`
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    Gt,
    Gte,
    Lt,
    Lte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `--name` (logfmt's `--strict`, `--keep-empty`)
    Flag(String),
    Eof,
}

impl Kind {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Kind::Ident(s) => format!("{s:?}"),
            Kind::Str(s) => format!("string {s:?}"),
            Kind::Number(n) => format!("number {n}"),
            Kind::Duration(d) => format!("duration {}", units::format_duration(*d)),
            Kind::Bytes(b) => format!("byte size {}", units::format_bytes(*b)),
            Kind::Flag(f) => format!("flag --{f}"),
            Kind::Eof => "the end of the query".to_string(),
            other => format!("{:?}", symbol(other)),
        }
    }
}

fn symbol(kind: &Kind) -> &'static str {
    match kind {
        Kind::LBrace => "{",
        Kind::RBrace => "}",
        Kind::LParen => "(",
        Kind::RParen => ")",
        Kind::LBracket => "[",
        Kind::RBracket => "]",
        Kind::Comma => ",",
        Kind::Pipe => "|",
        Kind::PipeExact => "|=",
        Kind::PipeMatch => "|~",
        Kind::PipePattern => "|>",
        Kind::NotPattern => "!>",
        Kind::Eq => "=",
        Kind::EqEq => "==",
        Kind::Neq => "!=",
        Kind::Re => "=~",
        Kind::Nre => "!~",
        Kind::Gt => ">",
        Kind::Gte => ">=",
        Kind::Lt => "<",
        Kind::Lte => "<=",
        Kind::Add => "+",
        Kind::Sub => "-",
        Kind::Mul => "*",
        Kind::Div => "/",
        Kind::Mod => "%",
        Kind::Pow => "^",
        _ => "?",
    }
}

/// Splits `text` into tokens, ending with [`Kind::Eof`].
pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let two = |s: &[u8]| bytes[i..].starts_with(s);
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                let (s, end) = double_quoted(text, i)?;
                i = end;
                Kind::Str(s)
            }
            b'`' => {
                let end = text[i + 1..]
                    .find('`')
                    .ok_or_else(|| ParseError::new(i, "unterminated raw string"))?;
                let s = text[i + 1..i + 1 + end].to_string();
                i += end + 2;
                Kind::Str(s)
            }
            b'0'..=b'9' | b'.' if c != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (kind, end) = number(text, i)?;
                i = end;
                kind
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Kind::Ident(text[start..i].to_string())
            }
            _ if two(b"--") && bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) => {
                i += 2;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
                    i += 1;
                }
                Kind::Flag(text[start + 2..i].to_string())
            }
            _ => {
                let (kind, len) = if two(b"|=") {
                    (Kind::PipeExact, 2)
                } else if two(b"|~") {
                    (Kind::PipeMatch, 2)
                } else if two(b"|>") {
                    (Kind::PipePattern, 2)
                } else if two(b"!>") {
                    (Kind::NotPattern, 2)
                } else if two(b"==") {
                    (Kind::EqEq, 2)
                } else if two(b"!=") {
                    (Kind::Neq, 2)
                } else if two(b"=~") {
                    (Kind::Re, 2)
                } else if two(b"!~") {
                    (Kind::Nre, 2)
                } else if two(b">=") {
                    (Kind::Gte, 2)
                } else if two(b"<=") {
                    (Kind::Lte, 2)
                } else {
                    let kind = match c {
                        b'{' => Kind::LBrace,
                        b'}' => Kind::RBrace,
                        b'(' => Kind::LParen,
                        b')' => Kind::RParen,
                        b'[' => Kind::LBracket,
                        b']' => Kind::RBracket,
                        b',' => Kind::Comma,
                        b'|' => Kind::Pipe,
                        b'=' => Kind::Eq,
                        b'>' => Kind::Gt,
                        b'<' => Kind::Lt,
                        b'+' => Kind::Add,
                        b'-' => Kind::Sub,
                        b'*' => Kind::Mul,
                        b'/' => Kind::Div,
                        b'%' => Kind::Mod,
                        b'^' => Kind::Pow,
                        _ => {
                            let ch = text[i..].chars().next().unwrap_or('?');
                            return Err(ParseError::new(i, format!("unexpected character {ch:?}")));
                        }
                    };
                    (kind, 1)
                };
                i += len;
                kind
            }
        };
        tokens.push(Token {
            kind,
            offset: start,
        });
    }
    tokens.push(Token {
        kind: Kind::Eof,
        offset: text.len(),
    });
    Ok(tokens)
}

/// A Go double-quoted string starting at `start`; returns it and the offset after it.
fn double_quoted(text: &str, start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        let at = start + 1 + j;
        match c {
            '"' => return Ok((out, at + 1)),
            '\n' => return Err(ParseError::new(at, "newline in string")),
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..len {
                            match chars.next() {
                                Some((_, h)) if h.is_ascii_hexdigit() => hex.push(h),
                                _ => return Err(ParseError::new(at, "invalid escape in string")),
                            }
                        }
                        let value = u32::from_str_radix(&hex, 16).unwrap_or(u32::MAX);
                        match char::from_u32(value) {
                            Some(ch) => out.push(ch),
                            None => return Err(ParseError::new(at, "invalid escape in string")),
                        }
                    }
                    other => {
                        return Err(ParseError::new(
                            at,
                            format!(
                                "unknown escape \\{other} in string (write \\\\ for a backslash)"
                            ),
                        ))
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(ParseError::new(start, "unterminated string"))
}

/// A number, duration or byte size starting at `start`.
fn number(text: &str, start: usize) -> Result<(Kind, usize), ParseError> {
    let bytes = text.as_bytes();
    let mut i = start;
    // A run of digits, dots, exponents, hex and unit letters: `1.5e3`, `0x1f`,
    // `1h30m`, `10MiB`. What it is is decided by its text.
    while i < bytes.len() {
        if text[i..].starts_with('µ') {
            i += 'µ'.len_utf8();
            continue;
        }
        if !(bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
            break;
        }
        let exponent_sign = (bytes[i] == b'e' || bytes[i] == b'E')
            && bytes.get(i + 1).is_some_and(|b| *b == b'+' || *b == b'-')
            && text[start..i]
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.');
        i += if exponent_sign { 2 } else { 1 };
    }
    let word = &text[start..i];
    if let Ok(n) = word.parse::<f64>() {
        if word.bytes().all(|b| {
            b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'E' || b == b'+' || b == b'-'
        }) {
            return Ok((Kind::Number(n), i));
        }
    }
    if let Some(hex) = word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return Ok((Kind::Number(n as f64), i));
        }
    }
    if let Some(d) = units::parse_duration(word) {
        return Ok((Kind::Duration(d), i));
    }
    if let Some(b) = units::parse_bytes(word) {
        return Ok((Kind::Bytes(b), i));
    }
    Err(ParseError::new(
        start,
        format!("{word:?} is not a number, a duration (5m, 1h30m) or a byte size (10KB)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn operators_numbers_and_units() {
        assert_eq!(
            kinds(r#"{a=~"x\"y"} |= `r\aw` != "b" [5m] > 1.5e3 -- 10KB 250ms"#),
            vec![
                Kind::LBrace,
                Kind::Ident("a".into()),
                Kind::Re,
                Kind::Str("x\"y".into()),
                Kind::RBrace,
                Kind::PipeExact,
                Kind::Str("r\\aw".into()),
                Kind::Neq,
                Kind::Str("b".into()),
                Kind::LBracket,
                Kind::Duration(300_000_000_000),
                Kind::RBracket,
                Kind::Gt,
                Kind::Number(1500.0),
                Kind::Sub,
                Kind::Sub,
                Kind::Bytes(10_000),
                Kind::Duration(250_000_000),
                Kind::Eof,
            ]
        );
    }

    #[test]
    fn comments_and_flags() {
        assert_eq!(
            kinds("| logfmt --strict # all of this\n| json"),
            vec![
                Kind::Pipe,
                Kind::Ident("logfmt".into()),
                Kind::Flag("strict".into()),
                Kind::Pipe,
                Kind::Ident("json".into()),
                Kind::Eof,
            ]
        );
    }

    #[test]
    fn bad_tokens_name_their_offset() {
        let e = tokenize(r#"{a="b} "#).unwrap_err();
        assert_eq!(e.offset, 3);
        let e = tokenize("{a=\"\\q\"}").unwrap_err();
        assert!(e.message.contains("unknown escape"), "{e}");
        let e = tokenize("5zz").unwrap_err();
        assert_eq!(e.offset, 0);
        assert_eq!(tokenize("a ; b").unwrap_err().offset, 2);
    }
}
