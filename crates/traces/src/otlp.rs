//! OTLP trace requests (protobuf or OTLP/JSON) turned into spans. A request
//! that cannot be decoded is refused whole; a span that cannot be used (bad
//! ids, missing or reversed times) is rejected alone and counted, as OTLP's
//! `partial_success` reports it, while the rest are kept.

use crate::id::{SpanId, TraceId};
use crate::span::{kind_name, Event, Link, Place, Span, Tag, TagValue};
use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use periscope_model::{Error, Result};
use prost::Message;

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};

/// Which resource attributes give a span its Kubernetes place; the first one
/// present wins.
#[derive(Debug, Clone)]
pub struct PlaceAttributes {
    pub namespace: Vec<String>,
    pub pod: Vec<String>,
    pub node: Vec<String>,
    pub container: Vec<String>,
}

impl Default for PlaceAttributes {
    fn default() -> Self {
        let one = |name: &str| vec![name.to_string()];
        Self {
            namespace: one("k8s.namespace.name"),
            pod: one("k8s.pod.name"),
            node: one("k8s.node.name"),
            container: one("k8s.container.name"),
        }
    }
}

/// Workload resource attributes and the kind each names.
const WORKLOADS: &[(&str, &str)] = &[
    ("k8s.deployment.name", "Deployment"),
    ("k8s.statefulset.name", "StatefulSet"),
    ("k8s.daemonset.name", "DaemonSet"),
    ("k8s.cronjob.name", "CronJob"),
    ("k8s.job.name", "Job"),
    ("k8s.replicaset.name", "ReplicaSet"),
];

/// `Kind:name` of the first workload attribute `lookup` finds, or empty.
pub fn workload(lookup: impl Fn(&str) -> Option<String>) -> String {
    WORKLOADS
        .iter()
        .find_map(|(attribute, kind)| lookup(attribute).map(|name| format!("{kind}:{name}")))
        .unwrap_or_default()
}

/// The spans of a request and what was rejected.
#[derive(Debug, Default)]
pub struct Decoded {
    pub spans: Vec<Span>,
    pub rejected: u64,
    /// The first few reasons, for `partial_success.error_message`.
    pub reasons: Vec<String>,
}

impl Decoded {
    /// OTLP's answer: `partial_success` only when something was rejected.
    pub fn response(&self) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: (self.rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: self.rejected as i64,
                error_message: self.reasons.join("; "),
            }),
        }
    }
}

/// Reasons kept per request.
const MAX_REASONS: usize = 5;

/// Decodes an OTLP/protobuf body.
pub fn decode_protobuf(body: &[u8]) -> Result<ExportTraceServiceRequest> {
    ExportTraceServiceRequest::decode(body).map_err(|e| {
        Error::bad_request(format!(
            "the body is not an OTLP ExportTraceServiceRequest: {e}"
        ))
    })
}

/// Decodes an OTLP/JSON body (hex ids, integer enums, lowerCamelCase keys).
pub fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest> {
    serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("the body is not OTLP/JSON traces: {e}")))
}

/// The spans of `request`, placed by `attributes`.
pub fn spans(request: ExportTraceServiceRequest, attributes: &PlaceAttributes) -> Decoded {
    let mut out = Decoded::default();
    let reject = |out: &mut Decoded, reason: String| {
        out.rejected += 1;
        if out.reasons.len() < MAX_REASONS {
            out.reasons.push(reason);
        }
    };
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default();
        let first = |names: &[String]| -> String {
            names
                .iter()
                .find_map(|n| string_attribute(&resource, n))
                .unwrap_or_default()
        };
        let place = Place {
            namespace: first(&attributes.namespace),
            pod: first(&attributes.pod),
            node: first(&attributes.node),
            container: first(&attributes.container),
            workload: workload(|a| string_attribute(&resource, a)),
        };
        let service = string_attribute(&resource, "service.name")
            .unwrap_or_else(|| "unknown_service".to_string());
        let resource_tags: std::sync::Arc<[Tag]> = resource.iter().map(tag).collect();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans.scope.unwrap_or_default();
            for span in scope_spans.spans {
                let name = &span.name;
                let Some(trace_id) = TraceId::from_bytes(&span.trace_id) else {
                    reject(
                        &mut out,
                        format!("span {name:?}: the trace id must be 16 bytes, not all zero"),
                    );
                    continue;
                };
                let Some(span_id) = SpanId::from_bytes(&span.span_id) else {
                    reject(
                        &mut out,
                        format!("span {name:?}: the span id must be 8 bytes, not all zero"),
                    );
                    continue;
                };
                let parent_span_id = match span.parent_span_id.len() {
                    0 => None,
                    _ => {
                        match SpanId::from_bytes(&span.parent_span_id) {
                            Some(p) => Some(p),
                            None => {
                                reject(&mut out, format!("span {name:?}: the parent span id must be empty or 8 bytes"));
                                continue;
                            }
                        }
                    }
                };
                let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
                if start == 0 || end < start || start > i64::MAX as u64 || end > i64::MAX as u64 {
                    reject(
                        &mut out,
                        format!(
                            "span {name:?}: it needs a start time and an end time not before it"
                        ),
                    );
                    continue;
                }
                let status = span.status.unwrap_or_default();
                let mut tags: Vec<Tag> = span.attributes.iter().map(tag).collect();
                if !scope.name.is_empty() {
                    tags.push(Tag::string("otel.scope.name", scope.name.clone()));
                }
                if let Some(kind) = kind_name(span.kind) {
                    tags.push(Tag::string("span.kind", kind));
                }
                match status.code {
                    1 => tags.push(Tag::string("otel.status_code", "OK")),
                    2 => {
                        tags.push(Tag::string("otel.status_code", "ERROR"));
                        tags.push(Tag {
                            key: "error".into(),
                            value: TagValue::Bool(true),
                        });
                    }
                    _ => {}
                }
                if !status.message.is_empty() {
                    tags.push(Tag::string(
                        "otel.status_description",
                        status.message.clone(),
                    ));
                }
                out.spans.push(Span {
                    trace_id,
                    span_id,
                    parent_span_id,
                    service: service.clone(),
                    operation: span.name,
                    kind: span.kind,
                    status_code: status.code,
                    start: start as i64,
                    duration: (end - start) as i64,
                    place: place.clone(),
                    tags,
                    resource: std::sync::Arc::clone(&resource_tags),
                    events: span
                        .events
                        .iter()
                        .map(|e| {
                            let mut fields = vec![Tag::string("event", e.name.clone())];
                            fields.extend(e.attributes.iter().map(tag));
                            Event {
                                time: e.time_unix_nano.min(i64::MAX as u64) as i64,
                                fields,
                            }
                        })
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .filter_map(|l| {
                            Some(Link {
                                trace_id: TraceId::from_bytes(&l.trace_id)?.to_string(),
                                span_id: SpanId::from_bytes(&l.span_id)?.to_string(),
                            })
                        })
                        .collect(),
                });
            }
        }
    }
    out
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    })
}

/// An OTLP attribute as a Jaeger tag (arrays and maps as JSON text).
fn tag(kv: &KeyValue) -> Tag {
    Tag {
        key: kv.key.clone(),
        value: value(kv.value.as_ref()),
    }
}

fn value(v: Option<&AnyValue>) -> TagValue {
    match v.and_then(|v| v.value.as_ref()) {
        None => TagValue::String(String::new()),
        Some(any_value::Value::StringValue(s)) => TagValue::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => TagValue::Bool(*b),
        Some(any_value::Value::IntValue(i)) => TagValue::Int64(*i),
        Some(any_value::Value::DoubleValue(d)) => TagValue::Float64(*d),
        Some(any_value::Value::BytesValue(b)) => {
            TagValue::Binary(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(other) => TagValue::String(json_text(other)),
    }
}

/// Arrays and key-value lists as JSON, as Jaeger's OTLP translator writes them.
fn json_text(v: &any_value::Value) -> String {
    fn to_json(v: Option<&any_value::Value>) -> serde_json::Value {
        use serde_json::Value as J;
        match v {
            None => J::Null,
            Some(any_value::Value::StringValue(s)) => J::from(s.as_str()),
            Some(any_value::Value::BoolValue(b)) => J::from(*b),
            Some(any_value::Value::IntValue(i)) => J::from(*i),
            Some(any_value::Value::DoubleValue(d)) => J::from(*d),
            Some(any_value::Value::BytesValue(b)) => {
                J::from(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Some(any_value::Value::ArrayValue(a)) => {
                J::Array(a.values.iter().map(|x| to_json(x.value.as_ref())).collect())
            }
            Some(any_value::Value::KvlistValue(l)) => J::Object(
                l.values
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            to_json(kv.value.as_ref().and_then(|x| x.value.as_ref())),
                        )
                    })
                    .collect(),
            ),
            Some(any_value::Value::StringValueStrindex(i)) => J::from(*i),
        }
    }
    to_json(Some(v)).to_string()
}

/// `google.rpc.Status`, the body of OTLP/HTTP errors and the details of
/// OTLP/gRPC ones.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`: how long a client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// gRPC code numbers OTLP answers use.
pub const INVALID_ARGUMENT: i32 = 3;
pub const RESOURCE_EXHAUSTED: i32 = 8;

/// The encoded `google.rpc.Status` telling a client to retry after
/// `seconds` (OTLP makes RESOURCE_EXHAUSTED retryable only with it).
pub fn retry_status(code: i32, message: &str, seconds: i64) -> Vec<u8> {
    let info = RetryInfo {
        retry_delay: Some(ProtoDuration { seconds, nanos: 0 }),
    };
    RpcStatus {
        code,
        message: message.to_string(),
        details: vec![ProtoAny {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OTLP/JSON request as the specification's example writes one
    /// (opentelemetry-proto: examples/trace.json), with Kubernetes attributes.
    const REQUEST: &str = r#"{
      "resourceSpans": [{
        "resource": {"attributes": [
          {"key": "service.name", "value": {"stringValue": "checkout"}},
          {"key": "k8s.namespace.name", "value": {"stringValue": "team-a"}},
          {"key": "k8s.pod.name", "value": {"stringValue": "checkout-7d4b9c-x2"}},
          {"key": "k8s.deployment.name", "value": {"stringValue": "checkout"}}
        ]},
        "scopeSpans": [{
          "scope": {"name": "my.library", "version": "1.0.0"},
          "spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
             "parentSpanId": "eee19b7ec3c1b173", "name": "GET /cart", "kind": 2,
             "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": 1544712661000000000,
             "attributes": [{"key": "http.status_code", "value": {"intValue": "500"}},
                            {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}}],
             "events": [{"timeUnixNano": "1544712660300000000", "name": "retry",
                         "attributes": [{"key": "attempt", "value": {"intValue": 2}}]}],
             "status": {"code": 2, "message": "boom"}},
            {"traceId": "00000000000000000000000000000000", "spanId": "eee19b7ec3c1b174", "name": "zero",
             "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "name": "backwards",
             "startTimeUnixNano": "5", "endTimeUnixNano": "2"}
          ]
        }]
      }]
    }"#;

    #[test]
    fn otlp_json_becomes_placed_spans_and_bad_spans_are_counted() {
        let request = decode_json(REQUEST.as_bytes()).unwrap();
        let decoded = spans(request, &PlaceAttributes::default());
        assert_eq!(decoded.spans.len(), 1);
        assert_eq!(decoded.rejected, 2);
        assert!(
            decoded.reasons[0].contains("\"zero\": the trace id"),
            "{:?}",
            decoded.reasons
        );
        assert!(decoded.reasons[1].contains("\"backwards\""));
        let s = &decoded.spans[0];
        assert_eq!(s.trace_id.to_string(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.parent_span_id.unwrap().to_string(), "eee19b7ec3c1b173");
        assert_eq!(
            (s.service.as_str(), s.operation.as_str()),
            ("checkout", "GET /cart")
        );
        assert_eq!(
            (s.start, s.duration),
            (1_544_712_660_000_000_000, 1_000_000_000)
        );
        assert_eq!(s.place.namespace, "team-a");
        assert_eq!(s.place.workload, "Deployment:checkout");
        let tag = |k: &str| s.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
        assert_eq!(tag("http.status_code"), Some(TagValue::Int64(500)));
        assert_eq!(tag("tags"), Some(TagValue::String("[\"a\"]".into())));
        assert_eq!(tag("span.kind"), Some(TagValue::String("server".into())));
        assert_eq!(tag("error"), Some(TagValue::Bool(true)));
        assert_eq!(
            tag("otel.status_description"),
            Some(TagValue::String("boom".into()))
        );
        assert_eq!(s.events[0].fields[0], Tag::string("event", "retry"));
        let response = decoded.response();
        assert_eq!(response.partial_success.unwrap().rejected_spans, 2);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        assert!(decode_json(b"{\"resourceSpans\": 3}").is_err());
        assert!(decode_protobuf(b"\xff\xff\xff").is_err());
        let empty = spans(decode_json(b"{}").unwrap(), &PlaceAttributes::default());
        assert!(empty.spans.is_empty() && empty.response().partial_success.is_none());
    }

    #[test]
    fn the_namespace_attribute_list_is_tried_in_order() {
        let request = decode_json(
            br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.namespace","value":{"stringValue":"shop"}}]},
            "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","endTimeUnixNano":"1"}]}]}]}"#,
        )
        .unwrap();
        let attributes = PlaceAttributes {
            namespace: vec!["k8s.namespace.name".into(), "service.namespace".into()],
            ..PlaceAttributes::default()
        };
        let decoded = spans(request, &attributes);
        assert_eq!(decoded.spans[0].place.namespace, "shop");
        assert_eq!(decoded.spans[0].service, "unknown_service");
    }
}
