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
//! record comes out whichever way an event arrived. A log record that is not
//! an event fails alone (its position in the request is reported).

use crate::parse::{record_of, LineError, Parsed};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use periscope_logs::otlp::{attributes, to_json};
use serde_json::{json, Map, Value};

/// Reads the events of a request; `default_cluster` for those naming none.
pub fn from_otlp_logs(request: &ExportLogsServiceRequest, default_cluster: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut position = 0;
    for resource_logs in &request.resource_logs {
        let resource = resource_logs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope_logs in &resource_logs.scope_logs {
            for log in &scope_logs.log_records {
                position += 1;
                let attrs = attributes(&log.attributes);
                let body = log.body.as_ref().map_or(Value::Null, to_json);
                let cluster = text(&resource, "k8s.cluster.name").unwrap_or(default_cluster);
                let document = match event_object(&body, &attrs) {
                    Some(object) => Ok(object),
                    None => k8s_events(
                        log.time_unix_nano,
                        &log.severity_text,
                        &body,
                        &attrs,
                        &resource,
                    ),
                };
                match document.and_then(|doc| record_of(&doc, cluster)) {
                    Ok(r) => out.records.push(r),
                    Err(reason) => out.errors.push(LineError {
                        line: position,
                        reason,
                    }),
                }
            }
        }
    }
    out
}

/// Whether a log record is a Kubernetes event (a `k8sobjects` Event body or
/// a `k8s_events` record); other records are log lines.
pub fn is_event(log: &opentelemetry_proto::tonic::logs::v1::LogRecord) -> bool {
    let attrs = attributes(&log.attributes);
    let body = log.body.as_ref().map_or(Value::Null, to_json);
    event_object(&body, &attrs).is_some() || text(&attrs, "k8s.event.reason").is_some()
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

/// The core/v1 Event a `k8s_events` record describes.
fn k8s_events(
    time_unix_nano: u64,
    severity_text: &str,
    body: &Value,
    attrs: &Map<String, Value>,
    resource: &Map<String, Value>,
) -> std::result::Result<Value, String> {
    let reason = text(attrs, "k8s.event.reason").ok_or(
        "not a Kubernetes event: neither a k8sobjects Event body nor k8s_events' k8s.event.reason",
    )?;
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
