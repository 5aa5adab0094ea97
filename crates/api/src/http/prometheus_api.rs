//! The Prometheus HTTP API (`/api/v1/...`) as Grafana's Prometheus datasource
//! and `promtool` use it, enforced per caller. Upstream bodies stream back
//! unchanged; only metadata is filtered and therefore re-encoded.

use super::extract::{Authenticated, ClusterName};
use super::method_not_allowed;
use super::params::Params;
use crate::error::ApiError;
use crate::query::{Forwarded, InstantQuery, LabelValues, RangeQuery};
use crate::state::{AppState, Caller};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use futures::StreamExt;
use periscope_backend_prometheus::{ApiResponse, Method};
use periscope_model::{is_label_name, Error, ErrorKind, Scope};
use periscope_tenancy::promql::policy::MetricClass;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

type Handled = Result<Response, ApiError>;

/// Routes relative to `/api/v1`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/query", get_or_post(query))
        .route("/query_range", get_or_post(query_range))
        .route("/query_exemplars", get_or_post(query_exemplars))
        .route("/series", get_or_post(series))
        .route("/labels", get_or_post(labels))
        .route("/label/{name}/values", get_only(label_values))
        .route("/metadata", get_only(metadata))
        .route("/status/buildinfo", get_only(buildinfo))
        .route("/rules", get_only(rules_or_alerts))
        .route("/alerts", get_only(rules_or_alerts))
        .route("/status/{*rest}", any(forbidden_endpoint))
        .route("/targets", any(forbidden_endpoint))
        .route("/targets/{*rest}", any(forbidden_endpoint))
        .route("/alertmanagers", any(forbidden_endpoint))
        .route("/admin/{*rest}", any(forbidden_endpoint))
}

fn get_or_post<H, T>(handler: H) -> MethodRouter<Arc<AppState>>
where
    H: axum::handler::Handler<T, Arc<AppState>> + Clone,
    T: 'static,
{
    get(handler.clone())
        .post(handler)
        .fallback(method_not_allowed)
}

fn get_only<H, T>(handler: H) -> MethodRouter<Arc<AppState>>
where
    H: axum::handler::Handler<T, Arc<AppState>>,
    T: 'static,
{
    get(handler).fallback(method_not_allowed)
}

async fn query(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let q = InstantQuery {
        query: params.required("query")?,
        time: params.single("time")?,
        timeout: params.single("timeout")?,
    };
    Ok(streamed(state.instant_query(&caller, cluster, q).await?))
}

async fn query_range(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let q = RangeQuery {
        query: params.required("query")?,
        start: params.required("start")?,
        end: params.required("end")?,
        step: params.single("step")?,
        timeout: params.single("timeout")?,
    };
    Ok(streamed(state.range_query(&caller, cluster, q).await?))
}

async fn query_exemplars(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let q = RangeQuery {
        query: params.required("query")?,
        start: params.required("start")?,
        end: params.required("end")?,
        step: None,
        timeout: None,
    };
    Ok(streamed(state.exemplars(&caller, cluster, q).await?))
}

async fn series(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    matcher_endpoint(&state, &caller, cluster, &params, "/api/v1/series").await
}

async fn labels(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    matcher_endpoint(&state, &caller, cluster, &params, "/api/v1/labels").await
}

async fn label_values(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    Path(path): Path<BTreeMap<String, String>>,
    params: Params,
) -> Handled {
    let name = path.get("name").map(String::as_str).unwrap_or_default();
    if !is_label_name(name) {
        return Err(Error::bad_request(format!("invalid label name {name:?}")).into());
    }
    let cluster = state.cluster(cluster.as_deref())?;
    let rest = params.pass_through(&["start", "end", "limit"])?;
    let matches = params.repeated("match[]")?;
    Ok(
        match state
            .label_values(&caller, cluster, name, matches, rest)
            .await?
        {
            LabelValues::Streamed(forwarded) => streamed(forwarded),
            LabelValues::Merged(values) => {
                axum::Json(serde_json::json!({"status": "success", "data": values})).into_response()
            }
        },
    )
}

/// The series and labels APIs: `match[]` scoped, `start`, `end` and `limit`
/// passed on.
async fn matcher_endpoint(
    state: &AppState,
    caller: &Caller,
    cluster: Option<String>,
    params: &Params,
    path: &str,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let rest = params.pass_through(&["start", "end", "limit"])?;
    let matches = params.repeated("match[]")?;
    let forwarded = state
        .matcher_api(caller, cluster, Method::Post, path, matches, rest)
        .await?;
    Ok(streamed(forwarded))
}

/// Metric metadata, limited for scoped callers to public metrics and scoped
/// metrics that have at least one series in their namespaces.
async fn metadata(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    params: Params,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let timeout = caller.principal.limits.query_timeout;
    let metric = params.pass_through(&["metric"])?;
    if caller.scope.is_cluster_wide() {
        let all = params.pass_through(&["metric", "limit", "limit_per_metric"])?;
        return Ok(streamed(
            state
                .forward(
                    &caller,
                    cluster,
                    Method::Get,
                    "/api/v1/metadata",
                    all,
                    timeout,
                )
                .await?,
        ));
    }
    let limit: Option<usize> = match params.single("limit")? {
        Some(l) => Some(
            l.parse()
                .map_err(|_| Error::bad_request("invalid parameter \"limit\""))?,
        ),
        None => None,
    };
    let visible = visible_metric_names(&state, &caller, cluster).await?;
    let upstream = state
        .forward(
            &caller,
            cluster,
            Method::Get,
            "/api/v1/metadata",
            metric,
            timeout,
        )
        .await?;
    let status = upstream.response.status;
    let body = upstream.response.bytes().await?;
    let mut decoded: ApiResponse<BTreeMap<String, serde_json::Value>> =
        serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("undecodable metadata from prometheus (HTTP {status}): {e}"),
            )
        })?;
    let Some(data) = decoded.data.take() else {
        return Ok(raw(status, body));
    };
    let filtered: serde_json::Map<String, serde_json::Value> = data
        .into_iter()
        .filter(|(name, _)| match state.enforcer.metric_class(name) {
            MetricClass::Public => true,
            MetricClass::ClusterOnly => false,
            MetricClass::Scoped(_) => visible.contains(name),
        })
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(axum::Json(serde_json::json!({"status": "success", "data": filtered})).into_response())
}

/// Metric names with at least one series in the caller's scope.
async fn visible_metric_names(
    state: &AppState,
    caller: &Caller,
    cluster: &crate::state::Cluster,
) -> Result<HashSet<String>, ApiError> {
    let Scope::Namespaces(_) = &caller.scope else {
        return Ok(HashSet::new());
    };
    match state
        .label_values(caller, cluster, "__name__", Vec::new(), Vec::new())
        .await?
    {
        LabelValues::Merged(values) => Ok(values.into_iter().collect()),
        LabelValues::Streamed(names) => Ok(names.label_values().await?.into_iter().collect()),
    }
}

async fn buildinfo(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
) -> Handled {
    let cluster = state.cluster(cluster.as_deref())?;
    let timeout = caller.principal.limits.query_timeout;
    Ok(streamed(
        state
            .forward(
                &caller,
                cluster,
                Method::Get,
                "/api/v1/status/buildinfo",
                Vec::new(),
                timeout,
            )
            .await?,
    ))
}

/// Prometheus' own rules and alerts carry no tenant guarantees: cluster-wide
/// callers see them as they are; tenants are refused.
async fn rules_or_alerts(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    uri: axum::http::Uri,
    params: Params,
) -> Handled {
    let rules = uri.path().ends_with("/rules");
    if let Some(alerting) = state.alerting.get() {
        // Periscope evaluates the rules: answer from its own state, filtered
        // to the caller's namespaces.
        let status = alerting.engine.status();
        let visibility = crate::alerting::Visibility {
            scope: &caller.scope,
            workspaces: crate::alerting::visible_workspaces(&state, &caller.scope),
        };
        let data = if rules {
            let filter = crate::alerting::RuleFilter {
                kind: params.single("type")?,
                rule_names: params.repeated("rule_name[]")?,
                groups: params.repeated("rule_group[]")?,
                files: params.repeated("file[]")?,
            };
            crate::alerting::rules_data(&status, &visibility, &filter)?
        } else {
            crate::alerting::alerts_data(&status, &visibility)
        };
        return Ok(
            axum::Json(serde_json::json!({"status": "success", "data": data})).into_response(),
        );
    }
    if !caller.scope.is_cluster_wide() {
        return Err(Error::forbidden("the rules and alerts of the backend Prometheus are visible only to cluster-wide principals").into());
    }
    let cluster = state.cluster(cluster.as_deref())?;
    let path = if rules {
        "/api/v1/rules"
    } else {
        "/api/v1/alerts"
    };
    let forwarded = params.pass_through(&["type", "rule_name[]", "rule_group[]", "file[]"])?;
    let timeout = caller.principal.limits.query_timeout;
    Ok(streamed(
        state
            .forward(&caller, cluster, Method::Get, path, forwarded, timeout)
            .await?,
    ))
}

/// Configuration, targets and admin endpoints reveal cluster internals.
async fn forbidden_endpoint(Authenticated(_caller): Authenticated) -> ApiError {
    Error::forbidden("this endpoint is not available through Periscope").into()
}

/// The upstream answer with its status and content type, body streamed through.
fn streamed(forwarded: Forwarded) -> Response {
    let Forwarded { response, permit } = forwarded;
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = response.content_type.clone();
    let content_length = response.content_length;
    let body = response.into_stream().map(move |chunk| {
        // The concurrency permit lives as long as the body is being sent.
        let _held = &permit;
        chunk.inspect_err(|e| tracing::warn!(error = %e, "upstream body stream failed"))
    });
    let mut builder = Response::builder().status(status);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    if let Some(length) = content_length {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    builder
        .body(Body::from_stream(body))
        .unwrap_or_else(|e| ApiError(Error::internal(e.to_string())).into_response())
}

fn raw(status: u16, body: bytes::Bytes) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
