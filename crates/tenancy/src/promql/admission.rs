//! Checks made on the raw query text before it reaches the parser, which has no
//! recursion limit: a query that is too long or nested too deeply could
//! otherwise overflow the stack. The parser recurses once per nesting level and
//! once per operator of a flat chain (`a+a+a+...`): about 2,000 operators
//! overflow a 2 MiB thread stack in a debug build, so both are bounded.

use periscope_model::{Error, Result};

/// Size bounds applied before parsing.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_operators: usize,
}

impl Admission {
    /// Rejects `query` if it is longer than `max_bytes` or nests brackets deeper
    /// than `max_depth` (brackets inside string literals do not count).
    pub fn check(&self, query: &str) -> Result<()> {
        if query.len() > self.max_bytes {
            return Err(Error::bad_request(format!(
                "query is {} bytes, more than the {} allowed",
                query.len(),
                self.max_bytes
            )));
        }
        let Shape { depth, operators } = shape(query);
        if depth > self.max_depth {
            return Err(Error::bad_request(format!(
                "query nests {depth} levels deep, more than the {} allowed",
                self.max_depth
            )));
        }
        if operators > self.max_operators {
            return Err(Error::bad_request(format!(
                "query has {operators} operators, more than the {} allowed",
                self.max_operators
            )));
        }
        Ok(())
    }
}

/// What the parser's recursion depends on.
struct Shape {
    depth: usize,
    operators: usize,
}

/// Deepest nesting of `(`, `[` and `{`, and the number of operator characters and
/// keywords (`and`, `or`, `unless`, `atan2`), outside string literals.
fn shape(query: &str) -> Shape {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut operators = 0usize;
    let mut word = String::new();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    for &b in query.as_bytes() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q != b'`' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        if b.is_ascii_alphanumeric() || b == b'_' {
            word.push(b as char);
            continue;
        }
        if matches!(word.as_str(), "and" | "or" | "unless" | "atan2") {
            operators += 1;
        }
        word.clear();
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' => operators += 1,
            _ => {}
        }
    }
    if matches!(word.as_str(), "and" | "or" | "unless" | "atan2") {
        operators += 1;
    }
    Shape {
        depth: max,
        operators,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(shape(r#"sum(rate(x{a="((((\"(("}[5m]))"#).depth, 3);
        assert_eq!(shape("`((((`").depth, 0);
        assert_eq!(shape("((((1))))").depth, 4);
    }

    #[test]
    fn operators_are_counted_outside_strings() {
        assert_eq!(shape(r#"a + b{c!="+-*"} / 2"#).operators, 4);
        assert_eq!(shape("a and b or c unless d").operators, 3);
        assert_eq!(shape("android or order").operators, 1);
    }

    #[test]
    fn limits_are_enforced() {
        let a = Admission {
            max_bytes: 10,
            max_depth: 2,
            max_operators: 1,
        };
        assert!(a.check("up").is_ok());
        assert!(a.check("((up))").is_ok());
        assert!(a.check("(((up)))").is_err());
        assert!(a.check("up + up + up").is_err());
        assert!(a.check("a+b").is_ok());
        assert!(a.check("a+b+c").is_err());
    }
}
