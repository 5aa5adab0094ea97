//! Log lines from OTLP logs (`ExportLogsServiceRequest`), as the
//! OpenTelemetry SDKs' and the Collector's exporters send them: the resource
//! and record attributes `k8s.namespace.name`, `k8s.pod.name`,
//! `k8s.container.name`, `container.id` and `container.image.name`(+`tag`)
//! become Periscope's pod fields, the body the line, the record's time (else
//! its observed time, else now) its time; the severity, trace and span ids
//! and every other attribute are kept as fields (`trace_id`, `span_id` in
//! hex, so trace-to-logs links find them).

use crate::record::LogRecord;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord as OtlpRecord;
use serde_json::{json, Map, Value};

/// The log lines of a request.
#[derive(Debug, Default)]
pub struct OtlpLines {
    pub records: Vec<LogRecord>,
    /// Each record's position in the request.
    pub positions: Vec<usize>,
    /// Records that were lines but could not be used: position and reason.
    pub errors: Vec<(usize, String)>,
}

/// An OTLP value as JSON (a string-table index only means something in
/// OTLP profiles: null).
pub fn to_json(v: &AnyValue) -> Value {
    match &v.value {
        None | Some(Any::StringValueStrindex(_)) => Value::Null,
        Some(Any::StringValue(s)) => Value::String(s.clone()),
        Some(Any::BoolValue(b)) => Value::Bool(*b),
        Some(Any::IntValue(i)) => json!(i),
        Some(Any::DoubleValue(d)) => json!(d),
        Some(Any::BytesValue(b)) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Some(Any::ArrayValue(a)) => Value::Array(a.values.iter().map(to_json).collect()),
        Some(Any::KvlistValue(kv)) => Value::Object(attributes(&kv.values)),
    }
}

/// OTLP attributes as a JSON object.
pub fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Value::Null, to_json),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every log record of a request, with its 1-based position in request
/// order and its resource's attributes (read once per resource).
pub fn each_record<'a>(
    request: &'a ExportLogsServiceRequest,
    mut f: impl FnMut(usize, &Map<String, Value>, &'a OtlpRecord),
) {
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
                f(position, &resource, log);
            }
        }
    }
}

/// The records at the positions `is_line` accepts, as log lines (`now`:
/// Unix ns, for records with no time).
pub fn from_otlp_logs(
    request: &ExportLogsServiceRequest,
    is_line: impl Fn(usize) -> bool,
    now: i64,
) -> OtlpLines {
    let mut out = OtlpLines::default();
    each_record(request, |position, resource, log| {
        if is_line(position) {
            match line(log, resource, now) {
                Ok(r) => {
                    out.records.push(r);
                    out.positions.push(position);
                }
                Err(reason) => out.errors.push((position, reason)),
            }
        }
    });
    out
}

/// One record as the document the other ingest paths read.
fn line(log: &OtlpRecord, resource: &Map<String, Value>, now: i64) -> Result<LogRecord, String> {
    let mut fields = resource.clone();
    fields.extend(attributes(&log.attributes));
    let mut take = |key: &str| match fields.remove(key) {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let image = match (take("container.image.name"), take("container.image.tag")) {
        (name, tag) if tag.is_empty() => name,
        (name, tag) => format!("{name}:{tag}"),
    };
    let kubernetes = json!({
        "namespace_name": take("k8s.namespace.name"),
        "pod_name": take("k8s.pod.name"),
        "container_name": take("k8s.container.name"),
        "docker_id": take("container.id"),
        "container_image": image,
    });
    let text = match log.body.as_ref().map(to_json) {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let time = [log.time_unix_nano, log.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0)
        .and_then(|t| i64::try_from(t).ok())
        .unwrap_or(now);
    let mut document = Map::new();
    document.insert("time".into(), json!(crate::format_time(time)));
    document.insert("log".into(), Value::String(text));
    document.insert("kubernetes".into(), kubernetes);
    if !log.severity_text.is_empty() {
        document.insert("severity".into(), json!(log.severity_text));
    }
    if log.trace_id.len() == 16 {
        document.insert("trace_id".into(), json!(hex(&log.trace_id)));
    }
    if log.span_id.len() == 8 {
        document.insert("span_id".into(), json!(hex(&log.span_id)));
    }
    for (k, v) in fields {
        document.entry(k).or_insert(v);
    }
    let bytes = serde_json::to_vec(&Value::Object(document)).map_err(|e| e.to_string())?;
    LogRecord::from_json(&bytes, now).map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_attributes_become_pod_fields_and_the_rest_is_kept() {
        let record = OtlpRecord {
            time_unix_nano: 1_796_032_800_000_000_000,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(Any::StringValue("checkout failed".into())),
            }),
            attributes: vec![kv("http.route", "/checkout")],
            trace_id: vec![0x0a; 16],
            span_id: vec![0xb7; 8],
            ..Default::default()
        };
        let skipped = OtlpRecord::default();
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("k8s.namespace.name", "team-a"),
                        kv("k8s.pod.name", "web-1"),
                        kv("k8s.container.name", "web"),
                        kv("container.image.name", "shop/web"),
                        kv("container.image.tag", "1.2"),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![skipped, record],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let lines = from_otlp_logs(&request, |position| position == 2, 0);
        assert_eq!(lines.records.len(), 1);
        assert!(lines.errors.is_empty(), "{:?}", lines.errors);
        let r = &lines.records[0];
        assert_eq!(
            (
                r.namespace.as_str(),
                r.pod.as_str(),
                r.container.as_str(),
                r.image.as_str()
            ),
            ("team-a", "web-1", "web", "shop/web:1.2")
        );
        assert_eq!(
            (r.time, r.log.as_str()),
            (1_796_032_800_000_000_000, "checkout failed")
        );
        let fields: Value = serde_json::from_str(r.fields.as_deref().unwrap()).unwrap();
        assert_eq!(fields["trace_id"], "0a".repeat(16));
        assert_eq!(fields["span_id"], "b7".repeat(8));
        assert_eq!(fields["severity"], "ERROR");
        assert_eq!(fields["http.route"], "/checkout");
    }
}
