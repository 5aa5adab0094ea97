//! The span table: one row per span. Files are sorted by namespace, service
//! and start (a scope and a service narrow a search to few row groups) and
//! carry a bloom filter on the trace id, so a trace is found by id without a
//! time range.

use periscope_store::datafusion::arrow::array::{
    ArrayRef, AsArray, Int32Array, Int64Array, RecordBatch, StringBuilder,
};
use periscope_store::datafusion::arrow::compute::cast;
use periscope_store::datafusion::arrow::datatypes::{
    DataType, Field, Int32Type, Int64Type, Schema, SchemaRef,
};
use periscope_store::TableSpec;
use periscope_traces::{Event, Link, Place, Span, SpanId, Tag, TraceId};
use std::sync::Arc;

/// Columns of the span table.
pub fn span_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let int = |name: &str, t: DataType| Field::new(name, t, false);
    Arc::new(Schema::new(vec![
        int("start", DataType::Int64),
        text("trace_id"),
        text("span_id"),
        text("parent_span_id"),
        text("service"),
        text("operation"),
        int("kind", DataType::Int32),
        int("status_code", DataType::Int32),
        int("duration", DataType::Int64),
        text("namespace"),
        text("pod"),
        text("node"),
        text("container"),
        text("workload"),
        text("tag_index"),
        text("resource"),
        text("detail"),
    ]))
}

/// The span table's layout.
pub fn span_table() -> TableSpec {
    TableSpec {
        name: "spans".into(),
        schema: span_schema(),
        time_column: "start".into(),
        sort_columns: vec!["namespace".into(), "service".into(), "start".into()],
        bloom_filter_columns: vec!["trace_id".into()],
    }
}

/// The searchable text of a span's tags and its resource's: one line per tag,
/// `\nkey=value\n`, so a tag filter is one LIKE on `\nkey=value\n`.
pub fn tag_index(span: &Span) -> String {
    let mut out = String::new();
    write_tag_index(span, &mut out);
    out
}

fn write_tag_index(span: &Span, out: &mut String) {
    out.push('\n');
    for t in span.tags.iter().chain(span.resource.iter()) {
        push_line(out, &t.key, &t.value.as_text());
    }
}

/// A tag's line in the index (newlines inside become spaces).
pub fn tag_line(key: &str, value: &str) -> String {
    let mut out = String::new();
    push_line(&mut out, key, value);
    out
}

fn push_line(out: &mut String, key: &str, value: &str) {
    let clean = |out: &mut String, text: &str| {
        out.extend(text.chars().map(|c| if c == '\n' { ' ' } else { c }))
    };
    clean(out, key);
    out.push('=');
    clean(out, value);
    out.push('\n');
}

/// What the `detail` column holds, borrowed for writing.
#[derive(serde::Serialize)]
struct DetailRef<'a> {
    tags: &'a [Tag],
    events: &'a [Event],
    links: &'a [Link],
}

/// A batch of spans.
pub fn to_batch(spans: &[Span]) -> RecordBatch {
    // Each text column is written through one reused buffer.
    let text = |write: &dyn Fn(&Span, &mut String)| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(spans.len(), spans.len() * 16);
        let mut buffer = String::new();
        for s in spans {
            buffer.clear();
            write(s, &mut buffer);
            b.append_value(&buffer);
        }
        Arc::new(b.finish())
    };
    let copy = |f: fn(&Span) -> &str| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(spans.len(), spans.len() * 16);
        for s in spans {
            b.append_value(f(s));
        }
        Arc::new(b.finish())
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.start))),
        text(&|s, out| write_hex(out, &s.trace_id.0)),
        text(&|s, out| write_hex(out, &s.span_id.0)),
        text(&|s, out| {
            if let Some(p) = s.parent_span_id {
                write_hex(out, &p.0)
            }
        }),
        copy(|s| &s.service),
        copy(|s| &s.operation),
        Arc::new(Int32Array::from_iter_values(spans.iter().map(|s| s.kind))),
        Arc::new(Int32Array::from_iter_values(
            spans.iter().map(|s| s.status_code),
        )),
        Arc::new(Int64Array::from_iter_values(
            spans.iter().map(|s| s.duration),
        )),
        copy(|s| &s.place.namespace),
        copy(|s| &s.place.pod),
        copy(|s| &s.place.node),
        copy(|s| &s.place.container),
        copy(|s| &s.place.workload),
        text(&write_tag_index),
        resources(spans),
        text(&|s, out| {
            let detail = DetailRef {
                tags: &s.tags,
                events: &s.events,
                links: &s.links,
            };
            // Serialising slices of plain data into a string cannot fail.
            let json = serde_json::to_string(&detail).expect("span details serialise");
            out.push_str(&json);
        }),
    ];
    RecordBatch::try_new(span_schema(), columns).expect("columns match the span schema")
}

/// The `resource` column: the resource's tags as JSON, serialised once for a
/// run of spans sharing one resource (the spans of one OTLP resource do).
fn resources(spans: &[Span]) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(spans.len(), spans.len() * 64);
    let mut last: Option<(&Arc<[Tag]>, String)> = None;
    for s in spans {
        match &last {
            Some((resource, json)) if Arc::ptr_eq(resource, &s.resource) => b.append_value(json),
            _ => {
                let json = serde_json::to_string(&s.resource[..]).expect("tags serialise");
                b.append_value(&json);
                last = Some((&s.resource, json));
            }
        }
    }
    Arc::new(b.finish())
}

/// Lowercase hex of `bytes`, appended.
fn write_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
}

/// The spans of a batch read back (any column order the schema has).
pub fn spans(batch: &RecordBatch, out: &mut Vec<Span>) {
    let text = |name: &str| {
        let column = batch.column_by_name(name).expect("span column");
        cast(column, &DataType::Utf8)
            .expect("text columns cast to Utf8")
            .as_string::<i32>()
            .clone()
    };
    let int64 = |name: &str| {
        batch
            .column_by_name(name)
            .expect("span column")
            .as_primitive::<Int64Type>()
            .clone()
    };
    let int32 = |name: &str| {
        batch
            .column_by_name(name)
            .expect("span column")
            .as_primitive::<Int32Type>()
            .clone()
    };
    let (start, duration) = (int64("start"), int64("duration"));
    let (kind, status) = (int32("kind"), int32("status_code"));
    let [trace_id, span_id, parent, service, operation, namespace, pod, node, container, workload, resource, detail] =
        [
            "trace_id",
            "span_id",
            "parent_span_id",
            "service",
            "operation",
            "namespace",
            "pod",
            "node",
            "container",
            "workload",
            "resource",
            "detail",
        ]
        .map(text);
    // Rows of one resource share its parsed tags.
    let mut last_resource: Option<(&str, Arc<[Tag]>)> = None;
    for i in 0..batch.num_rows() {
        let (Ok(trace), Some(span)) = (
            TraceId::parse(trace_id.value(i)),
            SpanId::parse(span_id.value(i)),
        ) else {
            continue;
        };
        let detail: Detail = serde_json::from_str(detail.value(i)).unwrap_or_default();
        let resource_json = resource.value(i);
        let tags = match &last_resource {
            Some((json, tags)) if *json == resource_json => Arc::clone(tags),
            _ => {
                let tags: Vec<Tag> = serde_json::from_str(resource_json).unwrap_or_default();
                let tags: Arc<[Tag]> = tags.into();
                last_resource = Some((resource_json, Arc::clone(&tags)));
                tags
            }
        };
        out.push(Span {
            trace_id: trace,
            span_id: span,
            parent_span_id: SpanId::parse(parent.value(i)),
            service: service.value(i).to_string(),
            operation: operation.value(i).to_string(),
            kind: kind.value(i),
            status_code: status.value(i),
            start: start.value(i),
            duration: duration.value(i),
            place: Place {
                namespace: namespace.value(i).to_string(),
                pod: pod.value(i).to_string(),
                node: node.value(i).to_string(),
                container: container.value(i).to_string(),
                workload: workload.value(i).to_string(),
            },
            tags: detail.tags,
            resource: tags,
            events: detail.events,
            links: detail.links,
        });
    }
}

/// What the `detail` column holds.
#[derive(Default, serde::Deserialize)]
struct Detail {
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    links: Vec<Link>,
}
