//! OTLP/HTTP ingest: traces at `POST /v1/traces` (and `/otlp/v1/traces`) and
//! Kubernetes events from the Collector's `k8s_events` and `k8sobjects`
//! receivers at `POST /v1/logs` (and `/otlp/v1/logs`), protobuf or OTLP/JSON,
//! gzip or not. Authenticated with ingest tokens; the
//! answer is sent once the spans are in the write-ahead log, in the request's
//! encoding, with rejected spans counted in `partial_success`. Errors follow
//! OTLP/HTTP: 400 with a `google.rpc.Status` (not retryable), 429/503 with
//! `Retry-After`, 413 over the size limit.

use super::ingest_api::{admissible, admitted, ingest_body, shipper};
use crate::error::{http_status, with_hint_headers};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use periscope_model::{Error, ErrorKind, Result};
use periscope_traces::otlp::{self, RpcStatus};
use prost::Message;
use std::sync::Arc;

/// The OTLP routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/traces",
            post(export).fallback(super::method_not_allowed),
        )
        .route(
            "/otlp/v1/traces",
            post(export).fallback(super::method_not_allowed),
        )
        .route(
            "/v1/logs",
            post(export_logs).fallback(super::method_not_allowed),
        )
        .route(
            "/otlp/v1/logs",
            post(export_logs).fallback(super::method_not_allowed),
        )
}

/// The two encodings OTLP/HTTP defines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Result<Encoding> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            other => Err(Error::bad_request(format!(
                "unsupported Content-Type {other:?}: use application/x-protobuf or application/json"
            ))),
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        })
    }
}

async fn export(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let encoding = Encoding::of(&headers).unwrap_or(Encoding::Json);
    match ingest(&state, &headers, body).await {
        Ok(answer) => {
            let bytes = match encoding {
                Encoding::Protobuf => answer.encode_to_vec(),
                // Full success leaves `partialSuccess` unset, not null.
                Encoding::Json if answer.partial_success.is_none() => b"{}".to_vec(),
                Encoding::Json => serde_json::to_vec(&answer).unwrap_or_default(),
            };
            ([(header::CONTENT_TYPE, encoding.content_type())], bytes).into_response()
        }
        Err(e) => failure(&e, encoding),
    }
}

async fn export_logs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let encoding = Encoding::of(&headers).unwrap_or(Encoding::Json);
    match ingest_logs(&state, &headers, body).await {
        Ok(answer) => {
            let bytes = match encoding {
                Encoding::Protobuf => answer.encode_to_vec(),
                Encoding::Json if answer.partial_success.is_none() => b"{}".to_vec(),
                Encoding::Json => serde_json::to_vec(&answer).unwrap_or_default(),
            };
            ([(header::CONTENT_TYPE, encoding.content_type())], bytes).into_response()
        }
        Err(e) => failure(&e, encoding),
    }
}

/// Decodes an OTLP/HTTP logs request and stores it.
async fn ingest_logs(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<ExportLogsServiceResponse> {
    let shipper = shipper(state, headers)?;
    let encoding = Encoding::of(headers)?;
    let (bytes, _permit) = ingest_body(state, headers, body).await?;
    let request: ExportLogsServiceRequest = match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(&bytes[..]).map_err(|e| {
            Error::bad_request(format!(
                "the body is not an OTLP ExportLogsServiceRequest: {e}"
            ))
        })?,
        Encoding::Json => serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_request(format!("the body is not OTLP/JSON logs: {e}")))?,
    };
    store_otlp_logs(state, &shipper.cluster, &request).await
}

/// Stores an OTLP logs request (HTTP or gRPC) of `cluster`'s shipper:
/// Kubernetes events to the events service, other records as log lines to
/// the log store, each where this process runs it; answers once both are
/// durable, with the records neither could use rejected (`partial_success`).
pub(crate) async fn store_otlp_logs(
    state: &AppState,
    cluster: &str,
    request: &ExportLogsServiceRequest,
) -> Result<ExportLogsServiceResponse> {
    let log_backend = state.log_backend(Some(cluster)).ok();
    let event_backend = state.event_backend(Some(cluster)).ok().map(Arc::clone);
    if log_backend.is_none() && event_backend.is_none() {
        // Neither service here: the events service's error says how to run one.
        state.event_backend(Some(cluster))?;
    }
    let events = periscope_events::from_otlp_logs(request, cluster);
    let lines = match log_backend {
        Some(_) => periscope_logs::otlp::from_otlp_logs(
            request,
            |position| events.not_events.binary_search(&position).is_ok(),
            periscope_store::unix_now_ns(),
        ),
        None => Default::default(),
    };
    // Checked before anything is stored: a pending namespace makes the
    // whole request a retry.
    let verdicts = admissible(state, cluster, &lines.records).await?;
    let unread = if log_backend.is_none() {
        events.not_events.as_slice()
    } else {
        &[]
    };
    let mut rejected: Vec<(usize, String)> = events
        .errors
        .into_iter()
        .map(|e| (e.line, e.reason))
        .chain(lines.errors)
        .chain(unread.iter().map(|&line| {
            (
                line,
                "not a Kubernetes event (neither a k8sobjects Event body nor k8s_events' k8s.event.reason), and no log store here".to_string(),
            )
        }))
        .collect();
    // Events with no events service here count one each.
    let mut unstored_events = 0;
    match &event_backend {
        Some(backend) => {
            state.store_events(&**backend, events.records).await?;
        }
        None if !events.records.is_empty() => {
            unstored_events = events.records.len();
            rejected.push((
                0,
                format!("{unstored_events} Kubernetes events: no events service here"),
            ));
        }
        None => {}
    }
    if let Some(backend) = log_backend {
        let lines = admitted(lines.records, lines.positions, &verdicts, &mut rejected);
        backend.ingest(&lines).await?;
    }
    rejected.sort();
    let count = rejected.len() + unstored_events.saturating_sub(1);
    Ok(ExportLogsServiceResponse {
        partial_success: rejected
            .first()
            .map(|(line, reason)| ExportLogsPartialSuccess {
                rejected_log_records: count as i64,
                error_message: format!("log record {line}: {reason}"),
            }),
    })
}

async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<otlp::ExportTraceServiceResponse> {
    let shipper = shipper(state, headers)?;
    let service = state.trace_service(Some(&shipper.cluster))?;
    let encoding = Encoding::of(headers)?;
    let (bytes, _permit) = ingest_body(state, headers, body).await?;
    let request = match encoding {
        Encoding::Protobuf => otlp::decode_protobuf(&bytes)?,
        Encoding::Json => otlp::decode_json(&bytes)?,
    };
    let decoded = otlp::spans(request, &state.place_attributes);
    let answer = decoded.response();
    service.ingest(decoded.spans).await?;
    Ok(answer)
}

/// An OTLP/HTTP error: its status, a `google.rpc.Status` body in the
/// request's encoding, and `Retry-After` where a retry will help.
fn failure(e: &Error, encoding: Encoding) -> Response {
    let kind = e.kind();
    let code = match kind {
        ErrorKind::Unauthenticated => 16,
        ErrorKind::Forbidden => 7,
        ErrorKind::NotFound => 5,
        ErrorKind::TooManyRequests => otlp::RESOURCE_EXHAUSTED,
        ErrorKind::Internal => 13,
        ErrorKind::BackendUnavailable | ErrorKind::Timeout => 14,
        _ => otlp::INVALID_ARGUMENT,
    };
    let status = RpcStatus {
        code,
        message: e.message().to_string(),
        details: vec![],
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => {
            serde_json::to_vec(&serde_json::json!({"code": code, "message": e.message()}))
                .unwrap_or_default()
        }
    };
    let response = (
        http_status(kind),
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    with_hint_headers(response, kind)
}
