//! The log query model as Elasticsearch query DSL. Pure functions: the same
//! request always gives the same JSON (golden-tested in `tests/`).
//!
//! The scope is one `terms` query on the namespace field, however many
//! namespaces it holds (not one clause per namespace, which hits
//! `max_clause_count` at 1,024). Deep pages use `search_after`, never `from`
//! past 10,000.

use periscope_config::ElasticsearchFields;
use periscope_logs::{workload, LogFilter, SortOrder};
use serde_json::{json, Value};

/// The exact-match (keyword) form of a field.
fn exact(fields: &ElasticsearchFields, field: &str) -> String {
    format!("{field}{}", fields.keyword_suffix)
}

fn order(o: SortOrder) -> &'static str {
    match o {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    }
}

/// One `bool.should` of alternatives (any one matches).
fn any(alternatives: Vec<Value>) -> Value {
    json!({"bool": {"should": alternatives, "minimum_should_match": 1}})
}

/// A wildcard value matching `text` anywhere, its own wildcards literal.
fn contains_wildcard(text: &str) -> String {
    let mut out = String::from("*");
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

/// The `bool.filter` clauses of a filter.
pub fn filter_clauses(filter: &LogFilter, fields: &ElasticsearchFields) -> Vec<Value> {
    let mut clauses = Vec::new();
    if let Some(namespaces) = &filter.namespaces {
        clauses.push(json!({"terms": {exact(fields, &fields.namespace): namespaces.iter().collect::<Vec<_>>()}}));
    }
    if !filter.pods.is_empty() {
        clauses.push(json!({"terms": {exact(fields, &fields.pod): filter.pods}}));
    }
    if !filter.containers.is_empty() {
        clauses.push(json!({"terms": {exact(fields, &fields.container): filter.containers}}));
    }
    if !filter.workloads.is_empty() {
        let pod = exact(fields, &fields.pod);
        clauses.push(any(filter
            .workloads
            .iter()
            .map(|w| json!({"regexp": {pod.clone(): {"value": workload::lucene_pod_pattern(w)}}}))
            .collect()));
    }
    for (field, values) in [
        (&fields.namespace, &filter.namespace_query),
        (&fields.pod, &filter.workload_query),
        (&fields.pod, &filter.pod_query),
        (&fields.container, &filter.container_query),
    ] {
        if !values.is_empty() {
            let field = exact(fields, field);
            clauses.push(any(values
                .iter()
                .map(|v| json!({"wildcard": {field.clone(): {"value": contains_wildcard(v), "case_insensitive": true}}}))
                .collect()));
        }
    }
    if !filter.log_query.is_empty() {
        clauses.push(any(filter
            .log_query
            .iter()
            .map(|k| json!({"match_phrase_prefix": {fields.log.clone(): k}}))
            .collect()));
    }
    clauses.push(json!({"range": {fields.time.clone(): {
        "gte": filter.start.div_euclid(1_000_000),
        "lte": filter.end.div_euclid(1_000_000),
        "format": "epoch_millis"
    }}}));
    clauses
}

fn query(filter: &LogFilter, fields: &ElasticsearchFields) -> Value {
    json!({"bool": {"filter": filter_clauses(filter, fields)}})
}

/// How a page continues: in a point in time (its id), or on the indices.
#[derive(Debug, Clone, Copy)]
pub enum Paging<'a> {
    /// Elasticsearch 7.12+: the point in time; `_shard_doc` breaks ties.
    PointInTime(&'a str),
    /// Elsewhere: `_id` breaks ties.
    Indices,
}

/// A page of lines: `size` hits after `search_after`, sorted by time, with
/// the exact total.
pub fn page_body(
    filter: &LogFilter,
    fields: &ElasticsearchFields,
    sort: SortOrder,
    size: usize,
    from: usize,
    search_after: Option<&[Value]>,
    paging: Paging<'_>,
) -> Value {
    let mut sorts = vec![json!({fields.time.clone(): {"order": order(sort)}})];
    let mut body = json!({
        "size": size,
        "track_total_hits": true,
        "query": query(filter, fields),
    });
    match paging {
        Paging::PointInTime(id) => body["pit"] = json!({"id": id, "keep_alive": "5m"}),
        Paging::Indices => sorts.push(json!({"_id": {"order": order(sort)}})),
    }
    body["sort"] = Value::Array(sorts);
    if from > 0 {
        body["from"] = from.into();
    }
    if let Some(after) = search_after {
        body["search_after"] = Value::Array(after.to_vec());
    }
    body
}

/// Line count and distinct containers (`cardinality` of the container id).
pub fn statistics_body(filter: &LogFilter, fields: &ElasticsearchFields) -> Value {
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": query(filter, fields),
        "aggs": {"containers": {"cardinality": {"field": exact(fields, &fields.docker_id)}}}
    })
}

/// Line counts per `interval` (ns, whole seconds) bucket.
pub fn histogram_body(filter: &LogFilter, fields: &ElasticsearchFields, interval: i64) -> Value {
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": query(filter, fields),
        "aggs": {"histogram": {"date_histogram": {
            "field": fields.time,
            "fixed_interval": format!("{}s", interval / 1_000_000_000),
            "min_doc_count": 1
        }}}
    })
}

/// Streams per bucket: a `composite` aggregation on the namespace, pod and
/// container (and a `date_histogram` of `bucket` ns), one page after `after`.
pub fn volume_body(
    filter: &LogFilter,
    fields: &ElasticsearchFields,
    bucket: Option<i64>,
    after: Option<&Value>,
    size: usize,
) -> Value {
    let mut sources = vec![
        json!({"namespace": {"terms": {"field": exact(fields, &fields.namespace), "missing_bucket": true}}}),
        json!({"pod": {"terms": {"field": exact(fields, &fields.pod), "missing_bucket": true}}}),
        json!({"container": {"terms": {"field": exact(fields, &fields.container), "missing_bucket": true}}}),
    ];
    if let Some(width) = bucket {
        sources.push(json!({"bucket": {"date_histogram": {
            "field": fields.time,
            "fixed_interval": format!("{}ms", (width / 1_000_000).max(1))
        }}}));
    }
    let mut composite = json!({"size": size, "sources": sources});
    if let Some(after) = after {
        composite["after"] = after.clone();
    }
    json!({
        "size": 0,
        "query": query(filter, fields),
        "aggs": {"streams": {"composite": composite}}
    })
}
