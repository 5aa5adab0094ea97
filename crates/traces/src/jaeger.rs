//! Answers in the shapes of Jaeger's query API (its UI model, which Grafana's
//! Jaeger datasource and the Jaeger UI read): times and durations in
//! microseconds, processes numbered per trace, warnings for hidden spans.

use crate::service::{Edge, Operation, ScopedTrace};
use crate::span::{kind_name, Span, Tag};
use serde_json::{json, Value};

/// Jaeger's envelope around `data`.
pub fn envelope(data: Value, total: usize) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null})
}

/// Jaeger's error envelope: `{"data": null, "errors": [{"code", "msg"}]}`.
pub fn error(code: u16, message: &str) -> Value {
    json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": code, "msg": message}]})
}

/// The warning a pruned trace carries.
pub fn hidden_warning(hidden: usize) -> String {
    let spans = if hidden == 1 { "span is" } else { "spans are" };
    format!("{hidden} {spans} hidden: outside your scope")
}

/// A trace in Jaeger's UI model.
pub fn trace(t: &ScopedTrace) -> Value {
    let mut processes: Vec<(&str, &[Tag])> = Vec::new();
    let spans: Vec<Value> = t
        .spans
        .iter()
        .map(|s| {
            let key = (s.service.as_str(), &s.resource[..]);
            let n = match processes.iter().position(|p| *p == key) {
                Some(i) => i + 1,
                None => {
                    processes.push(key);
                    processes.len()
                }
            };
            span(s, &format!("p{n}"))
        })
        .collect();
    let processes: serde_json::Map<String, Value> = processes
        .iter()
        .enumerate()
        .map(|(i, (service, tags))| {
            (
                format!("p{}", i + 1),
                json!({"serviceName": service, "tags": tags}),
            )
        })
        .collect();
    let warnings = (t.hidden > 0).then(|| vec![hidden_warning(t.hidden)]);
    json!({
        "traceID": t.trace_id.to_string(),
        "spans": spans,
        "processes": processes,
        "warnings": warnings,
    })
}

fn span(s: &Span, process: &str) -> Value {
    let mut references: Vec<Value> = Vec::new();
    if let Some(parent) = s.parent_span_id {
        references.push(json!({
            "refType": "CHILD_OF",
            "traceID": s.trace_id.to_string(),
            "spanID": parent.to_string(),
        }));
    }
    references.extend(
        s.links.iter().map(
            |l| json!({"refType": "FOLLOWS_FROM", "traceID": l.trace_id, "spanID": l.span_id}),
        ),
    );
    let logs: Vec<Value> = s
        .events
        .iter()
        .map(|e| json!({"timestamp": e.time / 1000, "fields": e.fields}))
        .collect();
    json!({
        "traceID": s.trace_id.to_string(),
        "spanID": s.span_id.to_string(),
        "flags": 1,
        "operationName": s.operation,
        "references": references,
        "startTime": s.start / 1000,
        "duration": s.duration / 1000,
        "tags": s.tags,
        "logs": logs,
        "processID": process,
        "warnings": null,
    })
}

/// `/api/operations` items: `{name, spanKind}`.
pub fn operations(ops: &[Operation]) -> Value {
    Value::Array(
        ops.iter()
            .map(|o| json!({"name": o.name, "spanKind": kind_name(o.kind).unwrap_or("")}))
            .collect(),
    )
}

/// `/api/dependencies` items: `{parent, child, callCount}`.
pub fn dependencies(edges: &[Edge]) -> Value {
    Value::Array(
        edges
            .iter()
            .map(|e| json!({"parent": e.parent, "child": e.child, "callCount": e.calls}))
            .collect(),
    )
}
