//! `/healthz`, `/readyz` and `/metrics`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use std::time::Duration;

const READINESS_TIMEOUT: Duration = Duration::from_secs(3);

/// Liveness: the process answers.
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: every configured backend answers its own readiness probe.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let checks = state.clusters.values().map(|c| async move {
        let result = c.prometheus.ready(READINESS_TIMEOUT).await;
        (c.name.clone(), result)
    });
    let results = futures::future::join_all(checks).await;
    let failures: Vec<serde_json::Value> = results
        .iter()
        .filter_map(|(name, r)| {
            r.as_ref()
                .err()
                .map(|e| serde_json::json!({"cluster": name, "backend": "prometheus", "error": e.message()}))
        })
        .collect();
    if failures.is_empty() {
        (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not_ready", "failures": failures})),
        )
            .into_response()
    }
}

/// Periscope's own metrics in the Prometheus text format.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.telemetry.encode(),
    )
        .into_response()
}
