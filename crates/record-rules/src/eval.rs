//! Evaluation against a record's JSON, with the engine's semantics (see the
//! crate documentation).

use crate::ast::{Affix, Comparison, Condition, Literal, Path, Segment};
use crate::vocabulary::Dialect;
use serde_json::Value;
use std::cmp::Ordering;

/// The values `path` reaches in `record` (several through `[*]` or slices).
pub(crate) fn values<'a>(path: &Path, record: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![record];
    for segment in &path.0 {
        current = current
            .into_iter()
            .flat_map(|v| -> Vec<&'a Value> {
                match (segment, v) {
                    (Segment::Key(k), Value::Object(m)) => m.get(k).into_iter().collect(),
                    (Segment::Any, Value::Array(a)) => a.iter().collect(),
                    (Segment::Index(i), Value::Array(a)) => a.get(*i).into_iter().collect(),
                    (Segment::Slice(from, to), Value::Array(a)) => a
                        .get(*from.min(&a.len())..*to.min(&a.len()))
                        .unwrap_or_default()
                        .iter()
                        .collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    current
}

/// A value as the engine prints it (`fmt.Sprint`).
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

fn number(path: &Path, v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| "a number out of range".into()),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{} is {s:?}, not a number", show(path))),
        other => Err(format!("{} is {other}, not a number", show(path))),
    }
}

fn show(path: &Path) -> String {
    let mut out = String::new();
    for s in &path.0 {
        match s {
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k)
            }
            Segment::Any => out.push_str("[*]"),
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Slice(a, b) => out.push_str(&format!("[{a}:{b}]")),
        }
    }
    out
}

fn equal(path: &Path, v: &Value, literal: &Literal) -> Result<bool, String> {
    Ok(match literal {
        Literal::Number(n) => number(path, v)? == *n,
        Literal::Bool(b) => v
            .as_bool()
            .map_or_else(|| text(v).eq_ignore_ascii_case(&b.to_string()), |x| x == *b),
        Literal::Text(t) => text(v) == *t,
    })
}

fn compare(path: &Path, v: &Value, op: Comparison, literal: &Literal) -> Result<bool, String> {
    let ordering = match literal {
        Literal::Number(n) => number(path, v)?.partial_cmp(n),
        Literal::Text(t) => Some(text(v).as_str().cmp(t.as_str())),
        Literal::Bool(_) => {
            let eq = equal(path, v, literal)?;
            return Ok(if op == Comparison::Eq { eq } else { !eq });
        }
    };
    let Some(ordering) = ordering else {
        return Ok(false);
    };
    Ok(match op {
        Comparison::Eq => ordering == Ordering::Equal,
        Comparison::Ne => ordering != Ordering::Equal,
        Comparison::Lt => ordering == Ordering::Less,
        Comparison::Le => ordering != Ordering::Greater,
        Comparison::Gt => ordering == Ordering::Greater,
        Comparison::Ge => ordering != Ordering::Less,
    })
}

/// Whether any reached value satisfies `test`; false when none is reached.
fn any(
    found: &[&Value],
    mut test: impl FnMut(&Value) -> Result<bool, String>,
) -> Result<bool, String> {
    for v in found {
        if test(v)? {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Condition {
    /// Whether `record` matches, in kube-events' dialect. An error is a
    /// value the condition cannot compare (a number literal against text
    /// that is not a number).
    pub fn matches(&self, record: &Value) -> Result<bool, String> {
        self.matches_in(record, Dialect::KubeEvents)
    }

    /// Whether `record` matches, read in `dialect` (the strict one never
    /// fails: what cannot be compared does not match).
    pub fn matches_in(&self, record: &Value, dialect: Dialect) -> Result<bool, String> {
        let strict = dialect == Dialect::Strict;
        Ok(match self {
            // kube-events evaluates both sides (an error on either is
            // reported); strict stops at the first that decides.
            Condition::And(a, b) if strict => {
                a.matches_in(record, dialect)? && b.matches_in(record, dialect)?
            }
            Condition::Or(a, b) if strict => {
                a.matches_in(record, dialect)? || b.matches_in(record, dialect)?
            }
            Condition::And(a, b) => {
                let (a, b) = (
                    a.matches_in(record, dialect)?,
                    b.matches_in(record, dialect)?,
                );
                a && b
            }
            Condition::Or(a, b) => {
                let (a, b) = (
                    a.matches_in(record, dialect)?,
                    b.matches_in(record, dialect)?,
                );
                a || b
            }
            Condition::Not(inner) => !inner.matches_in(record, dialect)?,
            Condition::Compare(path, op, literal) => {
                let found = values(path, record);
                let result = any(&found, |v| compare(path, v, *op, literal));
                match result {
                    Err(_) if strict => false,
                    other => other?,
                }
            }
            Condition::Affix(path, negated, affix, text) => {
                let found = values(path, record);
                if found.is_empty() {
                    return Ok(false);
                }
                found.iter().any(|v| {
                    let v = self::text(v);
                    match affix {
                        Affix::Prefix => v.starts_with(text.as_str()),
                        Affix::Suffix => v.ends_with(text.as_str()),
                    }
                }) != *negated
            }
            Condition::In(path, negated, list) => {
                let found = values(path, record);
                if found.is_empty() {
                    return Ok(false);
                }
                let mut inside = false;
                for v in &found {
                    for l in list {
                        match equal(path, v, l) {
                            Ok(eq) => inside |= eq,
                            Err(_) if strict => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                inside != *negated
            }
            Condition::Contains(path, negated, literal) => {
                let found = values(path, record);
                if found.is_empty() {
                    return Ok(false);
                }
                let needle = match literal {
                    Literal::Text(t) => t.clone(),
                    Literal::Number(n) => n.to_string(),
                    Literal::Bool(b) => b.to_string(),
                };
                let contains = found.iter().any(|v| match v {
                    Value::Array(items) => items.iter().any(|i| text(i) == needle),
                    other => text(other).contains(&needle),
                });
                contains != *negated
            }
            Condition::Matches(path, negated, re) => {
                let found = values(path, record);
                if found.is_empty() {
                    return Ok(false);
                }
                found.iter().any(|v| re.is_match(&text(v))) != *negated
            }
            Condition::Exists(path, negated) => values(path, record).is_empty() == *negated,
            Condition::Truthy(path) => values(path, record).iter().any(|v| {
                v.as_bool()
                    .unwrap_or_else(|| text(v).eq_ignore_ascii_case("true"))
            }),
        })
    }
}
