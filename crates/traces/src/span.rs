//! A span as Periscope keeps it: ids, service and operation, timing, the
//! Kubernetes place it ran in (what tenancy decides on), and its tags, events
//! and links in Jaeger's terms.

use crate::id::{SpanId, TraceId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    /// `service.name` of its resource.
    pub service: String,
    pub operation: String,
    /// OTLP's `SpanKind` number (0 unspecified, 1 internal, 2 server, 3 client,
    /// 4 producer, 5 consumer).
    pub kind: i32,
    /// OTLP's status code (0 unset, 1 ok, 2 error).
    pub status_code: i32,
    /// Start, Unix nanoseconds.
    pub start: i64,
    /// Nanoseconds.
    pub duration: i64,
    /// Where it ran; empty when its resource did not say. A span without a
    /// namespace is for cluster-wide principals only.
    pub place: Place,
    /// The span's own attributes, plus the ones Jaeger derives (`span.kind`,
    /// `otel.status_code`, `error`, ...).
    pub tags: Vec<Tag>,
    /// The resource's attributes (Jaeger's process tags), shared by the
    /// spans of one resource.
    pub resource: Arc<[Tag]>,
    pub events: Vec<Event>,
    pub links: Vec<Link>,
}

/// The Kubernetes place of a span.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    pub container: String,
    /// `Kind:name`, e.g. `Deployment:web`.
    pub workload: String,
}

/// A key and a typed value, serialised as Jaeger's `KeyValue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(flatten)]
    pub value: TagValue,
}

/// Jaeger's value types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    /// Base64 in JSON, as Jaeger writes binary values.
    Binary(String),
}

impl TagValue {
    /// The value as tag search compares it (Jaeger compares text).
    pub fn as_text(&self) -> String {
        match self {
            TagValue::String(s) | TagValue::Binary(s) => s.clone(),
            TagValue::Bool(b) => b.to_string(),
            TagValue::Int64(i) => i.to_string(),
            TagValue::Float64(f) => f.to_string(),
        }
    }
}

impl Tag {
    /// A string tag.
    pub fn string(key: &str, value: impl Into<String>) -> Tag {
        Tag {
            key: key.to_string(),
            value: TagValue::String(value.into()),
        }
    }
}

/// A span event (Jaeger's log): a time and fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unix nanoseconds.
    pub time: i64,
    pub fields: Vec<Tag>,
}

/// A link to another span (Jaeger's `FOLLOWS_FROM` reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
}

/// Jaeger's and OpenTelemetry's lowercase name of an OTLP span kind number
/// (`None` for unspecified).
pub fn kind_name(kind: i32) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

/// The OTLP number of a span kind name.
pub fn kind_number(name: &str) -> Option<i32> {
    (1..=5).find(|k| kind_name(*k) == Some(name))
}
