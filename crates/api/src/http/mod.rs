//! The HTTP surface: the Prometheus-compatible API (per cluster), the
//! drill-down monitoring API, alerting, logs (KubeSphere's API and Loki's),
//! Jaeger's query API, the ingest
//! endpoints (Elasticsearch `_bulk`, OTLP), and the operations endpoints.

mod alerting_api;
mod extract;
mod ingest_api;
mod jaeger_api;
mod logs_api;
mod loki_api;
mod monitoring_api;
mod ops;
mod otlp_api;
mod own_writes;
mod params;
mod prometheus_api;
mod records_api;
mod tempo_api;
mod traced;

pub(crate) use monitoring_api::parse_window;
pub(crate) use otlp_api::store_otlp_logs;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use periscope_model::{Error, ErrorKind};
use std::sync::Arc;
use std::time::Instant;

/// The full HTTP router.
pub fn router(state: Arc<AppState>) -> Router {
    let prometheus = prometheus_api::routes();
    let monitoring = monitoring_api::routes();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .nest("/prometheus/api/v1", prometheus.clone())
        .nest("/clusters/{cluster}/prometheus/api/v1", prometheus)
        .merge(alerting_api::routes().layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            own_writes::record,
        )))
        .merge(logs_api::routes())
        .merge(loki_api::routes())
        .merge(records_api::routes())
        .merge(ingest_api::routes())
        .merge(otlp_api::routes())
        .nest("/jaeger", jaeger_api::routes())
        .nest("/clusters/{cluster}/jaeger", jaeger_api::routes())
        .nest("/tempo", tempo_api::routes())
        .nest("/clusters/{cluster}/tempo", tempo_api::routes())
        .nest("/api/v1", monitoring.clone())
        .nest("/api/v1/clusters/{cluster}", monitoring)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// The router of the OTLP/HTTP-only listener.
pub fn otlp_router(state: Arc<AppState>) -> Router {
    otlp_api::routes()
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .with_state(state)
}

/// 405 for a method the route does not take (Grafana then retries with GET).
async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    Error::new(
        ErrorKind::MethodNotAllowed,
        format!("method {method} is not allowed on this endpoint"),
    )
    .into()
}

async fn not_found() -> ApiError {
    Error::new(ErrorKind::NotFound, "no such endpoint").into()
}

/// Counts and times every request by its route pattern (bounded cardinality).
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .telemetry
        .observe_request(&endpoint, status, started.elapsed());
    tracing::debug!(
        endpoint,
        status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
