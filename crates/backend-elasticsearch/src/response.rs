//! Reading Elasticsearch/OpenSearch search responses into the log model.

use periscope_config::ElasticsearchFields;
use periscope_logs::{parse_rfc3339, HistogramBucket, LogLine, StreamVolume};
use periscope_model::{Error, ErrorKind, Result};
use serde_json::Value;

/// The hits of one search page.
#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    pub total: u64,
    pub lines: Vec<LogLine>,
    /// The last hit's `sort` values (for `search_after`).
    pub last_sort: Option<Vec<Value>>,
    /// The point in time id to continue with (it may change between pages).
    pub pit_id: Option<String>,
}

fn unexpected(what: &str) -> Error {
    Error::new(
        ErrorKind::BackendUnavailable,
        format!("unexpected Elasticsearch response: {what}"),
    )
}

/// `hits.total`: a number (6.x) or `{"value", "relation"}`.
fn total(body: &Value) -> Result<u64> {
    let t = &body["hits"]["total"];
    t.as_u64()
        .or_else(|| t["value"].as_u64())
        .ok_or_else(|| unexpected("no hits.total"))
}

/// A field of a document: nested (`{"kubernetes": {"pod_name": ...}}`) or
/// flattened (`{"kubernetes.pod_name": ...}`).
fn field<'a>(source: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = source.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(source, |v, part| v.get(part))
}

fn text(source: &Value, path: &str) -> String {
    field(source, path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A search page.
pub fn hits(body: &Value, fields: &ElasticsearchFields) -> Result<Hits> {
    let total = total(body)?;
    let hits = body["hits"]["hits"]
        .as_array()
        .ok_or_else(|| unexpected("no hits.hits"))?;
    let mut lines = Vec::with_capacity(hits.len());
    for hit in hits {
        let source = &hit["_source"];
        let time = field(source, &fields.time)
            .or_else(|| field(source, "@timestamp"))
            .and_then(|t| match t {
                Value::String(s) => parse_rfc3339(s),
                Value::Number(n) => n.as_i64().map(|ms| ms * 1_000_000),
                _ => None,
            })
            .or_else(|| hit["sort"][0].as_i64().map(|ms| ms * 1_000_000))
            .unwrap_or(0);
        lines.push(LogLine {
            log: text(source, &fields.log),
            time,
            namespace: text(source, &fields.namespace),
            pod: text(source, &fields.pod),
            container: text(source, &fields.container),
        });
    }
    Ok(Hits {
        total,
        lines,
        last_sort: hits.last().and_then(|h| h["sort"].as_array().cloned()),
        pit_id: body["pit_id"].as_str().map(str::to_string),
    })
}

/// `(lines, containers)` of a statistics search.
pub fn statistics(body: &Value) -> Result<(u64, u64)> {
    let containers = body["aggregations"]["containers"]["value"]
        .as_u64()
        .ok_or_else(|| unexpected("no aggregations.containers.value"))?;
    Ok((total(body)?, containers))
}

/// The buckets of a histogram search.
pub fn histogram(body: &Value) -> Result<Vec<HistogramBucket>> {
    let buckets = body["aggregations"]["histogram"]["buckets"]
        .as_array()
        .ok_or_else(|| unexpected("no aggregations.histogram.buckets"))?;
    buckets
        .iter()
        .map(|b| {
            Ok(HistogramBucket {
                time: b["key"]
                    .as_i64()
                    .ok_or_else(|| unexpected("a bucket without key"))?,
                count: b["doc_count"]
                    .as_u64()
                    .ok_or_else(|| unexpected("a bucket without doc_count"))?,
            })
        })
        .collect()
}

/// One page of a volume search: the streams and the key to continue after.
pub fn volume(body: &Value) -> Result<(Vec<StreamVolume>, Option<Value>)> {
    let agg = &body["aggregations"]["streams"];
    let buckets = agg["buckets"]
        .as_array()
        .ok_or_else(|| unexpected("no aggregations.streams.buckets"))?;
    let text = |b: &Value, k: &str| b["key"][k].as_str().unwrap_or_default().to_string();
    let out = buckets
        .iter()
        .map(|b| {
            Ok(StreamVolume {
                namespace: text(b, "namespace"),
                pod: text(b, "pod"),
                container: text(b, "container"),
                bucket: b["key"]["bucket"].as_i64().map_or(0, |ms| ms * 1_000_000),
                lines: b["doc_count"]
                    .as_u64()
                    .ok_or_else(|| unexpected("a bucket without doc_count"))?,
                bytes: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let after = agg
        .get("after_key")
        .filter(|_| !buckets.is_empty())
        .cloned();
    Ok((out, after))
}

/// The reason in an Elasticsearch error body.
pub fn error_reason(body: &Value) -> String {
    let e = &body["error"];
    e["root_cause"][0]["reason"]
        .as_str()
        .or_else(|| e["reason"].as_str())
        .or_else(|| e.as_str())
        .unwrap_or("no reason given")
        .to_string()
}
