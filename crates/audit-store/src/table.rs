//! The audit table's schema and batches.

use periscope_audit::AuditRecord;
use periscope_record_store::Keyed;
use periscope_store::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringBuilder};
use periscope_store::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use periscope_store::TableSpec;
use std::sync::Arc;

/// Columns of the audit table: `time` is when the request was received;
/// `namespace` is the scoping namespace (empty for cluster-scoped objects
/// and non-resource requests); `groups` and `source_ips` are joined by
/// newlines.
pub fn audit_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Int64, false),
        text("key"),
        text("audit_id"),
        text("cluster"),
        text("namespace"),
        text("resource"),
        text("subresource"),
        text("name"),
        text("verb"),
        text("level"),
        text("user"),
        text("groups"),
        text("source_ips"),
        Field::new("response_code", DataType::Int64, false),
        text("response_status"),
        text("raw"),
    ]))
}

/// The audit table: files sorted by namespace, verb and time.
pub fn audit_table() -> TableSpec {
    TableSpec {
        name: "audit".into(),
        schema: audit_schema(),
        time_column: "time".into(),
        sort_columns: vec!["namespace".into(), "verb".into(), "time".into()],
        bloom_filter_columns: vec!["audit_id".into()],
    }
}

/// A batch of keyed records.
pub(crate) fn to_batch(records: &[Keyed<AuditRecord>]) -> RecordBatch {
    let n = records.len();
    let text = |f: fn(&AuditRecord) -> &str| -> ArrayRef {
        let bytes = records.iter().map(|k| f(&k.record).len()).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for Keyed { record: r, .. } in records {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let joined = |f: fn(&AuditRecord) -> &[String]| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 32);
        for Keyed { record: r, .. } in records {
            b.append_value(f(r).join("\n"));
        }
        Arc::new(b.finish())
    };
    let mut keys = StringBuilder::with_capacity(n, n * 48);
    for k in records {
        keys.append_value(&k.key);
    }
    RecordBatch::try_new(
        audit_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(
                records.iter().map(|k| k.record.received),
            )),
            Arc::new(keys.finish()),
            text(|r| &r.audit_id),
            text(|r| &r.cluster),
            text(AuditRecord::scope_namespace),
            text(|r| &r.resource),
            text(|r| &r.subresource),
            text(|r| &r.name),
            text(|r| &r.verb),
            text(|r| &r.level),
            text(|r| &r.user),
            joined(|r| &r.groups),
            joined(|r| &r.source_ips),
            Arc::new(Int64Array::from_iter_values(
                records.iter().map(|k| k.record.response_code),
            )),
            text(|r| &r.response_status),
            text(|r| &r.raw),
        ],
    )
    .expect("columns match the audit schema")
}
