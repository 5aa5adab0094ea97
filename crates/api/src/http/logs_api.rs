//! `GET /api/v1[/clusters/{cluster}]/logs`: KubeSphere's log API
//! (`operation=query|statistics|histogram|export`), tenant-scoped.

use super::extract::Authenticated;
use crate::error::ApiError;
use crate::logs::{LogAnswer, LogExport};
use crate::state::{AppState, Caller};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt;
use periscope_logs::{strip_ansi, ExportFormat, LogLine};
use std::sync::Arc;

/// The log routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/api/v1/logs",
            get(default_cluster).fallback(super::method_not_allowed),
        )
        .route(
            "/api/v1/clusters/{cluster}/logs",
            get(named_cluster).fallback(super::method_not_allowed),
        )
}

async fn default_cluster(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    logs(&state, &caller, None, query).await
}

async fn named_cluster(
    State(state): State<Arc<AppState>>,
    Authenticated(caller): Authenticated,
    Path(cluster): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    logs(&state, &caller, Some(&cluster), query).await
}

async fn logs(
    state: &AppState,
    caller: &Caller,
    cluster: Option<&str>,
    query: Option<String>,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    Ok(match state.logs(caller, cluster, &params).await? {
        LogAnswer::Page(page) => Json(serde_json::json!({ "query": page })).into_response(),
        LogAnswer::Statistics(s) => Json(serde_json::json!({ "statistics": s })).into_response(),
        LogAnswer::Histogram(h) => Json(serde_json::json!({ "histogram": h })).into_response(),
        LogAnswer::Export(export) => export_response(export),
    })
}

/// Streams an export as a download. A failure midway ends the transfer
/// without its final chunk, so the client sees an incomplete response.
fn export_response(export: LogExport) -> Response {
    let LogExport {
        format,
        lines,
        done,
    } = export;
    let chunks = tokio_stream::wrappers::ReceiverStream::new(lines)
        .map(move |lines| Ok(render(&lines, format)));
    let ending = futures::stream::once(async move {
        match done.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(std::io::Error::other(e.message().to_string()))),
            Err(_) => Some(Err(std::io::Error::other("the export stopped"))),
        }
    })
    .filter_map(std::future::ready);
    let (content_type, file) = match format {
        ExportFormat::Text => ("text/plain; charset=utf-8", "logs.txt"),
        ExportFormat::Ndjson => ("application/x-ndjson", "logs.ndjson"),
    };
    let mut response = Body::from_stream(chunks.chain(ending)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Lines as text (ANSI escapes removed, one per line) or NDJSON.
fn render(lines: &[LogLine], format: ExportFormat) -> bytes::Bytes {
    let mut out = Vec::with_capacity(lines.len() * 128);
    for line in lines {
        match format {
            ExportFormat::Text => {
                let text = strip_ansi(&line.log);
                out.extend_from_slice(text.trim_end_matches(['\n', '\r']).as_bytes());
            }
            ExportFormat::Ndjson => {
                serde_json::to_writer(&mut out, line).expect("a log line serialises");
            }
        }
        out.push(b'\n');
    }
    out.into()
}
