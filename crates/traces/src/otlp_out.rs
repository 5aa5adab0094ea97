//! Spans back into OTLP's `TracesData` (what Jaeger's api_v3 answers with):
//! one `ResourceSpans` per service and resource, the tags Jaeger derives
//! (`span.kind`, `otel.status_code`, `error`, `otel.scope.name`, ...) turned
//! back into OTLP's own fields.

use crate::service::ScopedTrace;
use crate::span::{Span, Tag, TagValue};
use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Status, TracesData};

/// Tags that stand for OTLP fields rather than attributes.
const DERIVED: &[&str] = &[
    "span.kind",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "error",
];

/// Whether a span tag stands for an OTLP field rather than an attribute.
pub fn is_derived(key: &str) -> bool {
    DERIVED.contains(&key)
}

/// The spans of `traces` as OTLP.
pub fn traces_data(traces: &[ScopedTrace]) -> TracesData {
    let mut resource_spans: Vec<(&str, &[Tag], ResourceSpans)> = Vec::new();
    for s in traces.iter().flat_map(|t| &t.spans) {
        let key = (s.service.as_str(), &s.resource[..]);
        let at = match resource_spans.iter().position(|(n, r, _)| (*n, *r) == key) {
            Some(i) => i,
            None => {
                resource_spans.push((
                    key.0,
                    key.1,
                    ResourceSpans {
                        resource: Some(Resource {
                            attributes: s.resource.iter().map(key_value).collect(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ));
                resource_spans.len() - 1
            }
        };
        let scope_name = s
            .tags
            .iter()
            .find(|t| t.key == "otel.scope.name")
            .map(|t| t.value.as_text())
            .unwrap_or_default();
        let scopes = &mut resource_spans[at].2.scope_spans;
        let scope = match scopes
            .iter()
            .position(|sc| sc.scope.as_ref().is_some_and(|x| x.name == scope_name))
        {
            Some(i) => i,
            None => {
                scopes.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: scope_name,
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                scopes.len() - 1
            }
        };
        scopes[scope].spans.push(otlp_span(s));
    }
    TracesData {
        resource_spans: resource_spans.into_iter().map(|(_, _, r)| r).collect(),
    }
}

fn otlp_span(s: &Span) -> opentelemetry_proto::tonic::trace::v1::Span {
    let message = s
        .tags
        .iter()
        .find(|t| t.key == "otel.status_description")
        .map(|t| t.value.as_text())
        .unwrap_or_default();
    opentelemetry_proto::tonic::trace::v1::Span {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.0.to_vec()).unwrap_or_default(),
        name: s.operation.clone(),
        kind: s.kind,
        start_time_unix_nano: s.start as u64,
        end_time_unix_nano: (s.start + s.duration) as u64,
        attributes: s
            .tags
            .iter()
            .filter(|t| !DERIVED.contains(&t.key.as_str()))
            .map(key_value)
            .collect(),
        events: s
            .events
            .iter()
            .map(|e| span::Event {
                time_unix_nano: e.time as u64,
                name: e
                    .fields
                    .iter()
                    .find(|f| f.key == "event")
                    .map(|f| f.value.as_text())
                    .unwrap_or_default(),
                attributes: e
                    .fields
                    .iter()
                    .filter(|f| f.key != "event")
                    .map(key_value)
                    .collect(),
                ..Default::default()
            })
            .collect(),
        links: s
            .links
            .iter()
            .filter_map(|l| {
                Some(span::Link {
                    trace_id: crate::TraceId::parse(&l.trace_id).ok()?.0.to_vec(),
                    span_id: crate::SpanId::parse(&l.span_id)?.0.to_vec(),
                    ..Default::default()
                })
            })
            .collect(),
        status: (s.status_code != 0 || !message.is_empty()).then_some(Status {
            message,
            code: s.status_code,
        }),
        ..Default::default()
    }
}

fn key_value(t: &Tag) -> KeyValue {
    let value = match &t.value {
        TagValue::String(v) => any_value::Value::StringValue(v.clone()),
        TagValue::Bool(v) => any_value::Value::BoolValue(*v),
        TagValue::Int64(v) => any_value::Value::IntValue(*v),
        TagValue::Float64(v) => any_value::Value::DoubleValue(*v),
        TagValue::Binary(v) => any_value::Value::BytesValue(
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .unwrap_or_default(),
        ),
    };
    KeyValue {
        key: t.key.clone(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{decode_json, spans, PlaceAttributes};

    #[test]
    fn spans_go_back_to_the_otlp_they_came_from() {
        let text = r#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"api"}},
            {"key":"k8s.namespace.name","value":{"stringValue":"team-a"}}]},
          "scopeSpans":[{"scope":{"name":"lib"},"spans":[
            {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","kind":2,
             "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000100000000",
             "attributes":[{"key":"http.status_code","value":{"intValue":"500"}},{"key":"raw","value":{"bytesValue":"AAE="}}],
             "events":[{"timeUnixNano":"1700000000050000000","name":"retry","attributes":[{"key":"n","value":{"intValue":"2"}}]}],
             "status":{"code":2,"message":"boom"}}]}]}]}"#;
        let original = decode_json(text.as_bytes()).unwrap();
        let decoded = spans(original.clone(), &PlaceAttributes::default());
        let trace = ScopedTrace {
            trace_id: decoded.spans[0].trace_id,
            spans: decoded.spans,
            hidden: 0,
        };
        let back = traces_data(&[trace]);
        let (a, b) = (&original.resource_spans[0], &back.resource_spans[0]);
        assert_eq!(a.resource, b.resource);
        assert_eq!(
            a.scope_spans[0].scope.as_ref().unwrap().name,
            b.scope_spans[0].scope.as_ref().unwrap().name
        );
        assert_eq!(a.scope_spans[0].spans, b.scope_spans[0].spans);
    }
}
