//! A stand-in Jaeger query service for tests. Jaeger cannot run on these
//! machines, so the stand-in answers with the shapes Jaeger's own
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
use periscope_traces::otlp_out::traces_data;
use periscope_traces::span::kind_name;
use periscope_traces::{ScopedTrace, Span, TraceId};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The stand-in's data and what it was asked.
#[derive(Clone)]
pub struct Jaeger {
    pub spans: Arc<Vec<Span>>,
    /// Query strings of the searches received.
    pub searches: Arc<Mutex<Vec<String>>>,
    /// What `/api/dependencies` answers: (parent, child, calls).
    pub dependencies: Arc<Vec<(String, String, u64)>>,
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

async fn dependency_graph(State(j): State<Jaeger>) -> Json<Value> {
    let data: Vec<Value> = j
        .dependencies
        .iter()
        .map(|(parent, child, calls)| json!({"parent": parent, "child": child, "callCount": calls}))
        .collect();
    Json(json!({"total": data.len(), "data": data, "limit": 0, "offset": 0, "errors": null}))
}

/// Serves `spans` on a free loopback port; returns its URL and state.
pub async fn start(spans: Vec<Span>, dependencies: Vec<(String, String, u64)>) -> (String, Jaeger) {
    let jaeger = Jaeger {
        spans: Arc::new(spans),
        searches: Arc::default(),
        dependencies: Arc::new(dependencies),
    };
    let app = Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(search))
        .route("/api/v3/traces/{id}", get(trace))
        .route("/api/dependencies", get(dependency_graph))
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
