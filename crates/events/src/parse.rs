//! Event payloads as real exporters send them, normalised to records. A body
//! is NDJSON, one JSON object, or a JSON list; each document may be
//! - a core/v1 Event (`involvedObject`), bare or with a top-level `cluster`
//!   (kube-events ≤ 0.8) or `clusterName` (kubernetes-event-exporter);
//! - kube-events ≥ 0.9's `{"Event": {...}, "cluster": "..."}`;
//! - an events.k8s.io/v1 Event (`regarding`, `note`, `deprecated*`).
//!
//! One bad document fails alone, with its line (1-based) and the reason.

use crate::record::{EventRecord, ObjectRef};
use periscope_model::{Error, Result};
use serde_json::{Map, Value};

/// A document that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line of an NDJSON body, or item of a JSON list.
    pub line: usize,
    pub reason: String,
}

/// The records of a body and the documents refused.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub records: Vec<EventRecord>,
    pub errors: Vec<LineError>,
}

/// Reads a body; events without a cluster get `default_cluster`. An NDJSON
/// line longer than `max_line_bytes` fails alone (never cut). A body that is
/// not JSON at all is an error of the whole request.
pub fn parse_body(body: &str, default_cluster: &str, max_line_bytes: usize) -> Result<Parsed> {
    let trimmed = body.trim_start();
    // One object (possibly pretty-printed over many lines), or a list.
    if let Ok(single) = serde_json::from_str::<Value>(trimmed) {
        let documents = match single {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i + 1, Ok(v)))
                .collect(),
            other => vec![(1, Ok(other))],
        };
        return Ok(collect(documents, default_cluster));
    }
    if trimmed.starts_with('[') {
        return Err(Error::bad_request("the body is not a valid JSON list"));
    }
    let documents: Vec<(usize, std::result::Result<Value, String>)> = body
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let document = if l.len() > max_line_bytes {
                Err(format!(
                    "the line is {} bytes, more than the limit of {max_line_bytes}",
                    l.len()
                ))
            } else {
                serde_json::from_str(l).map_err(|e| format!("not JSON: {e}"))
            };
            (i + 1, document)
        })
        .collect();
    if documents.is_empty() {
        return Err(Error::bad_request("the body holds no events"));
    }
    Ok(collect(documents, default_cluster))
}

fn collect(
    documents: Vec<(usize, std::result::Result<Value, String>)>,
    default_cluster: &str,
) -> Parsed {
    let mut out = Parsed::default();
    for (line, document) in documents {
        match document.and_then(|v| record_of(&v, default_cluster)) {
            Ok(r) => out.records.push(r),
            Err(reason) => out.errors.push(LineError { line, reason }),
        }
    }
    out
}

/// One document as a record.
pub(crate) fn record_of(
    v: &Value,
    default_cluster: &str,
) -> std::result::Result<EventRecord, String> {
    let outer = v.as_object().ok_or("an event must be a JSON object")?;
    let cluster = text(outer, "cluster")
        .or_else(|| text(outer, "clusterName"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| default_cluster.to_string());
    let event = match outer.get("Event") {
        Some(Value::Object(inner)) => inner,
        Some(_) => return Err("\"Event\" must be an object".into()),
        None => outer,
    };
    let mut raw = event.clone();
    raw.insert("cluster".into(), Value::String(cluster.clone()));
    let raw = Value::Object(raw).to_string();
    let events_v1 = event.contains_key("regarding") || event.contains_key("note");
    let metadata = event.get("metadata").and_then(Value::as_object);
    let meta = |k: &str| metadata.and_then(|m| text(m, k));
    let involved = event
        .get(if events_v1 {
            "regarding"
        } else {
            "involvedObject"
        })
        .and_then(Value::as_object)
        .ok_or(if events_v1 {
            "an events.k8s.io/v1 event needs \"regarding\""
        } else {
            "not a Kubernetes event: no \"involvedObject\" (nor \"regarding\")"
        })?;
    let involved = ObjectRef {
        kind: text(involved, "kind").unwrap_or_default(),
        namespace: text(involved, "namespace").unwrap_or_default(),
        name: text(involved, "name").unwrap_or_default(),
        uid: text(involved, "uid").unwrap_or_default(),
        api_version: text(involved, "apiVersion").unwrap_or_default(),
        field_path: text(involved, "fieldPath").unwrap_or_default(),
    };
    let namespace = meta("namespace")
        .or_else(|| (!involved.namespace.is_empty()).then(|| involved.namespace.clone()))
        .unwrap_or_default();
    let name = meta("name").unwrap_or_default();
    let uid = meta("uid")
        .filter(|u| !u.is_empty())
        .or_else(|| (!name.is_empty()).then(|| format!("{namespace}/{name}")))
        .ok_or("the event has neither metadata.uid nor metadata.name")?;
    let series = event.get("series").and_then(Value::as_object);
    let (first_key, last_key, count_key, source_key) = if events_v1 {
        (
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
            "deprecatedSource",
        )
    } else {
        ("firstTimestamp", "lastTimestamp", "count", "source")
    };
    let event_time = time(event, "eventTime")?;
    let last_seen = match series
        .map(|s| time(s, "lastObservedTime"))
        .transpose()?
        .flatten()
    {
        Some(t) => Some(t),
        None => time(event, last_key)?.or(event_time),
    };
    let first_seen = time(event, first_key)?.or(event_time).or(last_seen);
    let (Some(first_seen), Some(last_seen)) = (first_seen, last_seen) else {
        return Err(
            "the event has no time (series.lastObservedTime, lastTimestamp or eventTime)".into(),
        );
    };
    let count = series
        .and_then(|s| s.get("count"))
        .or_else(|| event.get(count_key))
        .and_then(number)
        .unwrap_or(1)
        .max(1);
    let source = event.get(source_key).and_then(Value::as_object);
    let component = text(event, "reportingController")
        .or_else(|| text(event, "reportingComponent"))
        .filter(|c| !c.is_empty())
        .or_else(|| source.and_then(|s| text(s, "component")))
        .unwrap_or_default();
    let host = source
        .and_then(|s| text(s, "host"))
        .filter(|h| !h.is_empty())
        .or_else(|| text(event, "reportingInstance"))
        .unwrap_or_default();
    Ok(EventRecord {
        cluster,
        uid,
        namespace,
        name,
        involved,
        reason: text(event, "reason").unwrap_or_default(),
        message: text(event, if events_v1 { "note" } else { "message" }).unwrap_or_default(),
        event_type: text(event, "type").unwrap_or_default(),
        component,
        host,
        action: text(event, "action").unwrap_or_default(),
        count,
        first_seen: first_seen.min(last_seen),
        last_seen,
        raw,
    })
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A count as a number or, from templated exporters, a string.
fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An RFC 3339 time (null or absent: none), Unix ns.
fn time(m: &Map<String, Value>, key: &str) -> std::result::Result<Option<i64>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Some)
            .ok_or_else(|| format!("{key}: {s:?} is not an RFC 3339 time")),
        Some(other) => Err(format!("{key}: {other} is not a time")),
    }
}
