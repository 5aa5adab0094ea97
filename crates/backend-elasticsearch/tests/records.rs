//! The events and audit backends against a stand-in HTTP server answering
//! in the shapes Elasticsearch's documentation gives (search hits with `sort`,
//! `cardinality` and `date_histogram` aggregations, `_bulk` items with
//! `result` and `error`). No Elasticsearch can run on these machines; this
//! checks what Periscope sends (index names, DSL, bulk lines, ids) and that
//! it reads those documented answers into KubeSphere's shapes.

use axum::body::Bytes;
use axum::extract::Request;
use axum::response::IntoResponse;
use periscope_audit::AuditRequest;
use periscope_backend_elasticsearch::{
    AuditLayout, ConnectionConfig, ElasticsearchRecords, EventLayout,
};
use periscope_events::EventRequest;
use periscope_model::Scope;
use periscope_record_search::RecordBackend;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    body: String,
}

/// A search answer: two KubeSphere event documents with their sort values.
fn event_hits() -> Value {
    let doc = |uid: &str, ns: &str, ms: i64| {
        json!({
            "_index": "ks-logstash-events-2026.11.30", "_id": uid, "_score": null,
            "_source": {"metadata": {"uid": uid, "namespace": ns}, "involvedObject": {"kind": "Pod", "namespace": ns, "name": "web-1"}, "reason": "BackOff", "count": 3, "type": "Warning", "lastTimestamp": "2026-11-30T10:00:00Z", "@timestamp": "2026-11-30T10:00:00.000Z"},
            "sort": [ms, uid]
        })
    };
    json!({"took": 1, "timed_out": false, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": 57, "relation": "eq"}, "max_score": null, "hits": [doc("u2", "team-a", 1796032900000), doc("u1", "team-a", 1796032800000)]}})
}

async fn stand_in() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |request: Request| {
        let seen = Arc::clone(&recorder);
        async move {
            let path = request.uri().path_and_query().unwrap().to_string();
            let bytes: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
            let body = String::from_utf8(bytes.to_vec()).unwrap();
            seen.lock().unwrap().push(Seen { path: path.clone(), body: body.clone() });
            let json_body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let answer = if path.starts_with("/_bulk") {
                let ids: Vec<String> = body
                    .lines()
                    .step_by(2)
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()["index"]["_id"].as_str().unwrap().to_string())
                    .collect();
                let items: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        if id.contains("refused") {
                            json!({"index": {"_index": "x", "_id": id, "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [count]"}}})
                        } else {
                            json!({"index": {"_index": "x", "_id": id, "_version": 1, "result": if i == 0 { "created" } else { "updated" }, "status": 201}})
                        }
                    })
                    .collect();
                json!({"took": 3, "errors": ids.iter().any(|i| i.contains("refused")), "items": items})
            } else if json_body["aggs"]["resources"].is_object() {
                json!({"took": 1, "hits": {"total": {"value": 57, "relation": "eq"}, "hits": []}, "aggregations": {"resources": {"value": 9}}})
            } else if json_body["aggs"]["buckets"].is_object() {
                json!({"took": 1, "hits": {"total": {"value": 57, "relation": "eq"}, "hits": []}, "aggregations": {"buckets": {"buckets": [
                    {"key_as_string": "2026-11-30T10:00:00.000Z", "key": 1796032800000_i64, "doc_count": 40},
                    {"key_as_string": "2026-11-30T10:15:00.000Z", "key": 1796033700000_i64, "doc_count": 17}]}}})
            } else {
                event_hits()
            };
            axum::Json(answer).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn connection(url: &str) -> ConnectionConfig {
    ConnectionConfig {
        url: url.into(),
        username: None,
        password: None,
        api_key: None,
        timeout: std::time::Duration::from_secs(5),
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn event_searches_read_kubesphere_s_indices_in_its_shapes() {
    let (url, seen) = stand_in().await;
    let es = ElasticsearchRecords::<EventLayout>::new(&connection(&url), None).unwrap();
    let tenant = Scope::namespaces(["team-a"]);
    let request = EventRequest::parse(
        &pairs(&[
            ("start_time", "1796032800"),
            ("end_time", "1796040000"),
            ("size", "2"),
            ("involved_object_name_search", "we*b"),
            ("reason_filter", "BackOff"),
        ]),
        &tenant,
        &BTreeMap::new(),
        0,
    )
    .unwrap();
    let page = es.query(&request.filter, &request.search).await.unwrap();
    assert_eq!(page.total, 57);
    let records = page.records.unwrap();
    let first: Value = serde_json::from_str(records[0].get()).unwrap();
    assert_eq!(
        first["metadata"]["uid"], "u2",
        "records are the documents' _source"
    );
    let sent = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        sent.path,
        "/ks-logstash-events-2026.11.30/_search?ignore_unavailable=true&allow_no_indices=true"
    );
    let body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        body,
        json!({
            "query": {"bool": {"filter": [
                {"range": {"lastTimestamp": {"gte": 1796032800000_i64, "lte": 1796040000000_i64, "format": "epoch_millis"}}},
                {"terms": {"involvedObject.namespace.keyword": ["team-a"]}},
                {"wildcard": {"involvedObject.name.keyword": {"value": "*we\\*b*", "case_insensitive": true}}},
                {"terms": {"reason.keyword": ["BackOff"]}}
            ]}},
            "sort": [{"lastTimestamp": {"order": "desc"}}, {"metadata.uid.keyword": {"order": "desc"}}],
            "size": 2,
            "track_total_hits": true
        })
    );
    // The full page's cursor continues after its last hit.
    let cursor = page.cursor.unwrap();
    let mut next = request.clone();
    next.search.cursor = Some(periscope_record_search::Cursor::decode(&cursor).unwrap());
    es.query(&next.filter, &next.search).await.unwrap();
    let body: Value = serde_json::from_str(&seen.lock().unwrap().last().unwrap().body).unwrap();
    assert_eq!(body["search_after"], json!([1796032800000_i64, "u1"]));

    let stats = es
        .statistics(&request.filter, &request.search)
        .await
        .unwrap();
    assert_eq!((stats.resources, stats.events), (9, 57));
    let body: Value = serde_json::from_str(&seen.lock().unwrap().last().unwrap().body).unwrap();
    assert_eq!(
        body["aggs"],
        json!({"resources": {"cardinality": {"field": "involvedObject.uid.keyword"}}})
    );
    let histogram = es
        .histogram(&request.filter, &request.search)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&histogram).unwrap(),
        json!({"total": 57, "buckets": [{"time": 1796032800000_i64, "count": 40}, {"time": 1796033700000_i64, "count": 17}]})
    );
    let body: Value = serde_json::from_str(&seen.lock().unwrap().last().unwrap().body).unwrap();
    assert_eq!(
        body["aggs"]["buckets"]["date_histogram"]["fixed_interval"],
        "900000ms"
    );
}

#[tokio::test]
async fn writes_go_to_the_day_s_index_under_the_record_s_key() {
    let (url, seen) = stand_in().await;
    let es =
        ElasticsearchRecords::<EventLayout>::new(&connection(&url), Some("ks-logstash-events"))
            .unwrap();
    let line = |uid: &str, last: &str| {
        json!({"metadata": {"uid": uid, "namespace": "team-a", "name": "web-1.x"}, "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "web-1"}, "reason": "BackOff", "count": 2, "type": "Warning", "lastTimestamp": last}).to_string()
    };
    let body = [
        line("u1", "2026-11-30T23:59:00Z"),
        line("u2", "2026-12-01T00:01:00Z"),
    ]
    .join("\n");
    let parsed = periscope_events::parse_body(&body, "east", 1 << 20).unwrap();
    let ingested = es.ingest(parsed.records).await.unwrap();
    assert_eq!(
        (ingested.stored, ingested.duplicates),
        (1, 1),
        "the second replaced its document"
    );
    let sent = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent.path, "/_bulk");
    let lines: Vec<Value> = sent
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0],
        json!({"index": {"_index": "ks-logstash-events-2026.11.30", "_id": "east/u1"}})
    );
    assert_eq!(
        lines[2],
        json!({"index": {"_index": "ks-logstash-events-2026.12.01", "_id": "east/u2"}})
    );
    assert_eq!(lines[1]["cluster"], "east");
    assert_eq!(lines[1]["@timestamp"], "2026-11-30T23:59:00.000Z");
    // A refused document fails the request (the shipper retries; ids make it idempotent).
    let refused =
        periscope_events::parse_body(&line("refused", "2026-11-30T10:00:00Z"), "east", 1 << 20)
            .unwrap();
    let e = es.ingest(refused.records).await.unwrap_err();
    assert!(
        e.message().contains("failed to parse field [count]"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn audit_searches_use_kubesphere_s_pascal_case_fields_and_scope() {
    let (url, seen) = stand_in().await;
    let es = ElasticsearchRecords::<AuditLayout>::new(&connection(&url), None).unwrap();
    let request = AuditRequest::parse(
        &pairs(&[
            ("start_time", "1796032800"),
            ("end_time", "1796040000"),
            ("verb_filter", "create"),
            ("objectref_subresource_filter", "exec"),
            ("response_code_filter", "101"),
            ("operation", "statistics"),
        ]),
        &Scope::namespaces(["team-a", "team-b"]),
        &BTreeMap::new(),
        0,
    )
    .unwrap();
    es.statistics(&request.filter, &request.search)
        .await
        .unwrap();
    let sent = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        sent.path
            .starts_with("/ks-logstash-auditing-2026.11.30/_search"),
        "{}",
        sent.path
    );
    let body: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        body["query"],
        json!({"bool": {
            "filter": [
                {"range": {"RequestReceivedTimestamp": {"gte": 1796032800000_i64, "lte": 1796040000000_i64, "format": "epoch_millis"}}},
                {"terms": {"ObjectRef.Namespace.keyword": ["team-a", "team-b"]}},
                {"terms": {"ObjectRef.Subresource.keyword": ["exec"]}},
                {"terms": {"Verb.keyword": ["create"]}},
                {"terms": {"ResponseStatus.code": [101]}}
            ],
            "must_not": [{"term": {"ObjectRef.Resource.keyword": "namespaces"}}]
        }})
    );
    assert_eq!(
        body["aggs"],
        json!({"resources": {"cardinality": {"field": "AuditID.keyword"}}})
    );
    // A cluster admin's unnarrowed search excludes nothing.
    let admin = AuditRequest::parse(
        &pairs(&[("start_time", "1796032800"), ("end_time", "1796040000")]),
        &Scope::ClusterWide,
        &BTreeMap::new(),
        0,
    )
    .unwrap();
    es.query(&admin.filter, &admin.search).await.unwrap();
    let body: Value = serde_json::from_str(&seen.lock().unwrap().last().unwrap().body).unwrap();
    assert!(body["query"]["bool"].get("must_not").is_none());
    assert_eq!(
        body["sort"],
        json!([{"RequestReceivedTimestamp": {"order": "desc"}}, {"AuditID.keyword": {"order": "desc"}}, {"Stage.keyword": {"order": "desc"}}])
    );
}
