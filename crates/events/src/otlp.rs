//! Events from OTLP logs, as the OpenTelemetry Collector's receivers send
//! them (opentelemetry-collector-contrib):
//! - `k8sobjects` watching `events`: the body is `{"type", "object"}` with the
//!   Event as the object (watch mode), or the Event itself (pull mode);
//! - `k8s_events`: the body is the message, the event's fields are attributes
//!   (`k8s.event.reason`, `k8s.event.uid`, `k8s.namespace.name`, ...) and
//!   resource attributes (`k8s.object.kind`, `k8s.object.name`, ...), or in
//!   older versions `k8s.<kind>.name`/`k8s.<kind>.uid` and `k8s.cluster.name`.
//!
//! Both become the core/v1 Event JSON the other ingest paths read, so one
//! record comes out whichever way an event arrived. The positions of the
//! records that are not events are reported, for the log store to read.

use crate::parse::{record_of, LineError};
use crate::record::EventRecord;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use periscope_logs::otlp::{attributes, each_record, to_json};
use serde_json::{json, Map, Value};

/// The events of an OTLP logs request, and where its other records are.
#[derive(Debug, Default)]
pub struct OtlpEvents {
    pub records: Vec<EventRecord>,
    /// Events that could not be used.
    pub errors: Vec<LineError>,
    /// 1-based positions (request order) of the records that are not events.
    pub not_events: Vec<usize>,
}

/// Reads the events of a request; `default_cluster` for those naming none.
pub fn from_otlp_logs(request: &ExportLogsServiceRequest, default_cluster: &str) -> OtlpEvents {
    let mut out = OtlpEvents::default();
    each_record(request, |position, resource, log| {
        let attrs = attributes(&log.attributes);
        let body = log.body.as_ref().map_or(Value::Null, to_json);
        let cluster = text(resource, "k8s.cluster.name").unwrap_or(default_cluster);
        let document = match (
            event_object(&body, &attrs),
            text(&attrs, "k8s.event.reason"),
        ) {
            (Some(object), _) => Ok(object),
            (None, Some(reason)) => k8s_events(
                reason,
                log.time_unix_nano,
                &log.severity_text,
                &body,
                &attrs,
                resource,
            ),
            (None, None) => {
                out.not_events.push(position);
                return;
            }
        };
        match document.and_then(|doc| record_of(&doc, cluster)) {
            Ok(r) => out.records.push(r),
            Err(reason) => out.errors.push(LineError {
                line: position,
                reason,
            }),
        }
    });
    out
}

fn text<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The Event a `k8sobjects` record carries, if it is one.
fn event_object(body: &Value, attrs: &Map<String, Value>) -> Option<Value> {
    let object = match body.get("object") {
        Some(o) if body.get("type").is_some() => o,
        _ => body,
    };
    let is_event = object.get("kind").and_then(Value::as_str) == Some("Event")
        || text(attrs, "k8s.resource.name") == Some("events");
    (is_event
        && object.is_object()
        && (object.get("involvedObject").is_some() || object.get("regarding").is_some()))
    .then(|| object.clone())
}

/// The core/v1 Event a `k8s_events` record (with `k8s.event.reason`) describes.
fn k8s_events(
    reason: &str,
    time_unix_nano: u64,
    severity_text: &str,
    body: &Value,
    attrs: &Map<String, Value>,
    resource: &Map<String, Value>,
) -> std::result::Result<Value, String> {
    let kind = text(resource, "k8s.object.kind").unwrap_or_default();
    // Older receivers: k8s.<kind>.name / k8s.<kind>.uid.
    let older = |field: &str| {
        let key = format!("k8s.{}.{field}", kind.to_ascii_lowercase());
        text(resource, &key)
            .or_else(|| text(attrs, &key))
            .map(str::to_string)
    };
    let object_name = text(resource, "k8s.object.name")
        .map(str::to_string)
        .or_else(|| older("name"));
    let object_uid = text(resource, "k8s.object.uid")
        .map(str::to_string)
        .or_else(|| older("uid"));
    let namespace =
        text(attrs, "k8s.namespace.name").or_else(|| text(resource, "k8s.namespace.name"));
    let time = i64::try_from(time_unix_nano)
        .ok()
        .filter(|t| *t > 0)
        .ok_or("the record has no time")?;
    let time = chrono::DateTime::from_timestamp_nanos(time)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let mut involved = json!({
        "kind": kind,
        "name": object_name.unwrap_or_default(),
        "uid": object_uid.unwrap_or_default(),
        "fieldPath": text(resource, "k8s.object.fieldpath").unwrap_or_default(),
        "apiVersion": text(resource, "k8s.object.api_version").unwrap_or_default(),
        "resourceVersion": text(resource, "k8s.object.resource_version").unwrap_or_default(),
    });
    if let Some(ns) = namespace {
        involved["namespace"] = json!(ns);
    }
    let count = attrs
        .get("k8s.event.count")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    Ok(json!({
        "metadata": {
            "name": text(attrs, "k8s.event.name").unwrap_or_default(),
            "namespace": namespace.unwrap_or_default(),
            "uid": text(attrs, "k8s.event.uid").unwrap_or_default(),
        },
        "involvedObject": involved,
        "reason": reason,
        "action": text(attrs, "k8s.event.action").unwrap_or_default(),
        "message": body.as_str().unwrap_or_default(),
        "type": if severity_text.is_empty() { "Normal" } else { severity_text },
        "count": count,
        "firstTimestamp": time,
        "lastTimestamp": time,
        "source": {"host": text(resource, "k8s.node.name").unwrap_or_default()},
    }))
}
