//! The event table's schema and batches.

use periscope_events::EventRecord;
use periscope_record_store::Keyed;
use periscope_store::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringBuilder};
use periscope_store::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use periscope_store::TableSpec;
use std::sync::Arc;

/// Columns of the event table: `time` is the last sighting; `namespace` the
/// involved object's (empty for cluster-scoped objects), which scopes it;
/// `object` identifies the involved object (its uid, else kind/namespace/name).
pub fn event_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Int64, false),
        text("key"),
        text("cluster"),
        text("namespace"),
        text("object"),
        text("object_kind"),
        text("object_name"),
        text("reason"),
        text("type"),
        text("message"),
        text("component"),
        Field::new("count", DataType::Int64, false),
        Field::new("first_seen", DataType::Int64, false),
        text("raw"),
    ]))
}

/// The event table: files sorted by namespace, reason and time, so a scope
/// (and a reason) filter reads few row groups.
pub fn event_table() -> TableSpec {
    TableSpec {
        name: "events".into(),
        schema: event_schema(),
        time_column: "time".into(),
        sort_columns: vec!["namespace".into(), "reason".into(), "time".into()],
        bloom_filter_columns: Vec::new(),
    }
}

/// What identifies an event object: cluster and uid.
pub(crate) fn key(r: &EventRecord) -> String {
    format!("{}\u{1f}{}", r.cluster, r.uid)
}

/// The involved object's identity.
fn object(r: &EventRecord) -> String {
    let o = &r.involved;
    if o.uid.is_empty() {
        format!("{}/{}/{}", o.kind, o.namespace, o.name)
    } else {
        o.uid.clone()
    }
}

/// A batch of keyed records.
pub(crate) fn to_batch(records: &[Keyed<EventRecord>]) -> RecordBatch {
    let n = records.len();
    let text = |f: fn(&EventRecord) -> &str| -> ArrayRef {
        let bytes = records.iter().map(|k| f(&k.record).len()).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for Keyed { record: r, .. } in records {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let int = |f: fn(&EventRecord) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            records.iter().map(|k| f(&k.record)),
        ))
    };
    let mut keys = StringBuilder::with_capacity(n, n * 48);
    let mut objects = StringBuilder::with_capacity(n, n * 36);
    for k in records {
        keys.append_value(&k.key);
        objects.append_value(object(&k.record));
    }
    RecordBatch::try_new(
        event_schema(),
        vec![
            int(|r| r.last_seen),
            Arc::new(keys.finish()),
            text(|r| &r.cluster),
            text(|r| &r.involved.namespace),
            Arc::new(objects.finish()),
            text(|r| &r.involved.kind),
            text(|r| &r.involved.name),
            text(|r| &r.reason),
            text(|r| &r.event_type),
            text(|r| &r.message),
            text(|r| &r.component),
            int(|r| r.count.min(i64::MAX as u64) as i64),
            int(|r| r.first_seen),
            text(|r| &r.raw),
        ],
    )
    .expect("columns match the event schema")
}
