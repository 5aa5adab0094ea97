//! Evaluating a filter on a span.

use super::ast::{AttributeScope, Comparison, Field, Filter, Op, Value};
use crate::span::{Span, Tag, TagValue};
use std::cmp::Ordering;

/// What a filter may read of the span's trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContext<'a> {
    /// The root span, when the trace's spans are known.
    pub root: Option<&'a Span>,
}

/// A value read from a span.
enum Read<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Filter {
    /// Whether `span` matches. An attribute that is absent matches nothing
    /// but `= nil` (and `!= nil` matches only present ones), as in Tempo.
    pub fn matches(&self, span: &Span, trace: TraceContext<'_>) -> bool {
        match self {
            Filter::All => true,
            Filter::And(a, b) => a.matches(span, trace) && b.matches(span, trace),
            Filter::Or(a, b) => a.matches(span, trace) || b.matches(span, trace),
            Filter::Not(a) => !a.matches(span, trace),
            Filter::Compare(c) => c.matches(span, trace),
        }
    }
}

impl Comparison {
    fn matches(&self, span: &Span, trace: TraceContext<'_>) -> bool {
        let read = match &self.field {
            Field::Name => Some(Read::Str(&span.operation)),
            Field::Status => return self.compare_int(i64::from(span.status_code), &self.value),
            Field::Kind => return self.compare_int(i64::from(span.kind), &self.value),
            Field::Duration => Some(Read::Int(span.duration)),
            Field::RootServiceName => trace.root.map(|r| Read::Str(&r.service)),
            Field::RootName => trace.root.map(|r| Read::Str(&r.operation)),
            Field::Attribute { scope, key } => attribute(span, *scope, key),
        };
        match (read, &self.value) {
            (None, Value::Nil) => self.op == Op::Eq,
            (Some(_), Value::Nil) => self.op == Op::Ne,
            (None, _) => false,
            (Some(read), value) => self.compare(read, value),
        }
    }

    fn compare_int(&self, actual: i64, value: &Value) -> bool {
        let wanted = match value {
            Value::Status(v) | Value::Kind(v) => i64::from(*v),
            _ => return false,
        };
        match self.op {
            Op::Eq => actual == wanted,
            Op::Ne => actual != wanted,
            _ => false,
        }
    }

    fn compare(&self, read: Read<'_>, value: &Value) -> bool {
        if let Some(regex) = &self.regex {
            let text = match &read {
                Read::Str(s) => s.to_string(),
                Read::Int(i) => i.to_string(),
                Read::Float(f) => f.to_string(),
                Read::Bool(b) => b.to_string(),
            };
            return regex.is_match(&text) == (self.op == Op::Re);
        }
        let ordering = match (&read, value) {
            (Read::Str(a), Value::Str(b)) => Some((*a).cmp(b.as_str())),
            (Read::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Read::Int(a), Value::Duration(b)) => Some(a.cmp(b)),
            // A bare number compared with `duration` is in nanoseconds.
            (Read::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Read::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
            (Read::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Read::Float(a), Value::Float(b)) => a.partial_cmp(b),
            _ => None,
        };
        let Some(ordering) = ordering else {
            // Different types: only `!=` holds.
            return self.op == Op::Ne;
        };
        match self.op {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Re | Op::NotRe => false,
        }
    }
}

fn attribute<'a>(span: &'a Span, scope: AttributeScope, key: &str) -> Option<Read<'a>> {
    let find = |tags: &'a [Tag]| tags.iter().find(|t| t.key == key).map(|t| &t.value);
    let resource = || -> Option<Read<'a>> {
        if let Some(v) = find(&span.resource) {
            return Some(read(v));
        }
        // Attributes Periscope lifts out of the resource.
        let place = &span.place;
        let lifted = match key {
            "service.name" => &span.service,
            "k8s.namespace.name" => &place.namespace,
            "k8s.pod.name" => &place.pod,
            "k8s.node.name" => &place.node,
            "k8s.container.name" => &place.container,
            _ => return None,
        };
        (!lifted.is_empty()).then_some(Read::Str(lifted))
    };
    match scope {
        AttributeScope::Span => find(&span.tags).map(read),
        AttributeScope::Resource => resource(),
        AttributeScope::Any => find(&span.tags).map(read).or_else(resource),
    }
}

fn read(value: &TagValue) -> Read<'_> {
    match value {
        TagValue::String(s) | TagValue::Binary(s) => Read::Str(s),
        TagValue::Bool(b) => Read::Bool(*b),
        TagValue::Int64(i) => Read::Int(*i),
        TagValue::Float64(f) => Read::Float(*f),
    }
}
