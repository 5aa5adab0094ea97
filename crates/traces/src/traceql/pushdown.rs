//! The part of a filter a backend can apply while reading: the top-level
//! conjunction's comparisons on columns it indexes. The rest is evaluated on
//! the spans read ([`super::Filter::matches`]).

use super::ast::{AttributeScope, Comparison, Field, Filter, Op, Value};

/// Conditions every matching span satisfies (a superset of the matches
/// unless `exact`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pushdown {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub kind: Option<i32>,
    /// OTLP status code.
    pub status: Option<i32>,
    /// Inclusive, nanoseconds.
    pub min_duration: Option<i64>,
    pub max_duration: Option<i64>,
    /// Attributes that must be present with this text (span or resource).
    pub tags: Vec<(String, String)>,
    /// Whether these conditions are the whole filter.
    pub exact: bool,
}

impl Pushdown {
    pub fn of(filter: &Filter) -> Self {
        let mut p = Pushdown {
            exact: matches!(filter, Filter::All | Filter::And(..) | Filter::Compare(_)),
            ..Pushdown::default()
        };
        if matches!(filter, Filter::All) {
            return p;
        }
        if !is_conjunction(filter) {
            p.exact = false;
        }
        for c in filter.required() {
            if !p.take(c) {
                p.exact = false;
            }
        }
        p
    }

    /// Records `c`; whether it is now fully represented.
    fn take(&mut self, c: &Comparison) -> bool {
        let set = |slot: &mut Option<String>, value: &str| match slot {
            None => {
                *slot = Some(value.to_string());
                true
            }
            Some(existing) => existing == value,
        };
        match (&c.field, c.op, &c.value) {
            (Field::Attribute { scope, key }, Op::Eq, Value::Str(v))
                if key == "service.name" && *scope != AttributeScope::Span =>
            {
                set(&mut self.service, v) && *scope == AttributeScope::Resource
            }
            (Field::Name, Op::Eq, Value::Str(v)) => set(&mut self.operation, v),
            (Field::Kind, Op::Eq, Value::Kind(k)) => {
                let first = self.kind.is_none_or(|existing| existing == *k);
                self.kind = Some(*k);
                first
            }
            (Field::Status, Op::Eq, Value::Status(s)) => {
                let first = self.status.is_none_or(|existing| existing == *s);
                self.status = Some(*s);
                first
            }
            (Field::Duration, op, value) => {
                let Some(ns) = nanoseconds(value) else {
                    return false;
                };
                let (min, max) = (&mut self.min_duration, &mut self.max_duration);
                match op {
                    Op::Gt => *min = Some(min.map_or(ns + 1, |m| m.max(ns + 1))),
                    Op::Ge => *min = Some(min.map_or(ns, |m| m.max(ns))),
                    Op::Lt => *max = Some(max.map_or(ns - 1, |m| m.min(ns - 1))),
                    Op::Le => *max = Some(max.map_or(ns, |m| m.min(ns))),
                    Op::Eq => {
                        *min = Some(min.map_or(ns, |m| m.max(ns)));
                        *max = Some(max.map_or(ns, |m| m.min(ns)));
                    }
                    _ => return false,
                }
                true
            }
            (Field::Attribute { key, .. }, Op::Eq, value) => {
                let text = match value {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return false,
                };
                self.tags.push((key.clone(), text));
                false
            }
            _ => false,
        }
    }
}

fn is_conjunction(filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) => is_conjunction(a) && is_conjunction(b),
        Filter::Compare(_) => true,
        _ => false,
    }
}

fn nanoseconds(value: &Value) -> Option<i64> {
    match value {
        Value::Duration(ns) | Value::Int(ns) => Some(*ns),
        Value::Float(f) if f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::parse;

    #[test]
    fn conjunctions_of_indexed_fields_are_pushed_exactly() {
        let p = Pushdown::of(
            &parse(r#"{ resource.service.name = "api" && duration > 1s && status = error }"#)
                .unwrap(),
        );
        assert_eq!(p.service.as_deref(), Some("api"));
        assert_eq!(p.min_duration, Some(1_000_000_001));
        assert_eq!(p.status, Some(2));
        assert!(p.exact);
        let p = Pushdown::of(&parse(r#"{ span.http.method = "GET" && name = "x" }"#).unwrap());
        assert_eq!(p.tags, vec![("http.method".to_string(), "GET".to_string())]);
        assert_eq!(p.operation.as_deref(), Some("x"));
        assert!(!p.exact);
        let p = Pushdown::of(&parse(r#"{ name = "a" || name = "b" }"#).unwrap());
        assert_eq!(p, Pushdown::default());
        assert!(Pushdown::of(&parse("{}").unwrap()).exact);
        assert!(!Pushdown::of(&parse(r#"{ name = "a" && name = "b" }"#).unwrap()).exact);
    }
}
