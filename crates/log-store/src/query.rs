//! The embedded log backend: ingest into the store, and the four operations of
//! the log API answered with DataFusion.

use crate::batch::{log_table, to_batch};
use crate::filter::predicate;
use futures::StreamExt;
use periscope_logs::request::MAX_BUCKETS;
use periscope_logs::response::{too_many_streams, MAX_STREAM_VOLUMES};
use periscope_logs::{
    Cursor, Histogram, HistogramBucket, LogFilter, LogLine, LogRecord, LogRequest, QueryPage,
    SortOrder, Statistics, StreamVolume,
};
use periscope_model::{Error, ErrorKind, Result};
use periscope_store::datafusion::arrow::array::{Array, AsArray, RecordBatch};
use periscope_store::datafusion::arrow::compute::cast;
use periscope_store::datafusion::arrow::datatypes::{DataType, Int64Type};
use periscope_store::datafusion::dataframe::DataFrame;
use periscope_store::datafusion::functions_aggregate::expr_fn::{count, count_distinct};
use periscope_store::datafusion::prelude::{col, lit};
use periscope_store::{Store, StoreError, StoreOptions};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Log lines in an embedded store.
pub struct LogStore {
    store: Arc<Store>,
    /// Next line number. Starting from the clock's nanoseconds keeps numbers
    /// increasing across restarts without reading the table.
    next_seq: AtomicI64,
}

/// Lines an export sends at a time.
const EXPORT_CHUNK: usize = 1000;

impl LogStore {
    /// Opens the log table in `options.dir`, replaying its write-ahead log.
    pub fn open(options: StoreOptions) -> Result<LogStore> {
        let store = Store::open(log_table(), options)?;
        Ok(LogStore {
            store: Arc::new(store),
            next_seq: AtomicI64::new(periscope_store::unix_now_ns()),
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stores records durably; returns once they are in the write-ahead log.
    pub async fn ingest(&self, records: &[LogRecord]) -> std::result::Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let first = self
            .next_seq
            .fetch_add(records.len() as i64, Ordering::Relaxed);
        self.store.append(to_batch(records, first)).await
    }

    /// The rows of `filter`.
    async fn rows(&self, filter: &LogFilter) -> Result<DataFrame> {
        let frame = self
            .store
            .scan(filter.start, filter.end)
            .await
            .map_err(Error::from)?;
        let frame = match predicate(filter) {
            Some(p) => frame.filter(p),
            None => Ok(frame),
        };
        frame.map_err(engine)
    }

    /// A page of lines, newest (or oldest) first, and the total.
    pub async fn query(&self, request: &LogRequest) -> Result<QueryPage> {
        let rows = self.rows(&request.filter).await?;
        // The total on a task of its own, so that it and the page (each a
        // plan and a scan) run on two cores at once.
        let total = tokio::spawn(rows.clone().count());
        let mut page = rows;
        if let Some(cursor) = &request.cursor {
            page = page.filter(after(cursor)?).map_err(engine)?;
        }
        let page = sorted(page, request.sort)?
            .limit(request.from, Some(request.size))
            .map_err(engine)?
            .collect();
        let (total, page) = tokio::join!(total, page);
        let total = total
            .map_err(|e| Error::internal(format!("counting log lines: {e}")))?
            .map_err(engine)?;
        let page = page.map_err(engine)?;
        let mut records = Vec::new();
        let mut last = None;
        for batch in &page {
            last = lines(batch, &mut records).or(last);
        }
        let cursor = (request.size > 0 && records.len() == request.size)
            .then_some(last)
            .flatten()
            .map(|(time, seq)| {
                Cursor {
                    order: request.sort,
                    after: vec![time.into(), seq.into()],
                }
                .encode()
            });
        Ok(QueryPage {
            total: total as u64,
            records,
            cursor,
        })
    }

    /// Line and container counts.
    pub async fn statistics(&self, filter: &LogFilter) -> Result<Statistics> {
        let batches = self
            .rows(filter)
            .await?
            .aggregate(
                vec![],
                vec![
                    count(lit(1)).alias("logs"),
                    count_distinct(col("docker_id")).alias("containers"),
                ],
            )
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
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
        Ok(Statistics {
            containers: value("containers"),
            logs: value("logs"),
        })
    }

    /// Line counts per `interval` (ns) bucket, oldest first.
    pub async fn histogram(&self, filter: &LogFilter, interval: i64) -> Result<Histogram> {
        let bucket = col("time") - (col("time") % lit(interval));
        let batches = self
            .rows(filter)
            .await?
            .aggregate(vec![bucket.alias("bucket")], vec![count(lit(1)).alias("n")])
            .map_err(engine)?
            .sort(vec![col("bucket").sort(true, false)])
            .map_err(engine)?
            .collect()
            .await
            .map_err(engine)?;
        let mut histograms = Vec::new();
        for b in &batches {
            let (start, n) = (
                b.column(0).as_primitive::<Int64Type>(),
                b.column(1).as_primitive::<Int64Type>(),
            );
            for i in 0..b.num_rows() {
                histograms.push(HistogramBucket {
                    time: start.value(i).div_euclid(1_000_000),
                    count: n.value(i) as u64,
                });
            }
        }
        if histograms.len() > MAX_BUCKETS {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("the histogram has {} buckets, more than {MAX_BUCKETS}; choose a larger interval or a shorter time range", histograms.len()),
            ));
        }
        Ok(Histogram::from_buckets(histograms))
    }

    /// Lines per stream (and `bucket`-ns time bucket); with `bytes`, also the
    /// bytes of their text (which reads the text column).
    pub async fn volume(
        &self,
        filter: &LogFilter,
        bucket: Option<i64>,
        bytes: bool,
    ) -> Result<Vec<StreamVolume>> {
        let mut groups = vec![col("namespace"), col("pod"), col("container")];
        if let Some(width) = bucket {
            groups.push((col("time") - (col("time") % lit(width))).alias("bucket"));
        }
        let rows = self.rows(filter).await?;
        let frame = if bytes {
            // Each line with its stream and bucket; summed below.
            let mut columns = groups;
            columns.push(col("log"));
            rows.select(columns).map_err(engine)?
        } else {
            rows.aggregate(groups, vec![count(lit(1)).alias("n")])
                .map_err(engine)?
        };
        let mut stream = frame.execute_stream().await.map_err(engine)?;
        let mut index: std::collections::HashMap<(String, String, String, i64), usize> =
            std::collections::HashMap::new();
        let mut out: Vec<StreamVolume> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(engine)?;
            let text = |name: &str| {
                cast(
                    batch.column_by_name(name).expect("volume column"),
                    &DataType::Utf8,
                )
                .expect("text columns cast to Utf8")
                .as_string::<i32>()
                .clone()
            };
            let (namespace, pod, container) = (text("namespace"), text("pod"), text("container"));
            let starts = bucket.map(|_| {
                batch
                    .column_by_name("bucket")
                    .expect("bucket")
                    .as_primitive::<Int64Type>()
                    .clone()
            });
            let log = bytes.then(|| text("log"));
            let n = (!bytes).then(|| {
                batch
                    .column_by_name("n")
                    .expect("count")
                    .as_primitive::<Int64Type>()
                    .clone()
            });
            for i in 0..batch.num_rows() {
                let start = starts.as_ref().map_or(0, |t| t.value(i));
                let key = (
                    namespace.value(i).to_string(),
                    pod.value(i).to_string(),
                    container.value(i).to_string(),
                    start,
                );
                let at = match index.get(&key) {
                    Some(at) => *at,
                    None => {
                        if out.len() >= MAX_STREAM_VOLUMES {
                            return Err(too_many_streams());
                        }
                        out.push(StreamVolume {
                            namespace: key.0.clone(),
                            pod: key.1.clone(),
                            container: key.2.clone(),
                            bucket: start,
                            lines: 0,
                            bytes: bytes.then_some(0),
                        });
                        index.insert(key, out.len() - 1);
                        out.len() - 1
                    }
                };
                let v = &mut out[at];
                match (&log, &n) {
                    (Some(log), _) => {
                        v.lines += 1;
                        *v.bytes.get_or_insert(0) += log.value(i).len() as u64;
                    }
                    (None, Some(n)) => v.lines += n.value(i) as u64,
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// Sends every matching line, in time order, in chunks; waits while the
    /// receiver is full (back-pressure) and stops when it is gone. One time
    /// partition is sorted at a time, so memory does not grow with the export.
    pub async fn export(
        &self,
        filter: &LogFilter,
        order: SortOrder,
        out: mpsc::Sender<Vec<LogLine>>,
    ) -> Result<()> {
        let Some((first, last)) = self.store.time_bounds() else {
            return Ok(());
        };
        let (start, end) = (filter.start.max(first), filter.end.min(last));
        let width = self.store.partition_ns();
        let mut windows: Vec<(i64, i64)> = Vec::new();
        let mut at = start.div_euclid(width) * width;
        while at <= end {
            windows.push((at.max(start), (at + width - 1).min(end)));
            at += width;
        }
        if order == SortOrder::Desc {
            windows.reverse();
        }
        for (from, to) in windows {
            let window = LogFilter {
                start: from,
                end: to,
                ..filter.clone()
            };
            if !send_lines(sorted(self.rows(&window).await?, order)?, &out).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends every matching line in chunks, in no particular order, from
    /// one scan (no sort, no per-partition queries): for readers that order
    /// what they need themselves, such as LogQL's metric queries.
    pub async fn scan_lines(
        &self,
        filter: &LogFilter,
        out: mpsc::Sender<Vec<LogLine>>,
    ) -> Result<()> {
        let frame = self
            .rows(filter)
            .await?
            .select_columns(&["time", "seq", "namespace", "pod", "container", "log"])
            .map_err(engine)?;
        send_lines(frame, &out).await?;
        Ok(())
    }
}

/// Sends the lines of `frame` to `out` in chunks of [`EXPORT_CHUNK`];
/// `false` when the receiver went away.
async fn send_lines(frame: DataFrame, out: &mpsc::Sender<Vec<LogLine>>) -> Result<bool> {
    let mut stream = frame.execute_stream().await.map_err(engine)?;
    let mut chunk = Vec::with_capacity(EXPORT_CHUNK);
    while let Some(batch) = stream.next().await {
        lines(&batch.map_err(engine)?, &mut chunk);
        if chunk.len() >= EXPORT_CHUNK && out.send(std::mem::take(&mut chunk)).await.is_err() {
            return Ok(false);
        }
    }
    Ok(chunk.is_empty() || out.send(chunk).await.is_ok())
}

/// The columns of a line, in time order, `seq` breaking ties.
fn sorted(frame: DataFrame, order: SortOrder) -> Result<DataFrame> {
    let asc = order == SortOrder::Asc;
    frame
        // Only the columns of a line are read for it.
        .select_columns(&["time", "seq", "namespace", "pod", "container", "log"])
        .map_err(engine)?
        .sort(vec![
            col("time").sort(asc, false),
            col("seq").sort(asc, false),
        ])
        .map_err(engine)
}

/// Rows strictly after a cursor's `(time, seq)` in its order.
fn after(cursor: &Cursor) -> Result<periscope_store::datafusion::logical_expr::Expr> {
    let bad = || Error::bad_request("parameter \"cursor\" is not a cursor this API returned");
    let [time, seq] = cursor.after.as_slice() else {
        return Err(bad());
    };
    let (time, seq) = (
        time.as_i64().ok_or_else(bad)?,
        seq.as_i64().ok_or_else(bad)?,
    );
    Ok(match cursor.order {
        SortOrder::Desc => col("time")
            .lt(lit(time))
            .or(col("time").eq(lit(time)).and(col("seq").lt(lit(seq)))),
        SortOrder::Asc => col("time")
            .gt(lit(time))
            .or(col("time").eq(lit(time)).and(col("seq").gt(lit(seq)))),
    })
}

/// Appends a batch's rows as lines; returns the last row's `(time, seq)`.
fn lines(batch: &RecordBatch, out: &mut Vec<LogLine>) -> Option<(i64, i64)> {
    if batch.num_rows() == 0 {
        return None;
    }
    let int = |name: &str| {
        batch
            .column_by_name(name)
            .expect("log column")
            .as_primitive::<Int64Type>()
            .clone()
    };
    let text = |name: &str| {
        let column = batch.column_by_name(name).expect("log column");
        cast(column, &DataType::Utf8)
            .expect("text columns cast to Utf8")
            .as_string::<i32>()
            .clone()
    };
    let (time, seq) = (int("time"), int("seq"));
    let (namespace, pod, container, log) = (
        text("namespace"),
        text("pod"),
        text("container"),
        text("log"),
    );
    for i in 0..batch.num_rows() {
        out.push(LogLine {
            log: log.value(i).to_string(),
            time: time.value(i),
            namespace: namespace.value(i).to_string(),
            pod: pod.value(i).to_string(),
            container: container.value(i).to_string(),
        });
    }
    let last = batch.num_rows() - 1;
    debug_assert!(!time.is_null(last));
    Some((time.value(last), seq.value(last)))
}

fn engine(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("log query: {e}"))
}
