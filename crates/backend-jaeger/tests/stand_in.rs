//! The Jaeger backend against a stand-in Jaeger query service. Jaeger cannot
//! run on these machines, so the stand-in answers with the shapes Jaeger's own
//! sources define: api_v3's parameter names and their snake_case aliases
//! (cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/query_parser.go),
//! the `{"result": TracesData}` envelope and 404 for nothing found
//! (apiv3/snapshots/FindTraces.json, GetTrace.json), `{"services": [...]}`
//! and `{"operations": [{name, spanKind}]}` (GetServices.json,
//! GetOperations.json), and the v1 `/api/dependencies` envelope
//! (`{"data": [{parent, child, callCount}]}`). Its search semantics are
//! Jaeger's: a trace matches when one span has the service, operation and
//! every attribute (span or resource) asked for.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use periscope_backend_jaeger::JaegerTraces;
use periscope_config::{JaegerApi, JaegerConfig};
use periscope_model::{ErrorKind, Scope};
use periscope_traces::otlp::PlaceAttributes;
use periscope_traces::otlp_out::traces_data;
use periscope_traces::service::OPAQUE_SERVICE;
use periscope_traces::span::kind_name;
use periscope_traces::{Edge, Place, ScopedTrace, Span, SpanId, Tag, TraceId, TraceService};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MS: i64 = 1_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    namespace: Option<&str>,
    at: i64,
) -> Span {
    let mut resource = vec![Tag::string("service.name", service)];
    if let Some(ns) = namespace {
        resource.push(Tag::string("k8s.namespace.name", ns));
    }
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([trace, id, 0, 0, 0, 0, 0, 1]),
        parent_span_id: parent.map(|p| SpanId([trace, p, 0, 0, 0, 0, 0, 1])),
        service: service.into(),
        operation: format!("{service} op"),
        kind: 2,
        status_code: 0,
        start: at,
        duration: 10 * MS,
        place: Place {
            namespace: namespace.unwrap_or_default().into(),
            ..Place::default()
        },
        tags: vec![Tag::string("span.kind", "server")],
        resource: resource.into(),
        events: vec![],
        links: vec![],
    }
}

/// T1 frontend (team-a) → api (team-a) → db (team-b); T2 api (team-a);
/// T3 db (team-b); T4 batch without a namespace.
fn fixture() -> Vec<Span> {
    let t = now() - 60_000 * MS;
    vec![
        span(1, 1, None, "frontend", Some("team-a"), t),
        span(1, 2, Some(1), "api", Some("team-a"), t + MS),
        span(1, 3, Some(2), "db", Some("team-b"), t + 2 * MS),
        span(2, 1, None, "api", Some("team-a"), t + 100 * MS),
        span(3, 1, None, "db", Some("team-b"), t + 50 * MS),
        span(4, 1, None, "batch", None, t + 30 * MS),
    ]
}

#[derive(Clone)]
struct Jaeger {
    spans: Arc<Vec<Span>>,
    /// Query strings of the searches received.
    searches: Arc<Mutex<Vec<String>>>,
}

fn param(query: &[(String, String)], names: &[&str]) -> Option<String> {
    query
        .iter()
        .find(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
        .map(|(_, v)| v.clone())
}

fn not_found() -> Response {
    let body = json!({"error": {"grpcCode": 5, "httpCode": 404, "message": "trace not found", "httpStatus": "Not Found"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn result(spans: Vec<Span>) -> Response {
    if spans.is_empty() {
        return not_found();
    }
    let trace = ScopedTrace {
        trace_id: spans[0].trace_id,
        spans,
        hidden: 0,
    };
    Json(json!({"result": serde_json::to_value(traces_data(&[trace])).unwrap()})).into_response()
}

async fn services(State(j): State<Jaeger>) -> Json<Value> {
    let mut names: Vec<&str> = j.spans.iter().map(|s| s.service.as_str()).collect();
    names.sort();
    names.dedup();
    Json(json!({ "services": names }))
}

async fn operations(State(j): State<Jaeger>, RawQuery(q): RawQuery) -> Json<Value> {
    let q: Vec<(String, String)> = form_urlencoded(&q);
    let service = param(&q, &["service"]).unwrap_or_default();
    let mut ops: Vec<Value> = j
        .spans
        .iter()
        .filter(|s| s.service == service)
        .map(|s| json!({"name": s.operation, "spanKind": kind_name(s.kind).unwrap()}))
        .collect();
    ops.dedup();
    Json(json!({ "operations": ops }))
}

fn form_urlencoded(q: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn search(State(j): State<Jaeger>, RawQuery(raw): RawQuery) -> Response {
    j.searches
        .lock()
        .unwrap()
        .push(raw.clone().unwrap_or_default());
    let q = form_urlencoded(&raw);
    let time = |names: &[&str]| {
        param(&q, names)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
    };
    let (Some(min), Some(max)) = (
        time(&["query.startTimeMin", "query.start_time_min"]),
        time(&["query.startTimeMax", "query.start_time_max"]),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "start_time_min and start_time_max are required",
        )
            .into_response();
    };
    let service = param(&q, &["query.serviceName", "query.service_name"]);
    let operation = param(&q, &["query.operationName", "query.operation_name"]);
    let attributes: Vec<(String, String)> = param(&q, &["query.attributes"])
        .map(|a| serde_json::from_str::<std::collections::BTreeMap<String, String>>(&a).unwrap())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let depth: usize =
        param(&q, &["query.searchDepth", "query.search_depth"]).map_or(20, |d| d.parse().unwrap());
    let traces = matching(&j, service, operation, &attributes, (min, max), depth);
    if traces.is_empty() {
        return not_found();
    }
    Json(json!({"result": serde_json::to_value(traces_data(&traces)).unwrap()})).into_response()
}

/// Jaeger's search semantics: whole traces with one span of the service and
/// operation carrying every attribute (span or resource), started in the window.
fn matching(
    j: &Jaeger,
    service: Option<String>,
    operation: Option<String>,
    attributes: &[(String, String)],
    (min, max): (i64, i64),
    depth: usize,
) -> Vec<ScopedTrace> {
    let mut traces: Vec<TraceId> = Vec::new();
    for s in j.spans.iter() {
        let has = |k: &str, v: &str| {
            s.tags
                .iter()
                .chain(s.resource.iter())
                .any(|t| t.key == k && t.value.as_text() == v)
        };
        if service.as_ref().is_none_or(|x| *x == s.service)
            && operation.as_ref().is_none_or(|x| *x == s.operation)
            && attributes.iter().all(|(k, v)| has(k, v))
            && (min..=max).contains(&s.start)
            && !traces.contains(&s.trace_id)
        {
            traces.push(s.trace_id);
        }
    }
    traces.truncate(depth);
    traces
        .iter()
        .map(|id| ScopedTrace {
            trace_id: *id,
            spans: j
                .spans
                .iter()
                .filter(|s| s.trace_id == *id)
                .cloned()
                .collect(),
            hidden: 0,
        })
        .collect()
}

/// Jaeger's v1 internal API: the same data in its UI model.
async fn v1_services(State(j): State<Jaeger>) -> Json<Value> {
    let Json(v3) = services(State(j)).await;
    Json(json!({"data": v3["services"], "total": 0, "limit": 0, "offset": 0, "errors": null}))
}

async fn v1_operations(State(j): State<Jaeger>, raw: RawQuery) -> Json<Value> {
    let Json(v3) = operations(State(j), raw).await;
    Json(json!({"data": v3["operations"], "total": 0, "limit": 0, "offset": 0, "errors": null}))
}

fn v1_traces(traces: &[ScopedTrace]) -> Response {
    if traces.is_empty() {
        let body = json!({"data": null, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": 404, "msg": "trace not found"}]});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let data: Vec<Value> = traces.iter().map(periscope_traces::jaeger::trace).collect();
    Json(json!({"data": data, "total": data.len(), "limit": 0, "offset": 0, "errors": null}))
        .into_response()
}

async fn v1_search(State(j): State<Jaeger>, RawQuery(raw): RawQuery) -> Response {
    j.searches
        .lock()
        .unwrap()
        .push(raw.clone().unwrap_or_default());
    let q = form_urlencoded(&raw);
    let micros = |name: &str| param(&q, &[name]).map(|t| t.parse::<i64>().unwrap() * 1000);
    let (Some(min), Some(max)) = (micros("start"), micros("end")) else {
        return (StatusCode::BAD_REQUEST, "start and end are expected").into_response();
    };
    let Some(service) = param(&q, &["service"]) else {
        return (StatusCode::BAD_REQUEST, "parameter 'service' is required").into_response();
    };
    let tags: Vec<(String, String)> = param(&q, &["tags"])
        .map(|a| serde_json::from_str::<std::collections::BTreeMap<String, String>>(&a).unwrap())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let limit = param(&q, &["limit"]).map_or(100, |l| l.parse().unwrap());
    let traces = matching(
        &j,
        Some(service),
        param(&q, &["operation"]),
        &tags,
        (min, max),
        limit,
    );
    v1_traces(&traces)
}

async fn v1_trace(State(j): State<Jaeger>, Path(id): Path<String>) -> Response {
    let id = TraceId::parse(&id).unwrap();
    let traces = matching(&j, None, None, &[], (i64::MIN, i64::MAX), usize::MAX);
    let found: Vec<ScopedTrace> = traces.into_iter().filter(|t| t.trace_id == id).collect();
    v1_traces(&found)
}

async fn trace(State(j): State<Jaeger>, Path(id): Path<String>) -> Response {
    let Ok(id) = TraceId::parse(&id) else {
        return (StatusCode::BAD_REQUEST, "malformed parameter trace_id").into_response();
    };
    result(
        j.spans
            .iter()
            .filter(|s| s.trace_id == id)
            .cloned()
            .collect(),
    )
}

async fn dependencies() -> Json<Value> {
    Json(
        json!({"data": [{"parent": "frontend", "child": "api", "callCount": 1},
                         {"parent": "api", "child": "db", "callCount": 1}],
                "total": 2, "limit": 0, "offset": 0, "errors": null}),
    )
}

async fn stand_in() -> (String, Jaeger) {
    let jaeger = Jaeger {
        spans: Arc::new(fixture()),
        searches: Arc::default(),
    };
    let app = Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(search))
        .route("/api/v3/traces/{id}", get(trace))
        .route("/api/dependencies", get(dependencies))
        .route("/api/services", get(v1_services))
        .route("/api/operations", get(v1_operations))
        .route("/api/traces", get(v1_search))
        .route("/api/traces/{id}", get(v1_trace))
        .with_state(jaeger.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, jaeger)
}

fn service_at(url: &str) -> TraceService {
    service_with(url, JaegerApi::V3)
}

fn service_with(url: &str, api: JaegerApi) -> TraceService {
    let config = JaegerConfig {
        url: url.to_string(),
        timeout: Duration::from_secs(5),
        api,
    };
    TraceService::new(Arc::new(
        JaegerTraces::new(&config, PlaceAttributes::default()).unwrap(),
    ))
}

fn team(ns: &str) -> Scope {
    Scope::namespaces([ns.to_string()])
}

fn query(service: &str) -> periscope_traces::SpanQuery {
    periscope_traces::SpanQuery {
        service: Some(service.into()),
        operation: None,
        kind: None,
        tags: vec![],
        start: now() - 3_600_000 * MS,
        end: now(),
        min_duration: None,
        max_duration: None,
        limit: 20,
    }
}

#[tokio::test]
async fn a_tenant_reaches_only_its_namespaces_through_jaeger_api_v3() {
    tenancy_through(JaegerApi::V3, "query.attributes").await;
}

#[tokio::test]
async fn a_tenant_reaches_only_its_namespaces_through_jaeger_v1() {
    tenancy_through(JaegerApi::V1, "tags=").await;
}

/// The whole tenancy check through one of Jaeger's APIs; `filter` is how that
/// API's searches carry attributes.
async fn tenancy_through(api: JaegerApi, filter: &str) {
    let (url, jaeger) = stand_in().await;
    let service = service_with(&url, api);
    let a = team("team-a");

    assert_eq!(service.services(&a).await.unwrap(), ["api", "frontend"]);
    assert_eq!(service.services(&team("team-b")).await.unwrap(), ["db"]);
    assert_eq!(
        service.services(&Scope::ClusterWide).await.unwrap(),
        ["api", "batch", "db", "frontend"]
    );
    assert!(service
        .operations("db".into(), None, &a)
        .await
        .unwrap()
        .is_empty());
    let ops = service.operations("api".into(), Some(2), &a).await.unwrap();
    assert_eq!(
        ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["api op"]
    );

    let found = service.search(query("api"), &a).await.unwrap();
    let ids: Vec<String> = found.iter().map(|t| t.trace_id.to_string()).collect();
    assert_eq!(
        ids,
        [TraceId([2; 16]).to_string(), TraceId([1; 16]).to_string()],
        "newest first"
    );
    assert_eq!(
        (found[1].spans.len(), found[1].hidden),
        (2, 1),
        "db in team-b pruned"
    );
    assert!(service.search(query("db"), &a).await.unwrap().is_empty());
    assert!(service.search(query("batch"), &a).await.unwrap().is_empty());
    assert!(
        service.trace(TraceId([3; 16]), &a).await.unwrap().is_none(),
        "another tenant's trace"
    );
    assert!(
        service.trace(TraceId([4; 16]), &a).await.unwrap().is_none(),
        "a trace without a namespace"
    );
    assert_eq!(
        service
            .trace(TraceId([1; 16]), &Scope::ClusterWide)
            .await
            .unwrap()
            .unwrap()
            .spans
            .len(),
        3
    );

    // Every search Jaeger received for a scoped caller named the namespace.
    let searches = jaeger.searches.lock().unwrap().clone();
    assert!(!searches.is_empty());
    let scoped: Vec<&String> = searches.iter().filter(|q| q.contains(filter)).collect();
    assert!(
        scoped.iter().all(|q| q.contains("k8s.namespace.name")),
        "{scoped:?}"
    );

    // Dependencies: a scoped graph from its traces, a foreign end opaque;
    // cluster-wide callers get Jaeger's own graph.
    let (start, end) = (now() - 3_600_000 * MS, now());
    let edge = |p: &str, c: &str| Edge {
        parent: p.into(),
        child: c.into(),
        calls: 1,
    };
    assert_eq!(
        service.dependencies(start, end, &a).await.unwrap(),
        [edge("api", OPAQUE_SERVICE), edge("frontend", "api")]
    );
    assert_eq!(
        service
            .dependencies(start, end, &team("team-b"))
            .await
            .unwrap(),
        [edge(OPAQUE_SERVICE, "db")]
    );
    assert_eq!(
        service
            .dependencies(start, end, &Scope::ClusterWide)
            .await
            .unwrap(),
        [edge("api", "db"), edge("frontend", "api")]
    );
    // TraceQL through Jaeger: the pushed-down service asked of Jaeger, the
    // rest evaluated on the spans it returned, within the scope.
    let traceql = |q: &str| Arc::new(periscope_traces::traceql::parse(q).unwrap());
    let ids = |found: Vec<periscope_traces::FoundTrace>| -> Vec<TraceId> {
        found.iter().map(|f| f.trace.trace_id).collect()
    };
    let found = service
        .search_traceql(
            traceql(r#"{ resource.service.name = "api" }"#),
            start,
            end,
            20,
            &a,
        )
        .await
        .unwrap();
    assert_eq!(ids(found), [TraceId([2; 16]), TraceId([1; 16])]);
    let found = service
        .search_traceql(
            traceql(r#"{ rootServiceName = "frontend" }"#),
            start,
            end,
            20,
            &a,
        )
        .await
        .unwrap();
    assert_eq!(ids(found), [TraceId([1; 16])]);
    for q in [
        r#"{ resource.service.name = "db" }"#,
        r#"{ .k8s.namespace.name = "team-b" }"#,
    ] {
        let found = service
            .search_traceql(traceql(q), start, end, 20, &a)
            .await
            .unwrap();
        assert!(found.is_empty(), "{q}");
    }
    // Where services ran, from the spans Jaeger returned.
    let placed = service.placements(start, end, &a).await.unwrap();
    let services: Vec<&str> = placed.iter().map(|p| p.service.as_str()).collect();
    assert_eq!(services, ["api", "frontend"]);
    assert!(placed.iter().all(|p| p.namespace == "team-a"));

    // An empty scope sees nothing, and asks nothing.
    let nobody = Scope::namespaces(Vec::<String>::new());
    assert!(service.services(&nobody).await.unwrap().is_empty());
    assert!(service
        .search(query("api"), &nobody)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn jaeger_failures_are_precise_and_ingest_is_refused() {
    // A closed port: unreachable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let service = service_at(&format!("http://{closed}"));
    let e = service.services(&Scope::ClusterWide).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(e.message().contains("did not answer"), "{e}");
    // A Jaeger answering 500.
    let app = Router::new().route(
        "/api/v3/services",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let e = service_at(&url)
        .services(&Scope::ClusterWide)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
    assert!(
        e.message().contains("500") && e.message().contains("boom"),
        "{e}"
    );
    let (url, _) = stand_in().await;
    let e = service_at(&url).ingest(fixture()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MethodNotAllowed);
}
