//! DataFrame steps over a table of keyed records (Kubernetes events, audit events): rows
//! carry `time` (Unix ns), `key` (what identifies the record across its
//! reports) and `raw` (the record's JSON). A record reported several times
//! has several rows; [`latest_per_key`] keeps its newest, so every answer
//! counts each record once.

use periscope_store::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use periscope_store::datafusion::arrow::compute::cast;
use periscope_store::datafusion::arrow::datatypes::{DataType, Int64Type};
use periscope_store::datafusion::dataframe::DataFrame;
use periscope_store::datafusion::error::Result;
use periscope_store::datafusion::functions_aggregate::expr_fn::{count, count_distinct, max};
use periscope_store::datafusion::functions_window::expr_fn::row_number;
use periscope_store::datafusion::logical_expr::ExprFunctionExt;
use periscope_store::datafusion::prelude::{col, lit};

/// One record of a page: its sort values and JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRecord {
    pub time: i64,
    pub key: String,
    pub raw: String,
}

/// The rows of `frame`, one per key: the newest (latest `time`, then the
/// highest `tiebreak` column, e.g. an occurrence count).
pub(crate) fn latest_per_key(frame: DataFrame, tiebreak: Option<&str>) -> Result<DataFrame> {
    let mut order = vec![col("time").sort(false, false)];
    if let Some(column) = tiebreak {
        order.push(col(column).sort(false, false));
    }
    let rank = row_number()
        .partition_by(vec![col("key")])
        .order_by(order)
        .build()?
        .alias("periscope_rank");
    frame
        .window(vec![rank])?
        .filter(col("periscope_rank").eq(lit(1u64)))
}

/// `frame` sorted by time (then key) in the asked order, from just after
/// `after` when given.
pub(crate) fn sorted(
    frame: DataFrame,
    ascending: bool,
    after: Option<(i64, &str)>,
) -> Result<DataFrame> {
    let frame = match after {
        None => frame,
        Some((time, key)) => frame.filter(if ascending {
            col("time")
                .gt(lit(time))
                .or(col("time").eq(lit(time)).and(col("key").gt(lit(key))))
        } else {
            col("time")
                .lt(lit(time))
                .or(col("time").eq(lit(time)).and(col("key").lt(lit(key))))
        })?,
    };
    frame.select_columns(&["time", "key", "raw"])?.sort(vec![
        col("time").sort(ascending, false),
        col("key").sort(ascending, false),
    ])
}

/// Appends the rows of a batch of `time`, `key`, `raw` columns.
pub(crate) fn raw_records(batch: &RecordBatch, out: &mut Vec<RawRecord>) {
    if batch.num_rows() == 0 {
        return;
    }
    let text = |name: &str| {
        let column = batch.column_by_name(name).expect("record column");
        cast(column, &DataType::Utf8)
            .expect("text columns cast to Utf8")
            .as_string::<i32>()
            .clone()
    };
    let time = batch
        .column_by_name("time")
        .expect("time column")
        .as_primitive::<Int64Type>()
        .clone();
    let (key, raw) = (text("key"), text("raw"));
    for i in 0..batch.num_rows() {
        debug_assert!(!time.is_null(i));
        out.push(RawRecord {
            time: time.value(i),
            key: key.value(i).to_string(),
            raw: raw.value(i).to_string(),
        });
    }
}

/// The number of records (distinct keys) and of distinct values of
/// `column` among the rows of `frame` — no need to pick the newest row of
/// each key first, as `column` is the same in every row of a key.
pub(crate) async fn counts(frame: DataFrame, column: &str) -> Result<(u64, u64)> {
    let batches = frame
        .aggregate(
            vec![],
            vec![
                count_distinct(col("key")).alias("rows"),
                count_distinct(col(column)).alias("distinct"),
            ],
        )?
        .collect()
        .await?;
    let value = |name: &str| {
        batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| {
                b.column_by_name(name)
                    .expect("aggregate column")
                    .as_primitive::<Int64Type>()
                    .value(0) as u64
            })
            .unwrap_or(0)
    };
    Ok((value("rows"), value("distinct")))
}

/// Records per `interval` (ns) bucket of their newest `time`, oldest
/// first: (bucket start in Unix ns, records). Each key counts once, in the
/// bucket of its latest row (an aggregation: no row but the time is read).
pub(crate) async fn histogram(frame: DataFrame, interval: i64) -> Result<Vec<(i64, u64)>> {
    let bucket = col("time") - (col("time") % lit(interval));
    let batches = frame
        .aggregate(vec![col("key")], vec![max(col("time")).alias("time")])?
        .aggregate(vec![bucket.alias("bucket")], vec![count(lit(1)).alias("n")])?
        .sort(vec![col("bucket").sort(true, false)])?
        .collect()
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        let (start, n) = (
            b.column(0).as_primitive::<Int64Type>(),
            b.column(1).as_primitive::<Int64Type>(),
        );
        for i in 0..b.num_rows() {
            out.push((start.value(i), n.value(i) as u64));
        }
    }
    Ok(out)
}
