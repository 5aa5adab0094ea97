//! Kubernetes events and audit records in Elasticsearch or OpenSearch, in
//! KubeSphere's layouts: daily indices `ks-logstash-events-YYYY.MM.DD`
//! (core/v1 Event documents) and `ks-logstash-auditing-YYYY.MM.DD`
//! (PascalCase audit documents), so an existing installation's history is
//! searchable and Periscope's writes read like KubeSphere's.
//!
//! [`Layout`] says what differs between the two (fields, ids, filters);
//! [`ElasticsearchRecords`] is the backend for either: searches sorted by the
//! record's time and its identity (so `search_after` pages exactly), the
//! statistics' `cardinality`, a `date_histogram`, exports page by page, and
//! `_bulk` writes whose `_id` is the record's key, so a re-delivered or
//! updated record replaces its document in its day's index.

mod audit;
mod dsl;
mod events;

pub use audit::AuditLayout;
pub use dsl::{histogram_body, page_body, statistics_body};
pub use events::EventLayout;

use crate::connection::{Connection, ConnectionConfig};
use crate::indices;
use futures::future::BoxFuture;
use futures::FutureExt;
use periscope_model::{Error, ErrorKind, Result};
use periscope_record_search::{
    Bucket, Chunk, Cursor, Histogram, Ingested, Page, RecordBackend, Search, Statistics,
};
use reqwest::Method;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Hits per request of an export.
const EXPORT_PAGE: usize = 1000;

/// What differs between the event and the audit layout.
pub trait Layout: Send + Sync + 'static {
    type Record: Send + 'static;
    type Filter: Send + Sync + 'static;
    /// KubeSphere's index prefix.
    const DEFAULT_PREFIX: &'static str;
    /// The date field searches filter, sort and bucket on.
    const TIME: &'static str;
    /// Keyword fields that identify a record, breaking ties after the time.
    const TIES: &'static [&'static str];
    /// The keyword field whose distinct values are `resources`.
    const RESOURCES: &'static str;
    /// Filter clauses (all must match) and exclusions for `filter`.
    fn clauses(filter: &Self::Filter) -> (Vec<Value>, Vec<Value>);
    /// A record's document id, time (Unix ns, for its day's index) and
    /// source (`@timestamp` is added).
    fn document(record: &Self::Record) -> (String, i64, &str);
}

/// The events or audit backend of one cluster.
pub struct ElasticsearchRecords<L: Layout> {
    connection: Connection,
    prefix: String,
    layout: std::marker::PhantomData<L>,
}

impl<L: Layout> ElasticsearchRecords<L> {
    /// A backend for the cluster; `prefix` defaults to KubeSphere's.
    pub fn new(connection: &ConnectionConfig, prefix: Option<&str>) -> Result<Self> {
        Ok(ElasticsearchRecords {
            connection: Connection::new(connection)?,
            prefix: prefix.unwrap_or(L::DEFAULT_PREFIX).to_string(),
            layout: std::marker::PhantomData,
        })
    }

    fn search_path(&self, search: &Search) -> String {
        format!(
            "/{}/_search?ignore_unavailable=true&allow_no_indices=true",
            indices::resolve(&self.prefix, search.start, search.end)
        )
    }

    /// One page after `after` (the sort values of the previous page's last hit).
    async fn hits(
        &self,
        filter: &L::Filter,
        search: &Search,
        size: usize,
        from: usize,
        after: Option<Vec<Value>>,
    ) -> Result<(u64, Vec<Box<RawValue>>, Option<Vec<Value>>)> {
        let body = page_body::<L>(filter, search, size, from, after);
        let answer = self
            .connection
            .send(Method::POST, &self.search_path(search), Some(&body))
            .await?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let last = hits.last().and_then(|h| h["sort"].as_array().cloned());
        let records = hits
            .iter()
            .map(|h| serde_json::value::to_raw_value(&h["_source"]))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(format!("a hit's _source: {e}")))?;
        Ok((total(&answer)?, records, last))
    }

    async fn query(&self, filter: &L::Filter, search: &Search) -> Result<Page> {
        let after = match &search.cursor {
            Some(c) => Some(cursor_values(c)?),
            None => None,
        };
        let (total, records, last) = self
            .hits(filter, search, search.size, search.from, after)
            .await?;
        let cursor = (search.size > 0 && records.len() == search.size)
            .then_some(last)
            .flatten()
            .and_then(|sort| {
                let (time, ties) = sort.split_first()?;
                Some(
                    Cursor {
                        order: search.sort,
                        time: time.as_i64()?,
                        key: Value::Array(ties.to_vec()).to_string(),
                    }
                    .encode(),
                )
            });
        Ok(Page {
            total,
            records: (!records.is_empty()).then_some(records),
            cursor,
        })
    }

    async fn statistics(&self, filter: &L::Filter, search: &Search) -> Result<Statistics> {
        let body = statistics_body::<L>(filter, search);
        let answer = self
            .connection
            .send(Method::POST, &self.search_path(search), Some(&body))
            .await?;
        let resources = answer["aggregations"]["resources"]["value"]
            .as_u64()
            .ok_or_else(|| malformed("aggregations.resources.value"))?;
        Ok(Statistics {
            resources,
            events: total(&answer)?,
        })
    }

    async fn histogram(&self, filter: &L::Filter, search: &Search) -> Result<Histogram> {
        let body = histogram_body::<L>(filter, search);
        let answer = self
            .connection
            .send(Method::POST, &self.search_path(search), Some(&body))
            .await?;
        let buckets = answer["aggregations"]["buckets"]["buckets"]
            .as_array()
            .ok_or_else(|| malformed("aggregations.buckets.buckets"))?
            .iter()
            .map(|b| {
                Some(Bucket {
                    time: b["key"].as_i64()?,
                    count: b["doc_count"].as_u64()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("a date_histogram bucket"))?;
        Ok(Histogram::from_buckets(buckets))
    }

    async fn export(
        &self,
        filter: &L::Filter,
        search: &Search,
        out: mpsc::Sender<Chunk>,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let (_, records, last) = self.hits(filter, search, EXPORT_PAGE, 0, after).await?;
            let done = records.len() < EXPORT_PAGE || last.is_none();
            if !records.is_empty() && out.send(records).await.is_err() {
                return Ok(());
            }
            if done {
                return Ok(());
            }
            after = last;
        }
    }

    async fn ingest(&self, records: Vec<L::Record>) -> Result<Ingested> {
        if records.is_empty() {
            return Ok(Ingested::default());
        }
        let mut body = Vec::with_capacity(records.len() * 1024);
        for record in &records {
            let (id, time, source) = L::document(record);
            let index = indices::resolve(&self.prefix, time, time);
            let action = json!({"index": {"_index": index, "_id": id}});
            body.extend_from_slice(action.to_string().as_bytes());
            body.push(b'\n');
            body.extend_from_slice(with_timestamp(source, time).as_bytes());
            body.push(b'\n');
        }
        let answer = self.connection.send_ndjson("/_bulk", body).await?;
        let items = answer["items"]
            .as_array()
            .ok_or_else(|| malformed("items"))?;
        if answer["errors"].as_bool().unwrap_or(false) {
            let reason = items
                .iter()
                .find_map(|i| {
                    i["index"]["error"]
                        .as_object()
                        .map(|e| e.get("reason").cloned().unwrap_or_default())
                })
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!("Elasticsearch refused some of the records: {reason}"),
            ));
        }
        let replaced = items
            .iter()
            .filter(|i| i["index"]["result"] == "updated" || i["index"]["result"] == "noop")
            .count();
        Ok(Ingested {
            stored: records.len() - replaced,
            duplicates: replaced,
        })
    }
}

/// The sort values a cursor continues after: the time, then the ties.
fn cursor_values(c: &Cursor) -> Result<Vec<Value>> {
    let bad = || Error::bad_request("parameter \"cursor\" is not a cursor this API returned");
    let ties: Vec<Value> = serde_json::from_str(&c.key).map_err(|_| bad())?;
    Ok(std::iter::once(json!(c.time)).chain(ties).collect())
}

/// `hits.total` as Elasticsearch 7+ (`{value}`) or 6 (a number) gives it.
fn total(answer: &Value) -> Result<u64> {
    let t = &answer["hits"]["total"];
    t["value"]
        .as_u64()
        .or_else(|| t.as_u64())
        .ok_or_else(|| malformed("hits.total"))
}

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::BackendUnavailable,
        format!("Elasticsearch answered without {what}"),
    )
}

/// `source` (a JSON object) with `@timestamp` set, as Fluent Bit's
/// `logstash_format` adds it.
fn with_timestamp(source: &str, time: i64) -> String {
    let stamp = chrono::DateTime::from_timestamp_nanos(time)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = source.trim_end();
    match body.strip_suffix('}') {
        Some(open) if open.trim_end().ends_with('{') => {
            format!("{open}\"@timestamp\":\"{stamp}\"}}")
        }
        Some(open) => format!("{open},\"@timestamp\":\"{stamp}\"}}"),
        None => source.to_string(),
    }
}

impl<L: Layout> RecordBackend for ElasticsearchRecords<L> {
    type Record = L::Record;
    type Filter = L::Filter;

    fn ingest(&self, records: Vec<L::Record>) -> BoxFuture<'_, Result<Ingested>> {
        ElasticsearchRecords::ingest(self, records).boxed()
    }

    fn query<'a>(
        &'a self,
        filter: &'a L::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Page>> {
        ElasticsearchRecords::query(self, filter, search).boxed()
    }

    fn statistics<'a>(
        &'a self,
        filter: &'a L::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Statistics>> {
        ElasticsearchRecords::statistics(self, filter, search).boxed()
    }

    fn histogram<'a>(
        &'a self,
        filter: &'a L::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Histogram>> {
        ElasticsearchRecords::histogram(self, filter, search).boxed()
    }

    fn export<'a>(
        &'a self,
        filter: &'a L::Filter,
        search: &'a Search,
        out: mpsc::Sender<Chunk>,
    ) -> BoxFuture<'a, Result<()>> {
        ElasticsearchRecords::export(self, filter, search, out).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::with_timestamp;

    #[test]
    fn the_timestamp_is_added_to_the_source() {
        assert_eq!(
            with_timestamp(r#"{"a":1}"#, 0),
            r#"{"a":1,"@timestamp":"1970-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(
            with_timestamp("{}", 0),
            r#"{"@timestamp":"1970-01-01T00:00:00.000Z"}"#
        );
    }
}
