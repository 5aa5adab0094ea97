//! Jaeger's query API at `/jaeger` (and `/clusters/{cluster}/jaeger`), so
//! Grafana's Jaeger datasource and the Jaeger UI work unchanged, tenant-scoped
//! on every route: `api/services`, `api/services/{service}/operations`,
//! `api/operations`, `api/traces` (search or ids), `api/traces/{id}`,
//! `api/dependencies`, and api_v3 over HTTP (`api/v3/services`,
//! `api/v3/operations`, `api/v3/traces`, `api/v3/traces/{id}`, OTLP JSON).
//! Answers and errors in Jaeger's shapes for each.

use super::traced::Traced;
use crate::error::{grpc_code, http_status, with_hint_headers};
use crate::state::AppState;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use periscope_model::{Error, ErrorKind};
use periscope_traces::otlp_out::traces_data;
use periscope_traces::query::{dependency_window, span_kind, trace_window};
use periscope_traces::{jaeger, SpanQuery, TraceId, TraceRequest};
use std::sync::Arc;

/// The Jaeger routes, relative to `/jaeger`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    use super::method_not_allowed as other;
    Router::new()
        .route("/api/services", get(services).fallback(other))
        .route(
            "/api/services/{service}/operations",
            get(service_operations).fallback(other),
        )
        .route("/api/operations", get(operations).fallback(other))
        .route("/api/traces", get(traces).fallback(other))
        .route("/api/traces/{id}", get(trace).fallback(other))
        .route("/api/dependencies", get(dependencies).fallback(other))
        .route("/api/v3/services", get(v3_services).fallback(other))
        .route("/api/v3/operations", get(v3_operations).fallback(other))
        .route("/api/v3/traces", get(v3_search).fallback(other))
        .route("/api/v3/traces/{id}", get(v3_trace).fallback(other))
}

/// An error in Jaeger's envelope with the matching status.
struct JaegerError(Error);

impl From<Error> for JaegerError {
    fn from(e: Error) -> Self {
        JaegerError(e)
    }
}

impl IntoResponse for JaegerError {
    fn into_response(self) -> Response {
        let status = http_status(self.0.kind());
        let body = Json(jaeger::error(status.as_u16(), self.0.message()));
        with_hint_headers((status, body).into_response(), self.0.kind())
    }
}

type Answer = std::result::Result<Response, JaegerError>;

fn ok(data: serde_json::Value, total: usize) -> Answer {
    Ok(Json(jaeger::envelope(data, total)).into_response())
}

fn now_ns() -> i64 {
    periscope_store::unix_now_ns()
}

async fn services(t: Traced<JaegerError>) -> Answer {
    let names = t.bounded(t.service.services(&t.caller.scope)).await?;
    ok(serde_json::json!(names), names.len())
}

async fn service_operations(
    t: Traced<JaegerError>,
    Path(path): Path<Vec<(String, String)>>,
) -> Answer {
    let name = path_value(&path, "service");
    let operations = t
        .bounded(t.service.operations(name, None, &t.caller.scope))
        .await?;
    let mut names: Vec<&str> = operations.iter().map(|o| o.name.as_str()).collect();
    names.dedup();
    ok(serde_json::json!(names), names.len())
}

/// A path parameter (the cluster may come before it).
fn path_value(params: &[(String, String)], name: &str) -> String {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

async fn operations(t: Traced<JaegerError>) -> Answer {
    let name = t
        .param(&["service"])
        .ok_or_else(|| Error::bad_request("parameter \"service\" is required"))?;
    let kind = span_kind(t.param(&["spanKind"]).as_deref())?;
    let found = t
        .bounded(t.service.operations(name, kind, &t.caller.scope))
        .await?;
    ok(jaeger::operations(&found), found.len())
}

async fn traces(t: Traced<JaegerError>) -> Answer {
    let found = match TraceRequest::parse(&t.params, now_ns())? {
        TraceRequest::Search(q) => t.bounded(t.service.search(q, &t.caller.scope)).await?,
        TraceRequest::Ids(ids) => t.bounded(t.service.traces(ids, &t.caller.scope)).await?,
    };
    let data: Vec<serde_json::Value> = found.iter().map(jaeger::trace).collect();
    ok(serde_json::Value::Array(data), found.len())
}

async fn trace(t: Traced<JaegerError>, Path(path): Path<Vec<(String, String)>>) -> Answer {
    let id = TraceId::parse(&path_value(&path, "id"))?;
    let window = trace_window(&t.params, false)?;
    match t
        .bounded(t.service.trace_within(id, window, &t.caller.scope))
        .await?
    {
        Some(found) => ok(serde_json::json!([jaeger::trace(&found)]), 1),
        None => Err(Error::new(ErrorKind::NotFound, "trace not found").into()),
    }
}

async fn dependencies(t: Traced<JaegerError>) -> Answer {
    let (start, end) = dependency_window(&t.params, now_ns())?;
    let edges = t
        .bounded(t.service.dependencies(start, end, &t.caller.scope))
        .await?;
    ok(jaeger::dependencies(&edges), edges.len())
}

/// An error in api_v3's grpc-gateway shape.
struct V3Error(Error);

impl From<Error> for V3Error {
    fn from(e: Error) -> Self {
        V3Error(e)
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = http_status(self.0.kind());
        let body = serde_json::json!({"error": {
            "grpcCode": grpc_code(self.0.kind()) as i32,
            "httpCode": status.as_u16(),
            "message": self.0.message(),
            "httpStatus": status.canonical_reason().unwrap_or(""),
        }});
        (status, Json(body)).into_response()
    }
}

type V3Answer = std::result::Result<Response, V3Error>;

async fn v3_services(t: Traced<V3Error>) -> V3Answer {
    let names = t.bounded(t.service.services(&t.caller.scope)).await?;
    Ok(Json(serde_json::json!({ "services": names })).into_response())
}

async fn v3_operations(t: Traced<V3Error>) -> V3Answer {
    let name = t
        .param(&["service"])
        .ok_or_else(|| Error::bad_request("parameter service is required"))?;
    let kind = span_kind(t.param(&["spanKind", "span_kind"]).as_deref())?;
    let found = t
        .bounded(t.service.operations(name, kind, &t.caller.scope))
        .await?;
    Ok(Json(serde_json::json!({ "operations": jaeger::operations(&found) })).into_response())
}

/// `{"result": TracesData}`, or 404 when there is nothing to show.
fn v3_result(found: &[periscope_traces::ScopedTrace]) -> V3Answer {
    if found.is_empty() {
        return Err(Error::new(ErrorKind::NotFound, "trace not found").into());
    }
    let data = serde_json::to_value(traces_data(found))
        .map_err(|e| Error::internal(format!("encoding OTLP JSON: {e}")))?;
    Ok(Json(serde_json::json!({ "result": data })).into_response())
}

async fn v3_search(t: Traced<V3Error>) -> V3Answer {
    let query = SpanQuery::parse_v3(&t.params)?;
    v3_result(&t.bounded(t.service.search(query, &t.caller.scope)).await?)
}

async fn v3_trace(t: Traced<V3Error>, Path(path): Path<Vec<(String, String)>>) -> V3Answer {
    let id = TraceId::parse(&path_value(&path, "id"))?;
    let window = trace_window(&t.params, true)?;
    let found = t
        .bounded(t.service.trace_within(id, window, &t.caller.scope))
        .await?;
    v3_result(found.as_slice())
}
