//! The log table's schema and record batches built from log records.

use periscope_logs::LogRecord;
use periscope_store::datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringBuilder};
use periscope_store::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use periscope_store::TableSpec;
use std::sync::Arc;

/// Columns of the log table. `seq` orders lines of the same nanosecond and
/// makes cursors exact.
pub fn log_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Int64, false),
        Field::new("seq", DataType::Int64, false),
        text("namespace"),
        text("pod"),
        text("container"),
        text("docker_id"),
        text("image"),
        text("log"),
        Field::new("fields", DataType::Utf8, true),
    ]))
}

/// The log table: files sorted by namespace, pod and time, so a scope or pod
/// filter reads few row groups.
pub fn log_table() -> TableSpec {
    TableSpec {
        name: "logs".into(),
        schema: log_schema(),
        time_column: "time".into(),
        sort_columns: vec!["namespace".into(), "pod".into(), "time".into()],
        bloom_filter_columns: Vec::new(),
    }
}

/// A batch of records; `first_seq` numbers them.
pub fn to_batch(records: &[LogRecord], first_seq: i64) -> RecordBatch {
    let n = records.len();
    let text = |f: fn(&LogRecord) -> &str| -> ArrayRef {
        let bytes = records.iter().map(|r| f(r).len()).sum();
        let mut b = StringBuilder::with_capacity(n, bytes);
        for r in records {
            b.append_value(f(r));
        }
        Arc::new(b.finish())
    };
    let mut fields = StringBuilder::with_capacity(n, 0);
    for r in records {
        fields.append_option(r.fields.as_deref());
    }
    RecordBatch::try_new(
        log_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(records.iter().map(|r| r.time))),
            Arc::new(Int64Array::from_iter_values(
                first_seq..first_seq + n as i64,
            )),
            text(|r| &r.namespace),
            text(|r| &r.pod),
            text(|r| &r.container),
            text(|r| &r.docker_id),
            text(|r| &r.image),
            text(|r| &r.log),
            Arc::new(fields.finish()),
        ],
    )
    .expect("columns match the log schema")
}
