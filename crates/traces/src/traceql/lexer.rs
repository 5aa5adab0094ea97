//! TraceQL tokens.

use periscope_model::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    OpenBrace,
    CloseBrace,
    OpenParen,
    CloseParen,
    And,
    Or,
    Not,
    /// `= != > >= < <= =~ !~`, as written.
    Compare(&'static str),
    /// A field path or keyword: `name`, `span.http.method`, `.foo`, `ok`.
    Ident(String),
    Str(String),
    /// A number as written (integer, float or duration).
    Number(String),
    /// A construct outside the subset, named for the error.
    Unsupported(&'static str),
}

/// Splits `text` into tokens.
pub(crate) fn tokens(text: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '{' => (Token::OpenBrace, 1),
            '}' => (Token::CloseBrace, 1),
            '(' => (Token::OpenParen, 1),
            ')' => (Token::CloseParen, 1),
            '&' if next == Some('&') => (Token::And, 2),
            '&' => (Token::Unsupported("structural operator `&>>`/`&<<`"), 1),
            '|' if next == Some('|') => (Token::Or, 2),
            '|' => (Token::Unsupported("pipeline `|`"), 1),
            '!' if next == Some('=') => (Token::Compare("!="), 2),
            '!' if next == Some('~') => (Token::Compare("!~"), 2),
            '!' if next == Some('>') || next == Some('<') => {
                (Token::Unsupported("structural operator `!>`/`!<`"), 2)
            }
            '!' => (Token::Not, 1),
            '=' if next == Some('~') => (Token::Compare("=~"), 2),
            '=' => (Token::Compare("="), 1),
            '>' if next == Some('>') => (Token::Unsupported("structural operator `>>`"), 2),
            '>' if next == Some('=') => (Token::Compare(">="), 2),
            '>' => (Token::Compare(">"), 1),
            '<' if next == Some('<') => (Token::Unsupported("structural operator `<<`"), 2),
            '<' if next == Some('=') => (Token::Compare("<="), 2),
            '<' => (Token::Compare("<"), 1),
            '~' => (Token::Unsupported("sibling operator `~`"), 1),
            '"' => {
                let (s, width) = quoted(&chars[i..])?;
                (Token::Str(s), width)
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == '`')
                    .ok_or_else(|| {
                        Error::bad_request("invalid TraceQL: unterminated raw string")
                    })?;
                (
                    Token::Str(chars[i + 1..i + 1 + end].iter().collect()),
                    end + 2,
                )
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let end = i
                    + 1
                    + chars[i + 1..]
                        .iter()
                        .position(|c| !(c.is_alphanumeric() || *c == '.' || *c == 'µ'))
                        .unwrap_or(chars.len() - i - 1);
                (Token::Number(chars[i..end].iter().collect()), end - i)
            }
            c if is_ident_char(c) => {
                let end = i + chars[i..]
                    .iter()
                    .position(|c| !is_ident_char(*c))
                    .unwrap_or(chars.len() - i);
                (Token::Ident(chars[i..end].iter().collect()), end - i)
            }
            ',' => (Token::Unsupported("argument list"), 1),
            other => {
                return Err(Error::bad_request(format!(
                    "invalid TraceQL: unexpected character {other:?}"
                )))
            }
        };
        out.push(token);
        i += width;
    }
    Ok(out)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | ':' | '-' | '/')
}

/// A double-quoted string with Go escapes; returns it and its width.
fn quoted(chars: &[char]) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let escaped = chars.get(i + 1).ok_or_else(unterminated)?;
                out.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '\\' => '\\',
                    '"' => '"',
                    other => {
                        return Err(Error::bad_request(format!(
                            "invalid TraceQL: unknown escape \\{other} in a string"
                        )))
                    }
                });
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(unterminated())
}

fn unterminated() -> Error {
    Error::bad_request("invalid TraceQL: unterminated string")
}
