//! Alertmanager label matchers: `name="value"`, `name!="value"`,
//! `name=~"regex"`, `name!~"regex"` (regexes anchored, values quoted or bare).

use crate::state::Labels;
use regex::Regex;

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    op: Op,
    value: String,
    regex: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl Matcher {
    /// Parses `name op value`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| format!("{text:?} is not a matcher (name op \"value\")"))?;
        let (name, rest) = text.split_at(name_end);
        let rest = rest.trim_start();
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (Op::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (Op::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (Op::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (Op::Equal, v)
        } else {
            return Err(format!("{text:?}: expected =, !=, =~ or !~ after {name:?}"));
        };
        if name.is_empty() {
            return Err(format!("{text:?}: missing label name"));
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_string(),
        };
        let regex = match op {
            Op::Regex | Op::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{text:?}: bad regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_string(),
            op,
            value,
            regex,
        })
    }

    /// Whether `labels` match (a missing label is the empty string).
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            Op::Equal => v == self.value,
            Op::NotEqual => v != self.value,
            Op::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            Op::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = match self.op {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Regex => "=~",
            Op::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_parse_and_match_like_alertmanager() {
        let l = Labels::from([("severity".to_string(), "page".to_string())]);
        assert!(Matcher::parse("severity=\"page\"").unwrap().matches(&l));
        assert!(Matcher::parse("severity = page").unwrap().matches(&l));
        assert!(Matcher::parse("severity=~\"pa.*\"").unwrap().matches(&l));
        assert!(
            !Matcher::parse("severity=~\"pa\"").unwrap().matches(&l),
            "anchored"
        );
        assert!(Matcher::parse("team!=\"a\"").unwrap().matches(&l));
        assert!(
            Matcher::parse("team=\"\"").unwrap().matches(&l),
            "missing is empty"
        );
        assert!(Matcher::parse("severity!~\"ticket|info\"")
            .unwrap()
            .matches(&l));
        assert!(Matcher::parse("=x").is_err());
        assert!(Matcher::parse("a=~\"(\"").is_err());
        assert_eq!(Matcher::parse("a=b").unwrap().to_string(), "a=\"b\"");
    }
}
