//! The client against a stand-in HTTP server that answers with response bodies
//! in the shapes Elasticsearch's and OpenSearch's documentation show (root
//! info, open point in time, search hits with `sort` and `pit_id`,
//! `cardinality` and `date_histogram` aggregations, error bodies). No
//! Elasticsearch can run on these machines; this checks what Periscope sends
//! (paths, authentication, DSL) and that it reads those documented answers.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use periscope_backend_elasticsearch::ElasticsearchLogs;
use periscope_config::{ElasticsearchConfig, ElasticsearchFields};
use periscope_logs::{LogRequest, SortOrder};
use periscope_model::{ErrorKind, Scope};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

const ES8_ROOT: &str = r#"{"name":"instance-0000000000","cluster_name":"my_cluster","cluster_uuid":"5QaxoN0pRZuOmWSxstBBwQ","version":{"number":"8.11.1","build_flavor":"default","build_type":"docker","build_hash":"6f9ff581fbcde658e6f69d6ce03050f060d1fd0c","build_date":"2023-11-11T10:05:59.421038163Z","build_snapshot":false,"lucene_version":"9.8.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}"#;
const OS2_ROOT: &str = r#"{"name":"opensearch-node1","cluster_name":"opensearch-cluster","cluster_uuid":"W0B8gPotTAajhMPbC9D4ww","version":{"distribution":"opensearch","number":"2.11.0","build_type":"tar","build_hash":"4dcad6dd1fd45b6bd91f041a041829c8687278fa","build_date":"2023-10-13T02:55:55.511945994Z","build_snapshot":false,"lucene_version":"9.7.0","minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"}"#;

/// A search response with `n` hits of KubeSphere-shaped documents.
fn hits(n: usize, total: u64, pit: bool) -> Value {
    let hits: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "_index": "ks-logstash-log-2026.11.26", "_id": format!("id-{i}"), "_score": null,
                "_source": {
                    "log": format!("line {i}\n"), "time": "2026-11-26T10:00:00.123456789Z", "@timestamp": "2026-11-26T10:00:00.123Z",
                    "kubernetes": {"namespace_name": "shop", "pod_name": "web-0", "container_name": "web", "docker_id": "d1", "container_image": "nginx"}
                },
                "sort": [1795687200123_i64, i]
            })
        })
        .collect();
    let mut body = json!({
        "took": 3, "timed_out": false,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": total, "relation": "eq"}, "max_score": null, "hits": hits}
    });
    if pit {
        body["pit_id"] = "46ToAwMDaWR5BXV1".into();
    }
    body
}

async fn stand_in(
    root: &'static str,
    next_hits: Arc<Mutex<Vec<usize>>>,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |request: Request| {
        let seen = Arc::clone(&recorder);
        let next_hits = Arc::clone(&next_hits);
        async move {
            let method = request.method().to_string();
            let path = request.uri().path_and_query().unwrap().to_string();
            let authorization = request.headers().get("authorization").map(|v| v.to_str().unwrap().to_string());
            let bytes: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            seen.lock().unwrap().push(Seen { method: method.clone(), path: path.clone(), authorization: authorization.clone(), body: body.clone() });
            if authorization.as_deref() == Some("ApiKey wrong") {
                let error = json!({"error": {"root_cause": [{"type": "security_exception", "reason": "unable to authenticate with provided credentials and anonymous access is not allowed for this request"}], "type": "security_exception", "reason": "unable to authenticate"}, "status": 401});
                return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
            }
            let answer = match (method.as_str(), path.split('?').next().unwrap()) {
                ("GET", "/") => serde_json::from_str(root).unwrap(),
                ("POST", p) if p.ends_with("/_pit") => json!({"id": "46ToAwMDaWR5BXV1"}),
                ("DELETE", "/_pit") => json!({"succeeded": true, "num_freed": 1}),
                ("POST", _) if body.get("aggs").is_some_and(|a| a.get("containers").is_some()) => {
                    json!({"took": 2, "timed_out": false, "hits": {"total": {"value": 1234, "relation": "eq"}, "max_score": null, "hits": []}, "aggregations": {"containers": {"value": 17}}})
                }
                // A composite aggregation (search-aggregations-bucket-composite-aggregation):
                // a first page with `after_key`, then the last, shorter one.
                ("POST", _) if body.pointer("/aggs/streams/composite").is_some() => {
                    if body.pointer("/aggs/streams/composite/after").is_none() {
                        let buckets: Vec<Value> = (0..1000)
                            .map(|i| json!({"key": {"namespace": "shop", "pod": format!("web-{i}"), "container": "web"}, "doc_count": 2}))
                            .collect();
                        json!({"took": 4, "timed_out": false, "hits": {"total": {"value": 2001, "relation": "eq"}, "hits": []},
                            "aggregations": {"streams": {"after_key": {"namespace": "shop", "pod": "web-999", "container": "web"}, "buckets": buckets}}})
                    } else {
                        json!({"took": 1, "timed_out": false, "hits": {"total": {"value": 2001, "relation": "eq"}, "hits": []},
                            "aggregations": {"streams": {"after_key": {"namespace": "shop", "pod": "db-0", "container": null}, "buckets": [
                                {"key": {"namespace": "shop", "pod": "db-0", "container": null}, "doc_count": 1}
                            ]}}})
                    }
                }
                ("POST", _) if body.get("aggs").is_some() => json!({"took": 2, "timed_out": false, "hits": {"total": {"value": 30, "relation": "eq"}, "hits": []},
                    "aggregations": {"histogram": {"buckets": [{"key_as_string": "2026-11-26T10:00:00.000Z", "key": 1795687200000_i64, "doc_count": 10}, {"key_as_string": "2026-11-26T10:15:00.000Z", "key": 1795688100000_i64, "doc_count": 20}]}}}),
                ("POST", _) => {
                    let n = next_hits.lock().unwrap().remove(0);
                    hits(n, 2500, root == ES8_ROOT)
                }
                _ => json!({"error": "unexpected request"}),
            };
            axum::Json(answer).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn config(url: &str) -> ElasticsearchConfig {
    ElasticsearchConfig {
        url: url.to_string(),
        index_prefix: "ks-logstash-log".into(),
        username: None,
        password: None,
        api_key: Some("a2V5OnNlY3JldA==".into()),
        timeout: std::time::Duration::from_secs(5),
        fields: ElasticsearchFields::default(),
    }
}

fn request(pairs: &[(&str, &str)]) -> LogRequest {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogRequest::parse(
        &pairs,
        &Scope::namespaces(["shop"]),
        1_795_687_200_000_000_000,
    )
    .unwrap()
}

#[tokio::test]
async fn elasticsearch_8_pages_in_a_point_in_time_and_exports_every_page() {
    let (url, seen) = stand_in(ES8_ROOT, Arc::new(Mutex::new(vec![2, 2, 1000, 1000, 3]))).await;
    let es = ElasticsearchLogs::new(&config(&url)).unwrap();
    let first = es
        .query(&request(&[("size", "2"), ("start_time", "1795683600")]))
        .await
        .unwrap();
    assert_eq!(first.total, 2500);
    assert_eq!(first.records[0].namespace, "shop");
    assert_eq!(first.records[0].time, 1_795_687_200_123_456_789);
    assert_eq!(first.records[1].log, "line 1\n");
    let cursor = first.cursor.clone().unwrap();
    let second = es
        .query(&request(&[
            ("size", "2"),
            ("start_time", "1795683600"),
            ("cursor", &cursor),
        ]))
        .await
        .unwrap();
    assert_eq!(second.records.len(), 2);
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let filter = request(&[]).filter;
    let export = tokio::spawn(async move { es.export(&filter, SortOrder::Desc, tx).await });
    let mut exported = 0;
    while let Some(chunk) = rx.recv().await {
        exported += chunk.len();
    }
    export.await.unwrap().unwrap();
    assert_eq!(exported, 2003);

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path.split('?').next().unwrap()))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /",
            "POST /ks-logstash-log-2026.11.26/_pit",
            "POST /_search",
            "POST /_search",
            "POST /ks-logstash-log*/_pit",
            "POST /_search",
            "POST /_search",
            "POST /_search",
            "DELETE /_pit"
        ]
    );
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some("ApiKey a2V5OnNlY3JldA==")));
    // The first page opened a point in time; the second continues after the first's last hit.
    assert_eq!(seen[2].body["pit"]["id"], "46ToAwMDaWR5BXV1");
    assert_eq!(seen[3].body["search_after"], json!([1795687200123_i64, 1]));
    assert_eq!(
        seen[2].body["query"]["bool"]["filter"][0],
        json!({"terms": {"kubernetes.namespace_name.keyword": ["shop"]}})
    );
    assert_eq!(
        seen[6].body["search_after"],
        json!([1795687200123_i64, 999])
    );
    assert_eq!(seen[8].body, json!({"id": "46ToAwMDaWR5BXV1"}));
}

#[tokio::test]
async fn opensearch_searches_the_daily_indices_and_aggregates() {
    let (url, seen) = stand_in(OS2_ROOT, Arc::new(Mutex::new(vec![1]))).await;
    let mut c = config(&url);
    c.api_key = None;
    c.username = Some("reader".into());
    c.password = Some("secret".into());
    let os = ElasticsearchLogs::new(&c).unwrap();
    let page = os
        .query(&request(&[("start_time", "1795600800")]))
        .await
        .unwrap();
    assert_eq!(
        (page.total, page.records.len(), page.cursor),
        (2500, 1, None)
    );
    let stats = os.statistics(&request(&[]).filter).await.unwrap();
    assert_eq!((stats.logs, stats.containers), (1234, 17));
    let histogram = os
        .histogram(&request(&[]).filter, 900_000_000_000)
        .await
        .unwrap();
    assert_eq!(histogram.total, 30);
    assert_eq!(histogram.histograms[1].time, 1_795_688_100_000);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[1].path, "/ks-logstash-log-2026.11.25,ks-logstash-log-2026.11.26/_search?ignore_unavailable=true&allow_no_indices=true");
    assert_eq!(seen[1].body["sort"][1], json!({"_id": {"order": "desc"}}));
    assert!(seen[1].body.get("pit").is_none());
    assert_eq!(
        seen[1].authorization.as_deref(),
        Some("Basic cmVhZGVyOnNlY3JldA==")
    );
}

#[tokio::test]
async fn refused_credentials_and_unreachable_servers_are_clear_errors() {
    let (url, _) = stand_in(ES8_ROOT, Arc::new(Mutex::new(vec![]))).await;
    let mut c = config(&url);
    c.api_key = Some("wrong".into());
    let e = ElasticsearchLogs::new(&c)
        .unwrap()
        .query(&request(&[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
    assert!(
        e.message().contains("credentials") && e.message().contains("unable to authenticate"),
        "{}",
        e.message()
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = ElasticsearchLogs::new(&config(&closed))
        .unwrap()
        .query(&request(&[]))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
    assert!(e.message().contains("cannot reach"), "{}", e.message());
}

#[tokio::test]
async fn stream_volumes_page_through_a_composite_aggregation() {
    let (url, seen) = stand_in(ES8_ROOT, Arc::new(Mutex::new(vec![]))).await;
    let es = ElasticsearchLogs::new(&config(&url)).unwrap();
    let filter = request(&[("start_time", "1795683600")]).filter;
    let volumes = es.volume(&filter, None).await.unwrap();
    assert_eq!(volumes.len(), 1001);
    assert_eq!(
        (volumes[0].pod.as_str(), volumes[0].lines, volumes[0].bytes),
        ("web-0", 2, None)
    );
    // A missing container (null key) is an empty one.
    assert_eq!(
        (volumes[1000].pod.as_str(), volumes[1000].container.as_str()),
        ("db-0", "")
    );
    let searches: Vec<Seen> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.body.get("aggs").is_some())
        .cloned()
        .collect();
    assert_eq!(searches.len(), 2);
    assert_eq!(
        searches[1].body["aggs"]["streams"]["composite"]["after"]["pod"],
        "web-999"
    );
    assert_eq!(
        searches[0].body["query"]["bool"]["filter"][0],
        json!({"terms": {"kubernetes.namespace_name.keyword": ["shop"]}})
    );
}
