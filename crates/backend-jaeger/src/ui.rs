//! Jaeger's UI model (what its v1 internal API answers) back into spans:
//! `{traceID, spans: [{spanID, operationName, references, startTime (µs),
//! duration (µs), tags, logs, processID}], processes: {p1: {serviceName, tags}}}`.

use periscope_traces::otlp::{workload, PlaceAttributes};
use periscope_traces::span::kind_number;
use periscope_traces::{Event, Place, Span, SpanId, Tag, TagValue, TraceId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

fn tags(v: Option<&Value>) -> Vec<Tag> {
    v.and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default()
}

fn text<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find_map(|t| match &t.value {
        TagValue::String(s) if t.key == key && !s.is_empty() => Some(s.as_str()),
        _ => None,
    })
}

fn place(process: &[Tag], places: &PlaceAttributes) -> Place {
    let first = |names: &[String]| {
        names
            .iter()
            .find_map(|n| text(process, n))
            .unwrap_or_default()
            .to_string()
    };
    Place {
        namespace: first(&places.namespace),
        pod: first(&places.pod),
        node: first(&places.node),
        container: first(&places.container),
        workload: workload(|key| text(process, key).map(str::to_string)),
    }
}

/// The spans of one UI-model trace (unreadable spans are skipped).
pub(crate) fn spans(trace: &Value, places: &PlaceAttributes) -> Vec<Span> {
    let processes: HashMap<&str, (String, Arc<[Tag]>, Place)> = trace
        .get("processes")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .map(|(id, process)| {
                    let service = process
                        .get("serviceName")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown_service")
                        .to_string();
                    let tags: Arc<[Tag]> = tags(process.get("tags")).into();
                    let place = place(&tags, places);
                    (id.as_str(), (service, tags, place))
                })
                .collect()
        })
        .unwrap_or_default();
    let micros = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0).saturating_mul(1000);
    let Some(list) = trace.get("spans").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|s| {
            let trace_id = TraceId::parse(s.get("traceID")?.as_str()?).ok()?;
            let span_id = SpanId::parse(s.get("spanID")?.as_str()?)?;
            let (service, resource, place) = processes.get(s.get("processID")?.as_str()?)?;
            let references = s.get("references").and_then(Value::as_array);
            let parent = references.and_then(|refs| {
                refs.iter().find_map(|r| {
                    (r.get("refType")?.as_str()? == "CHILD_OF")
                        .then(|| SpanId::parse(r.get("spanID")?.as_str()?))?
                })
            });
            let tags = tags(s.get("tags"));
            let kind = text(&tags, "span.kind").and_then(kind_number).unwrap_or(0);
            let failed = tags
                .iter()
                .any(|t| t.key == "error" && t.value.as_text() == "true")
                || text(&tags, "otel.status_code") == Some("ERROR");
            let ok = text(&tags, "otel.status_code") == Some("OK");
            let events = s
                .get("logs")
                .and_then(Value::as_array)
                .map(|logs| {
                    logs.iter()
                        .map(|l| Event {
                            time: micros(l.get("timestamp")),
                            fields: self::tags(l.get("fields")),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Span {
                trace_id,
                span_id,
                parent_span_id: parent,
                service: service.clone(),
                operation: s.get("operationName")?.as_str()?.to_string(),
                kind,
                status_code: if failed {
                    2
                } else if ok {
                    1
                } else {
                    0
                },
                start: micros(s.get("startTime")),
                duration: micros(s.get("duration")),
                place: place.clone(),
                tags,
                resource: Arc::clone(resource),
                events,
                links: vec![],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace as Jaeger's v1 `/api/traces/{id}` answers it (its UI model,
    /// jaeger: internal/uimodel/model.go).
    #[test]
    fn ui_traces_become_placed_spans() {
        let trace = serde_json::json!({
            "traceID": "5b8efff798038103d269b633813fc60c",
            "spans": [
                {"traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b174",
                 "operationName": "GET /", "references": [], "startTime": 1700000000000000u64,
                 "duration": 1500, "tags": [{"key": "span.kind", "type": "string", "value": "server"},
                                             {"key": "error", "type": "bool", "value": true}],
                 "logs": [{"timestamp": 1700000000000100u64, "fields": [{"key": "event", "type": "string", "value": "retry"}]}],
                 "processID": "p1", "warnings": null},
                {"traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b175",
                 "operationName": "SELECT", "references": [{"refType": "CHILD_OF", "traceID": "5b8efff798038103d269b633813fc60c", "spanID": "eee19b7ec3c1b174"}],
                 "startTime": 1700000000000200u64, "duration": 300, "tags": [], "logs": [], "processID": "p2"}
            ],
            "processes": {
                "p1": {"serviceName": "api", "tags": [{"key": "k8s.namespace.name", "type": "string", "value": "team-a"},
                                                      {"key": "k8s.deployment.name", "type": "string", "value": "api"}]},
                "p2": {"serviceName": "db", "tags": [{"key": "k8s.namespace.name", "type": "string", "value": "team-b"}]}
            },
            "warnings": null
        });
        let spans = spans(&trace, &PlaceAttributes::default());
        assert_eq!(spans.len(), 2);
        let (api, db) = (&spans[0], &spans[1]);
        assert_eq!(
            (api.service.as_str(), api.place.namespace.as_str()),
            ("api", "team-a")
        );
        assert_eq!(api.place.workload, "Deployment:api");
        assert_eq!((api.kind, api.status_code), (2, 2));
        assert_eq!(
            (api.start, api.duration),
            (1_700_000_000_000_000_000, 1_500_000)
        );
        assert_eq!(api.events[0].time, 1_700_000_000_000_100_000);
        assert_eq!(db.parent_span_id, Some(api.span_id));
        assert_eq!(db.place.namespace, "team-b");
    }
}
