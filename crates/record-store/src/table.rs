//! A table of keyed records and the four search operations over it.

use crate::keyed::{counts, histogram, latest_per_key, raw_records, sorted, RawRecord};
use futures::StreamExt;
use periscope_model::{Error, ErrorKind, Result};
use periscope_record_search::params::MAX_BUCKETS;
use periscope_record_search::{
    Bucket, Chunk, Cursor, Histogram, Page, Search, SortOrder, Statistics,
};
use periscope_store::datafusion::arrow::record_batch::RecordBatch;
use periscope_store::datafusion::dataframe::DataFrame;
use periscope_store::datafusion::logical_expr::Expr;
use periscope_store::{Store, StoreError, StoreOptions, TableSpec};
use serde_json::value::RawValue;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Records an export sends at a time.
const EXPORT_CHUNK: usize = 500;

/// A store table whose rows have `time` (Unix ns), `key` and `raw` columns.
pub struct KeyedTable {
    store: Arc<Store>,
    /// Of two rows of a key with the same time, the one higher in this
    /// column is the newer.
    tiebreak: Option<&'static str>,
    /// The column whose distinct values are the statistics' `resources`.
    resources: &'static str,
}

impl KeyedTable {
    /// Opens the table in `options.dir`, replaying its write-ahead log.
    pub fn open(
        spec: TableSpec,
        options: StoreOptions,
        tiebreak: Option<&'static str>,
        resources: &'static str,
    ) -> Result<KeyedTable> {
        for column in ["time", "key", "raw"] {
            debug_assert!(spec.schema.column_with_name(column).is_some(), "{column}");
        }
        Ok(KeyedTable {
            store: Arc::new(Store::open(spec, options)?),
            tiebreak,
            resources,
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stores a batch durably.
    pub async fn append(&self, batch: RecordBatch) -> std::result::Result<(), StoreError> {
        self.store.append(batch).await
    }

    /// The rows of `[start, end]` that `predicate` keeps (several per key
    /// when a record was reported more than once).
    async fn matching(&self, predicate: Option<Expr>, search: &Search) -> Result<DataFrame> {
        let frame = self
            .store
            .scan(search.start, search.end)
            .await
            .map_err(Error::from)?;
        match predicate {
            Some(p) => frame.filter(p).map_err(engine),
            None => Ok(frame),
        }
    }

    /// One row per key, its newest, among the matching rows.
    async fn rows(&self, predicate: Option<Expr>, search: &Search) -> Result<DataFrame> {
        let frame = self.matching(predicate, search).await?;
        latest_per_key(frame, self.tiebreak).map_err(engine)
    }

    /// A page in `search`'s order, the total, and a cursor when the page is full.
    pub async fn query(&self, predicate: Option<Expr>, search: &Search) -> Result<Page> {
        let rows = self.rows(predicate, search).await?;
        let total = rows.clone().count();
        let ascending = search.sort == SortOrder::Asc;
        let after = search.cursor.as_ref().map(|c| (c.time, c.key.as_str()));
        let page = sorted(rows, ascending, after)
            .and_then(|f| f.limit(search.from, Some(search.size)))
            .map_err(engine)?
            .collect();
        let (total, page) = tokio::join!(total, page);
        let (total, page) = (total.map_err(engine)?, page.map_err(engine)?);
        let mut records = Vec::new();
        for batch in &page {
            raw_records(batch, &mut records);
        }
        let cursor = (search.size > 0 && records.len() == search.size)
            .then(|| records.last())
            .flatten()
            .map(|last| {
                Cursor {
                    order: search.sort,
                    time: last.time,
                    key: last.key.clone(),
                }
                .encode()
            });
        Ok(Page {
            total: total as u64,
            records: (!records.is_empty())
                .then(|| raw_values(records))
                .transpose()?,
            cursor,
        })
    }

    /// Distinct `resources` values and records.
    pub async fn statistics(&self, predicate: Option<Expr>, search: &Search) -> Result<Statistics> {
        let rows = self.matching(predicate, search).await?;
        let (events, resources) = counts(rows, self.resources).await.map_err(engine)?;
        Ok(Statistics { resources, events })
    }

    /// Records per `search.interval`, oldest first.
    pub async fn histogram(&self, predicate: Option<Expr>, search: &Search) -> Result<Histogram> {
        let rows = self.matching(predicate, search).await?;
        let buckets = histogram(rows, search.interval).await.map_err(engine)?;
        if buckets.len() > MAX_BUCKETS {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!("the histogram has {} buckets, more than {MAX_BUCKETS}; choose a larger interval or a shorter time range", buckets.len()),
            ));
        }
        Ok(Histogram::from_buckets(
            buckets
                .into_iter()
                .map(|(start, count)| Bucket {
                    time: start.div_euclid(1_000_000),
                    count,
                })
                .collect(),
        ))
    }

    /// Streams every matching record in `search`'s order.
    pub async fn export(
        &self,
        predicate: Option<Expr>,
        search: &Search,
        out: mpsc::Sender<Chunk>,
    ) -> Result<()> {
        let rows = self.rows(predicate, search).await?;
        let mut stream = sorted(rows, search.sort == SortOrder::Asc, None)
            .map_err(engine)?
            .execute_stream()
            .await
            .map_err(engine)?;
        let mut chunk = Vec::with_capacity(EXPORT_CHUNK);
        while let Some(batch) = stream.next().await {
            raw_records(&batch.map_err(engine)?, &mut chunk);
            if chunk.len() >= EXPORT_CHUNK
                && out
                    .send(raw_values(std::mem::take(&mut chunk))?)
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
        if !chunk.is_empty() {
            let _ = out.send(raw_values(chunk)?).await;
        }
        Ok(())
    }
}

/// Stored JSON as raw values (checked: a stored record is always JSON).
fn raw_values(records: Vec<RawRecord>) -> Result<Vec<Box<RawValue>>> {
    records
        .into_iter()
        .map(|r| {
            RawValue::from_string(r.raw)
                .map_err(|e| Error::internal(format!("a stored record is not JSON: {e}")))
        })
        .collect()
}

fn engine(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("record query: {e}"))
}
