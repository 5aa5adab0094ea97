//! Loki's query API, for Grafana's Loki data source (URL `http://host:9480`)
//! and Logs Drilldown: `/loki/api/v1/{query,query_range,labels,
//! label/{name}/values,series,index/stats,index/volume,index/volume_range,
//! tail}` (tail over a WebSocket),
//! also under `/clusters/{cluster}`. GET or POST (form). Errors are plain
//! text, as Loki's. The tenant comes from the credentials only: headers such
//! as `X-Scope-OrgID` or `X-Prom-Label-Policy` are never read.

use super::extract::{Authenticated, ClusterName};
use crate::error::LokiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The Loki query routes, at the root and per cluster.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    let mut router = Router::new();
    for prefix in ["/loki/api/v1", "/clusters/{cluster}/loki/api/v1"] {
        router = router
            .route(&format!("{prefix}/query"), get(query).post(query))
            .route(
                &format!("{prefix}/query_range"),
                get(query_range).post(query_range),
            )
            .route(&format!("{prefix}/labels"), get(labels).post(labels))
            .route(&format!("{prefix}/label"), get(labels).post(labels))
            .route(
                &format!("{prefix}/label/{{name}}/values"),
                get(label_values).post(label_values),
            )
            .route(&format!("{prefix}/series"), get(series).post(series))
            .route(
                &format!("{prefix}/index/stats"),
                get(index_stats).post(index_stats),
            )
            .route(&format!("{prefix}/index/volume"), get(volume).post(volume))
            .route(
                &format!("{prefix}/index/volume_range"),
                get(volume_range).post(volume_range),
            )
            .route(&format!("{prefix}/tail"), get(tail));
    }
    router.route("/ready", get(|| async { "ready\n" }))
}

/// The query string and, for a form POST, the body's parameters.
fn parameters(query: Option<String>, headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    params
}

fn json(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

macro_rules! handler {
    ($name:ident, |$state:ident, $caller:ident, $cluster:ident, $params:ident| $call:expr) => {
        async fn $name(
            State($state): State<Arc<AppState>>,
            Authenticated($caller): Authenticated,
            ClusterName($cluster): ClusterName,
            RawQuery(query): RawQuery,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, LokiError> {
            let $params = parameters(query, &headers, &body);
            let $cluster = $cluster.as_deref();
            Ok(json($call.await?))
        }
    };
}

handler!(query, |state, caller, cluster, params| state
    .loki_query(&caller, cluster, &params, true));
handler!(query_range, |state, caller, cluster, params| state
    .loki_query(&caller, cluster, &params, false));
handler!(labels, |state, caller, cluster, params| state
    .loki_labels(&caller, cluster, &params));
handler!(series, |state, caller, cluster, params| state
    .loki_series(&caller, cluster, &params));
handler!(index_stats, |state, caller, cluster, params| state
    .loki_index_stats(&caller, cluster, &params));
handler!(volume, |state, caller, cluster, params| state
    .loki_volume(&caller, cluster, &params, false));
handler!(volume_range, |state, caller, cluster, params| state
    .loki_volume(&caller, cluster, &params, true));

async fn label_values(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    Path(path): Path<Vec<(String, String)>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let params = parameters(query, &headers, &body);
    let name = path
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    Ok(json(
        state
            .loki_label_values(&caller, cluster.as_deref(), name, &params)
            .await?,
    ))
}

/// How often a tail looks for new lines.
const TAIL_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// `tail`: the query is checked (and scoped) before the upgrade, so a bad or
/// foreign query is an HTTP error; then new lines are sent as they arrive.
async fn tail(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    ClusterName(cluster): ClusterName,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Result<Response, LokiError> {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let tail = state.loki_tail(&caller, cluster.as_deref(), &params)?;
    Ok(upgrade.on_upgrade(move |socket| run_tail(state, caller, socket, tail)))
}

async fn run_tail(
    state: Arc<AppState>,
    caller: crate::state::Caller,
    mut socket: WebSocket,
    mut tail: crate::logs::Tail,
) {
    let mut poll = tokio::time::interval(TAIL_POLL);
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue,
            },
            _ = poll.tick() => loop {
                match state.tail_next(&caller, &mut tail).await {
                    Ok(None) => break,
                    Ok(Some((text, full))) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "tail stopped");
                        let frame = CloseFrame { code: close_code::ERROR, reason: e.message().chars().take(120).collect::<String>().into() };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                        return;
                    }
                }
            },
        }
    }
}
