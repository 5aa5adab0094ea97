//! Loki's pattern expressions (`<ip> - <_> "<method> <path> <_>"`): literal
//! text and captures, used by the `pattern` parser and the `|>`/`!>` line
//! filters. A pattern matches from the start of the line; each literal is
//! found at the first place after the previous one; a capture at the end
//! takes the rest of the line, a literal at the end ignores what follows it.

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// `<name>`; `None` for `<_>`.
    Capture(Option<String>),
}

impl Pattern {
    /// Parses a pattern; two captures in a row are refused (where would one end?).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut literal = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<') {
                if let Some(end) = after.find('>') {
                    let name = &after[..end];
                    let valid = !name.is_empty()
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && !name.starts_with(|c: char| c.is_ascii_digit());
                    if valid {
                        if !literal.is_empty() {
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        } else if matches!(parts.last(), Some(Part::Capture(_))) {
                            return Err(format!("pattern {text:?}: two captures in a row need literal text between them"));
                        }
                        parts.push(Part::Capture((name != "_").then(|| name.to_string())));
                        rest = &after[end + 1..];
                        continue;
                    }
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            literal.push(c);
            rest = &rest[c.len_utf8()..];
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err("a pattern may not be empty".into());
        }
        let mut names: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Capture(Some(n)) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "pattern {text:?}: capture <{}> appears twice",
                w[0]
            ));
        }
        Ok(Pattern { parts })
    }

    /// The named captures, in order.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Capture(Some(n)) => Some(n.as_str()),
            _ => None,
        })
    }

    /// The captured values of `line` (name, value), or `None` when it does not match.
    pub fn matches<'l>(&self, line: &'l str) -> Option<Vec<(&str, &'l str)>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut open: Option<&Option<String>> = None;
        for part in &self.parts {
            match part {
                Part::Capture(name) => open = Some(name),
                Part::Literal(lit) => {
                    let found = match open {
                        None if pos == 0 => line.starts_with(lit.as_str()).then_some(0),
                        None => line[pos..].starts_with(lit.as_str()).then_some(pos),
                        Some(_) => line[pos..].find(lit.as_str()).map(|i| pos + i),
                    }?;
                    if let Some(Some(name)) = open.take() {
                        out.push((name.as_str(), &line[pos..found]));
                    }
                    pos = found + lit.len();
                }
            }
        }
        if let Some(Some(name)) = open {
            out.push((name.as_str(), &line[pos..]));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_between_literals() {
        let p = Pattern::parse(r#"<ip> - <_> "<method> <path> <_>" <status>"#).unwrap();
        let line = r#"10.0.0.1 - frank "GET /api/v1 HTTP/1.1" 200"#;
        assert_eq!(
            p.matches(line).unwrap(),
            vec![
                ("ip", "10.0.0.1"),
                ("method", "GET"),
                ("path", "/api/v1"),
                ("status", "200")
            ]
        );
        assert_eq!(p.matches("no dashes here"), None);
        assert_eq!(
            p.captures().collect::<Vec<_>>(),
            ["ip", "method", "path", "status"]
        );
    }

    #[test]
    fn leading_literal_is_anchored_and_bad_patterns_refused() {
        let p = Pattern::parse("level=<level> ").unwrap();
        assert_eq!(
            p.matches("level=warn msg").unwrap(),
            vec![("level", "warn")]
        );
        assert_eq!(p.matches("x level=warn msg"), None);
        assert!(Pattern::parse("<a><b>").unwrap_err().contains("in a row"));
        assert!(Pattern::parse("<a> <a>").unwrap_err().contains("twice"));
        assert!(Pattern::parse("").is_err());
        // `<1x>` is not a capture name: literal text.
        assert_eq!(
            Pattern::parse("<1x>").unwrap().matches("<1x>").unwrap(),
            vec![]
        );
    }
}
