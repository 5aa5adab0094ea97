//! The searches as query DSL (pure functions, golden-tested).

use super::Layout;
use periscope_record_search::{Namespaces, Search, SortOrder};
use serde_json::{json, Value};

/// `value` as a wildcard pattern matching itself literally.
fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `field` is one of `values` (none: no clause).
pub(crate) fn terms(field: &str, values: &[impl serde::Serialize]) -> Option<Value> {
    (!values.is_empty()).then(|| json!({"terms": {field: values}}))
}

/// `field` contains one of `values`, ignoring case (none: no clause).
pub(crate) fn contains(field: &str, values: &[String]) -> Option<Value> {
    any(values
        .iter()
        .map(|v| json!({"wildcard": {field: {"value": format!("*{}*", literal(v)), "case_insensitive": true}}}))
        .collect())
}

/// `field` equals one of `values`, ignoring case.
pub(crate) fn equals_any_case(field: &str, values: &[String]) -> Option<Value> {
    any(values
        .iter()
        .map(|v| json!({"wildcard": {field: {"value": literal(v), "case_insensitive": true}}}))
        .collect())
}

/// The text `field` holds one of the phrases.
pub(crate) fn phrases(field: &str, values: &[String]) -> Option<Value> {
    any(values
        .iter()
        .map(|v| json!({"match_phrase": {field: v}}))
        .collect())
}

fn any(clauses: Vec<Value>) -> Option<Value> {
    match clauses.len() {
        0 => None,
        1 => clauses.into_iter().next(),
        _ => Some(json!({"bool": {"should": clauses, "minimum_should_match": 1}})),
    }
}

/// The scope: the namespace `field` in the set (an empty set matches
/// nothing: an empty `terms`), and containing one of the substrings.
pub(crate) fn scope(field: &str, namespaces: &Namespaces) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(set) = &namespaces.set {
        out.push(json!({"terms": {field: set.iter().collect::<Vec<_>>()}}));
    }
    out.extend(contains(field, &namespaces.search));
    out
}

fn query<L: Layout>(filter: &L::Filter, search: &Search) -> Value {
    let (mut clauses, exclusions) = L::clauses(filter);
    clauses.insert(
        0,
        json!({"range": {L::TIME: {"gte": search.start.div_euclid(1_000_000), "lte": search.end.div_euclid(1_000_000), "format": "epoch_millis"}}}),
    );
    let mut bool_query = json!({"filter": clauses});
    if !exclusions.is_empty() {
        bool_query["must_not"] = json!(exclusions);
    }
    json!({"bool": bool_query})
}

/// A page: sorted by time then the record's identity, `search_after` the
/// previous page's last sort values.
pub fn page_body<L: Layout>(
    filter: &L::Filter,
    search: &Search,
    size: usize,
    from: usize,
    after: Option<Vec<Value>>,
) -> Value {
    let order = match search.sort {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    };
    let mut sort = vec![json!({L::TIME: {"order": order}})];
    sort.extend(L::TIES.iter().map(|t| json!({*t: {"order": order}})));
    let mut body = json!({
        "query": query::<L>(filter, search),
        "sort": sort,
        "size": size,
        "track_total_hits": true,
    });
    if from > 0 {
        body["from"] = json!(from);
    }
    if let Some(after) = after {
        body["search_after"] = json!(after);
    }
    body
}

/// The count and the distinct resources.
pub fn statistics_body<L: Layout>(filter: &L::Filter, search: &Search) -> Value {
    json!({
        "query": query::<L>(filter, search),
        "size": 0,
        "track_total_hits": true,
        "aggs": {"resources": {"cardinality": {"field": L::RESOURCES}}},
    })
}

/// Counts per `search.interval` of the time field (bucket keys in epoch ms).
pub fn histogram_body<L: Layout>(filter: &L::Filter, search: &Search) -> Value {
    json!({
        "query": query::<L>(filter, search),
        "size": 0,
        "aggs": {"buckets": {"date_histogram": {
            "field": L::TIME,
            "fixed_interval": format!("{}ms", (search.interval / 1_000_000).max(1)),
            "min_doc_count": 1,
        }}},
    })
}
