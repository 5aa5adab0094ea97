//! The events and audit services' HTTP surface:
//! - `POST /api/v1/events/ingest`: events as exporters send them (NDJSON,
//!   one object or a list), with an ingest token;
//! - `POST /api/v1/audit/webhook`: the kube-apiserver's audit webhook (and
//!   KubeSphere's), with an ingest token;
//! - `GET /api/v1[/clusters/{c}]/events` and `.../auditing/events`:
//!   KubeSphere's searches (`operation=query|statistics|histogram|export`);
//! - `GET /api/v1[/clusters/{c}]/namespaces/{ns}/events?for=pod/x&types=Warning`.
//!
//! Ingest answers 200 only once the records are durable; one bad line or
//! item fails alone and the answer names it.

use super::extract::Authenticated;
use super::ingest_api::{ingest_body, shipper};
use crate::error::ApiError;
use crate::state::{AppState, Caller};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use periscope_model::Error;
use periscope_record_search::{Answer, Export, Ingested};
use serde_json::json;
use std::sync::Arc;

type Handled = std::result::Result<Response, ApiError>;

/// The routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    let na = super::method_not_allowed;
    Router::new()
        .route("/api/v1/events/ingest", post(ingest_events).fallback(na))
        .route("/api/v1/audit/webhook", post(audit_webhook).fallback(na))
        .route("/api/v1/events", get(events).fallback(na))
        .route(
            "/api/v1/clusters/{cluster}/events",
            get(cluster_events).fallback(na),
        )
        .route(
            "/api/v1/namespaces/{namespace}/events",
            get(namespace_events).fallback(na),
        )
        .route(
            "/api/v1/clusters/{cluster}/namespaces/{namespace}/events",
            get(cluster_namespace_events).fallback(na),
        )
        .route("/api/v1/auditing/events", get(audit).fallback(na))
        .route(
            "/api/v1/clusters/{cluster}/auditing/events",
            get(cluster_audit).fallback(na),
        )
}

/// Refuses a body none of whose documents (`what`: lines, items) could be
/// used (400, naming the first problem).
fn refuse_unusable(
    usable: usize,
    rejected: &[serde_json::Value],
    what: &str,
) -> Result<(), ApiError> {
    if usable == 0 && !rejected.is_empty() {
        return Err(Error::bad_request(format!(
            "none of the {} {what} could be used; the first: {}",
            rejected.len(),
            rejected[0]
        ))
        .into());
    }
    Ok(())
}

/// The answer to an ingest: what was stored and which documents failed.
fn stored_answer(stored: Ingested, rejected: Vec<serde_json::Value>) -> Handled {
    Ok(Json(json!({
        "accepted": stored.stored + stored.duplicates,
        "stored": stored.stored,
        "duplicates": stored.duplicates,
        "errors": !rejected.is_empty(),
        "rejected": rejected,
    }))
    .into_response())
}

async fn ingest_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Handled {
    let shipper = shipper(&state, &headers)?;
    let backend = Arc::clone(state.event_backend(Some(&shipper.cluster))?);
    let (bytes, _slot) = ingest_body(&state, &headers, body).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::bad_request(format!("the body is not UTF-8: {e}")))?;
    let parsed =
        periscope_events::parse_body(text, &shipper.cluster, state.config.ingest.max_line_bytes)?;
    let rejected: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| json!({"line": e.line, "reason": e.reason}))
        .collect();
    refuse_unusable(parsed.records.len(), &rejected, "lines")?;
    let stored = state.store_events(&*backend, parsed.records).await?;
    stored_answer(stored, rejected)
}

async fn audit_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Handled {
    let shipper = shipper(&state, &headers)?;
    let backend = Arc::clone(state.audit_backend(Some(&shipper.cluster))?);
    let (bytes, _slot) = ingest_body(&state, &headers, body).await?;
    let parsed = periscope_audit::parse_body(&bytes, &shipper.cluster, &state.records.redaction)?;
    let rejected: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| json!({"item": e.item, "reason": e.reason}))
        .collect();
    refuse_unusable(parsed.records.len(), &rejected, "items")?;
    let stored = state.store_audit(&*backend, parsed.records).await?;
    stored_answer(stored, rejected)
}

/// The query parameters as pairs.
fn pairs(query: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn events(state: State<Arc<AppState>>, caller: Authenticated, query: RawQuery) -> Handled {
    search_events(&state, &caller.0, None, query.0).await
}

async fn cluster_events(
    state: State<Arc<AppState>>,
    caller: Authenticated,
    Path(cluster): Path<String>,
    query: RawQuery,
) -> Handled {
    search_events(&state, &caller.0, Some(&cluster), query.0).await
}

async fn search_events(
    state: &AppState,
    caller: &Caller,
    cluster: Option<&str>,
    query: Option<String>,
) -> Handled {
    let answer = state.event_search(caller, cluster, &pairs(query)).await?;
    Ok(respond(answer, "events.ndjson", |r| r))
}

async fn namespace_events(
    state: State<Arc<AppState>>,
    caller: Authenticated,
    Path(namespace): Path<String>,
    query: RawQuery,
) -> Handled {
    object_events(&state, &caller.0, None, &namespace, query.0).await
}

async fn cluster_namespace_events(
    state: State<Arc<AppState>>,
    caller: Authenticated,
    Path((cluster, namespace)): Path<(String, String)>,
    query: RawQuery,
) -> Handled {
    object_events(&state, &caller.0, Some(&cluster), &namespace, query.0).await
}

async fn object_events(
    state: &AppState,
    caller: &Caller,
    cluster: Option<&str>,
    namespace: &str,
    query: Option<String>,
) -> Handled {
    let answer = state
        .object_events(caller, cluster, namespace, &pairs(query))
        .await?;
    Ok(respond(answer, "events.ndjson", |r| r))
}

async fn audit(state: State<Arc<AppState>>, caller: Authenticated, query: RawQuery) -> Handled {
    search_audit(&state, &caller.0, None, query.0).await
}

async fn cluster_audit(
    state: State<Arc<AppState>>,
    caller: Authenticated,
    Path(cluster): Path<String>,
    query: RawQuery,
) -> Handled {
    search_audit(&state, &caller.0, Some(&cluster), query.0).await
}

async fn search_audit(
    state: &AppState,
    caller: &Caller,
    cluster: Option<&str>,
    query: Option<String>,
) -> Handled {
    let (answer, bodies) = state.audit_search(caller, cluster, &pairs(query)).await?;
    Ok(respond(answer, "auditing.ndjson", move |records| {
        bodies.apply(records)
    }))
}

/// The JSON answer, or the export as an NDJSON download; `shown` maps the
/// records before they leave.
fn respond(
    answer: Answer,
    file: &str,
    shown: impl Fn(periscope_record_search::Chunk) -> periscope_record_search::Chunk + Send + 'static,
) -> Response {
    match answer {
        Answer::Page(mut page) => {
            page.records = page.records.map(&shown);
            Json(json!({ "query": page })).into_response()
        }
        Answer::Statistics(s) => Json(json!({ "statistics": s })).into_response(),
        Answer::Histogram(h) => Json(json!({ "histogram": h })).into_response(),
        Answer::Export(export) => export_response(export, file, shown),
    }
}

/// Streams an export as NDJSON. A failure midway ends the transfer without
/// its final chunk, so the client sees an incomplete response.
fn export_response(
    export: Export,
    file: &str,
    shown: impl Fn(periscope_record_search::Chunk) -> periscope_record_search::Chunk + Send + 'static,
) -> Response {
    let Export { records, done } = export;
    let chunks = tokio_stream::wrappers::ReceiverStream::new(records).map(move |chunk| {
        let mut out = Vec::with_capacity(chunk.len() * 512);
        for record in shown(chunk) {
            out.extend_from_slice(record.get().as_bytes());
            out.push(b'\n');
        }
        Ok::<_, std::io::Error>(bytes::Bytes::from(out))
    });
    let ending = futures::stream::once(async move {
        match done.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(Err(std::io::Error::other(e.message().to_string()))),
            Err(_) => Some(Err(std::io::Error::other("the export stopped"))),
        }
    })
    .filter_map(std::future::ready);
    let mut response = Body::from_stream(chunks.chain(ending)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
