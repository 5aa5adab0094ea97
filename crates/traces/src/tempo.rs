//! Tempo's HTTP API shapes, for Grafana's Tempo datasource: trace by id
//! (`TraceByIDResponse` in protobuf and JSON, v1 `Trace`), search results
//! (`TraceSearchMetadata`, with Tempo's id forms and string-typed 64-bit
//! numbers), and tag names and values.

use crate::id::TraceId;
use crate::otlp_out::traces_data;
use crate::service::{FoundTrace, ScopedTrace};
use crate::span::{kind_name, Span, Tag, TagValue};
use crate::traceql::{AttributeScope, Comparison, Field, Filter, Op, Value as Literal};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use periscope_model::{Error, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What Tempo calls the root service of a trace whose root span is missing.
pub const NO_ROOT: &str = "<root span not yet received>";

/// `tempopb.TraceByIDResponse` (field 2, metrics, is left out).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TraceByIdResponse {
    /// `tempopb.Trace`: the same wire shape as OTLP's `TracesData`.
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TracesData>,
    /// 0 COMPLETE, 1 PARTIAL.
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// The message for spans the caller may not see.
fn partial_message(hidden: usize) -> String {
    format!("{hidden} span(s) of this trace are outside your scope and left out")
}

/// The protobuf answer of `/api/v2/traces/{id}`; PARTIAL when spans are hidden.
pub fn trace_by_id(trace: &ScopedTrace) -> TraceByIdResponse {
    TraceByIdResponse {
        trace: Some(traces_data(std::slice::from_ref(trace))),
        status: i32::from(trace.hidden > 0),
        message: if trace.hidden > 0 {
            partial_message(trace.hidden)
        } else {
            String::new()
        },
    }
}

/// The JSON answer of `/api/v2/traces/{id}`.
pub fn trace_by_id_json(trace: &ScopedTrace) -> Value {
    let data =
        serde_json::to_value(traces_data(std::slice::from_ref(trace))).expect("OTLP serialises");
    let mut out = json!({ "trace": data });
    if trace.hidden > 0 {
        out["status"] = json!("PARTIAL");
        out["message"] = json!(partial_message(trace.hidden));
    }
    out
}

/// The JSON answer of v1 `/api/traces/{id}`: `resourceSpans` as `batches`.
pub fn trace_v1_json(trace: &ScopedTrace) -> Value {
    let data =
        serde_json::to_value(traces_data(std::slice::from_ref(trace))).expect("OTLP serialises");
    json!({ "batches": data.get("resourceSpans").cloned().unwrap_or(json!([])) })
}

/// A trace id as Tempo's search writes it: hex without leading zeros.
pub fn trace_id_text(id: &TraceId) -> String {
    let hex = id.to_hex32();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.to_string()
    }
}

/// `/api/search`'s answer: each trace's metadata and up to `spss` of its
/// matching spans, newest trace first.
pub fn search_response(found: &[FoundTrace], spss: usize) -> Value {
    let traces: Vec<Value> = found.iter().map(|f| metadata(f, spss)).collect();
    json!({
        "traces": traces,
        "metrics": { "inspectedTraces": found.len(), "inspectedBytes": "0", "completedJobs": 1, "totalJobs": 1 },
    })
}

fn metadata(found: &FoundTrace, spss: usize) -> Value {
    let spans = &found.trace.spans;
    let root = spans.iter().find(|s| s.parent_span_id.is_none());
    let start = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|s| s.start + s.duration)
        .max()
        .unwrap_or(start);
    let mut stats: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in spans {
        let entry = stats.entry(&s.service).or_default();
        entry.0 += 1;
        entry.1 += usize::from(s.status_code == 2);
    }
    let service_stats: serde_json::Map<String, Value> = stats
        .into_iter()
        .map(|(service, (spans, errors))| {
            let mut v = json!({ "spanCount": spans });
            if errors > 0 {
                v["errorCount"] = json!(errors);
            }
            (service.to_string(), v)
        })
        .collect();
    let span_set = json!({
        "spans": found.matched.iter().take(spss).map(search_span).collect::<Vec<_>>(),
        "matched": found.matched.len(),
    });
    json!({
        "traceID": trace_id_text(&found.trace.trace_id),
        "rootServiceName": root.map_or(NO_ROOT, |r| r.service.as_str()),
        "rootTraceName": root.map_or("", |r| r.operation.as_str()),
        "startTimeUnixNano": start.to_string(),
        "durationMs": (end - start) / 1_000_000,
        "spanSet": span_set.clone(),
        "spanSets": [span_set],
        "serviceStats": service_stats,
    })
}

fn search_span(s: &Span) -> Value {
    json!({
        "spanID": s.span_id.to_string(),
        "name": s.operation,
        "startTimeUnixNano": s.start.to_string(),
        "durationNanos": s.duration.to_string(),
        "attributes": [attribute(&Tag::string("service.name", s.service.clone()))],
    })
}

/// An OTLP/JSON `KeyValue` (64-bit integers as strings).
fn attribute(t: &Tag) -> Value {
    let value = match &t.value {
        TagValue::String(s) | TagValue::Binary(s) => json!({ "stringValue": s }),
        TagValue::Bool(b) => json!({ "boolValue": b }),
        TagValue::Int64(i) => json!({ "intValue": i.to_string() }),
        TagValue::Float64(f) => json!({ "doubleValue": f }),
    };
    json!({ "key": t.key, "value": value })
}

/// The filter of Tempo's older search parameters: `tags` (logfmt
/// `key=value`, values compared exactly here), `minDuration`, `maxDuration`
/// (nanoseconds).
pub fn legacy_filter(
    tags: Option<&str>,
    min_duration: Option<i64>,
    max_duration: Option<i64>,
) -> Result<Filter> {
    let mut parts = Vec::new();
    for (key, value) in logfmt(tags.unwrap_or_default())? {
        let field = match key.as_str() {
            "name" => Field::Name,
            "status" | "kind" => {
                return Err(Error::bad_request(format!(
                    "invalid parameter \"tags\": {key} is searched with q (TraceQL), e.g. {{ {key} = error }}"
                )))
            }
            _ => Field::Attribute {
                scope: AttributeScope::Any,
                key,
            },
        };
        parts.push(compare(field, Op::Eq, Literal::Str(value)));
    }
    if let Some(d) = min_duration {
        parts.push(compare(Field::Duration, Op::Ge, Literal::Duration(d)));
    }
    if let Some(d) = max_duration {
        parts.push(compare(Field::Duration, Op::Le, Literal::Duration(d)));
    }
    Ok(parts
        .into_iter()
        .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
        .unwrap_or(Filter::All))
}

/// ANDs duration bounds into a filter.
pub fn with_durations(filter: Filter, min: Option<i64>, max: Option<i64>) -> Filter {
    let mut out = filter;
    for (op, bound) in [(Op::Ge, min), (Op::Le, max)] {
        if let Some(d) = bound {
            out = Filter::And(
                Box::new(out),
                Box::new(compare(Field::Duration, op, Literal::Duration(d))),
            );
        }
    }
    out
}

fn compare(field: Field, op: Op, value: Literal) -> Filter {
    Filter::Compare(Comparison {
        field,
        op,
        value,
        regex: None,
    })
}

/// `a=b c="d e"` pairs.
fn logfmt(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            return Err(Error::bad_request(format!(
                "invalid parameter \"tags\": {rest:?} is not key=value"
            )));
        };
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| {
                Error::bad_request("invalid parameter \"tags\": unterminated quoted value")
            })?;
            let v = quoted[..end].to_string();
            rest = &quoted[end + 1..];
            v
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        if key.is_empty() {
            return Err(Error::bad_request(
                "invalid parameter \"tags\": a tag needs a name",
            ));
        }
        out.push((key, value));
        rest = rest.trim_start();
    }
    Ok(out)
}

/// The intrinsics Periscope's TraceQL accepts, as `/api/v2/search/tags` lists them.
pub const INTRINSICS: &[&str] = &[
    "duration",
    "kind",
    "name",
    "rootName",
    "rootServiceName",
    "status",
];

/// Attribute names of `spans` by scope.
pub fn tag_names(spans: &[&Span]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut span_tags = BTreeSet::new();
    let mut resource_tags = BTreeSet::new();
    for s in spans {
        span_tags.extend(
            s.tags
                .iter()
                .filter(|t| !crate::otlp_out::is_derived(&t.key))
                .map(|t| t.key.clone()),
        );
        resource_tags.extend(s.resource.iter().map(|t| t.key.clone()));
        resource_tags.insert("service.name".to_string());
    }
    (span_tags, resource_tags)
}

/// `(type, value)` of `field` in `spans`, as `/api/v2/search/tag/{tag}/values` lists them.
pub fn tag_values(field: &Field, spans: &[&Span]) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    match field {
        Field::Status => {
            for v in ["error", "ok", "unset"] {
                out.insert(("keyword", v.to_string()));
            }
        }
        Field::Kind => {
            for s in spans {
                out.insert((
                    "keyword",
                    kind_name(s.kind).unwrap_or("unspecified").to_string(),
                ));
            }
        }
        Field::Name => out.extend(spans.iter().map(|s| ("string", s.operation.clone()))),
        Field::RootServiceName => out.extend(
            spans
                .iter()
                .filter(|s| s.parent_span_id.is_none())
                .map(|s| ("string", s.service.clone())),
        ),
        Field::RootName => out.extend(
            spans
                .iter()
                .filter(|s| s.parent_span_id.is_none())
                .map(|s| ("string", s.operation.clone())),
        ),
        Field::Duration => {}
        Field::Attribute { scope, key } => {
            for s in spans {
                if key == "service.name" && *scope != AttributeScope::Span {
                    out.insert(("string", s.service.clone()));
                    continue;
                }
                let tags: Box<dyn Iterator<Item = &Tag>> = match scope {
                    AttributeScope::Span => Box::new(s.tags.iter()),
                    AttributeScope::Resource => Box::new(s.resource.iter()),
                    AttributeScope::Any => Box::new(s.tags.iter().chain(s.resource.iter())),
                };
                for t in tags.filter(|t| &t.key == key) {
                    let kind = match t.value {
                        TagValue::String(_) | TagValue::Binary(_) => "string",
                        TagValue::Bool(_) => "bool",
                        TagValue::Int64(_) => "int",
                        TagValue::Float64(_) => "float",
                    };
                    out.insert((kind, t.value.as_text()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_lose_leading_zeros_as_in_tempo() {
        let id = TraceId::parse("0000000000000000d269b633813fc605").unwrap();
        assert_eq!(trace_id_text(&id), "d269b633813fc605");
        assert_eq!(trace_id_text(&TraceId([0; 16])), "0");
    }

    #[test]
    fn legacy_tags_become_exact_attribute_filters() {
        assert!(matches!(
            legacy_filter(None, None, None).unwrap(),
            Filter::All
        ));
        let f =
            legacy_filter(Some(r#"service.name=api http.route="/a b""#), Some(5), None).unwrap();
        assert_eq!(f.required().len(), 3);
        assert!(legacy_filter(Some("nokey"), None, None).is_err());
        assert!(legacy_filter(Some(r#"a="open"#), None, None).is_err());
        assert!(legacy_filter(Some("status=error"), None, None).is_err());
    }
}
