//! Log ingest: Elasticsearch's `_bulk` API as Fluent Bit's `es` output (and
//! other shippers) speak it, `GET /` answering like an Elasticsearch node, and
//! a plain NDJSON endpoint. Authenticated with ingest tokens; a request is
//! acknowledged only once its lines are durable, and errors come in
//! Elasticsearch's shape so shippers retry what they should.

use super::params::read_body;
use crate::discovery::check_line_namespaces;
use crate::error::{http_status, with_hint_headers};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use periscope_logs::bulk::{bulk_response, parse_bulk};
use periscope_logs::LogRecord;
use periscope_model::{Error, ErrorKind, Result};
use periscope_tenancy::{Shipper, Verdict, Verdicts};
use serde_json::json;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// The Elasticsearch version announced on `GET /`.
const ANNOUNCED_VERSION: &str = "8.11.0";

/// The ingest routes. Every answer of the Elasticsearch-compatible ones
/// (errors included) says `X-Elastic-Product: Elasticsearch`: the official
/// clients refuse an answer without it (`UnsupportedProductError`).
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(node_info))
        .route("/_cluster/health", get(cluster_health))
        .route("/_cluster/health/{index}", get(cluster_health))
        .route("/_license", get(license))
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk_into).put(bulk_into))
        .layer(axum::middleware::map_response(elastic_product))
        .route("/api/v1/logs/ingest", post(ndjson))
        .route("/loki/api/v1/push", post(loki_push))
        .route("/api/prom/push", post(loki_push))
}

/// `POST /loki/api/v1/push`: Loki's push API as Grafana Alloy, Vector and
/// Fluent Bit's `loki` output send it — JSON, or snappy protobuf for any
/// other content type; gzip or deflate. 204 once durable; 400 for bad data
/// (shippers do not retry it), 429/5xx for back-pressure (they retry);
/// errors as plain text, as Loki answers them.
async fn loki_push(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let (shipper, backend, bytes, _permit) = authenticated_body(&state, &headers, body).await?;
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        let now = periscope_store::unix_now_ns();
        let mut records = if json {
            periscope_logs::loki_push::from_json(&bytes, now)
        } else {
            periscope_logs::loki_push::from_protobuf(
                &bytes,
                now,
                state.config.ingest.max_body_bytes,
            )
        }
        .map_err(Error::bad_request)?;
        let verdicts = admissible(&state, &shipper.cluster, &records).await?;
        let before = records.len();
        records.retain(|r| verdicts.admits(&r.namespace));
        backend.ingest(&records).await?;
        // Loki's rule: the valid streams are stored, the request is a 400
        // naming what was not (shippers do not retry a 400).
        let refused = verdicts.with(Verdict::Refused).next().map(|namespace| {
            Error::bad_request(format!(
                "{} of {before} lines refused: {}; the other lines were stored",
                before - records.len(),
                verdicts.refusal(namespace)
            ))
        });
        refused.map_or(Ok(()), Err)
    }
    .await;
    match result {
        Ok(()) => axum::http::StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let kind = e.kind();
            with_hint_headers(
                (http_status(kind), format!("{}\n", e.message())).into_response(),
                kind,
            )
        }
    }
}

/// The verdict on each namespace `records` claim for `cluster`'s shipper;
/// a namespace still pending makes the whole request a 502 to retry.
pub(crate) async fn admissible(
    state: &AppState,
    cluster: &str,
    records: &[LogRecord],
) -> Result<Verdicts> {
    let verdicts =
        check_line_namespaces(state, cluster, records.iter().map(|r| r.namespace.as_str())).await?;
    match verdicts.pending_error() {
        Some(e) => Err(e),
        None => Ok(verdicts),
    }
}

/// The admitted records; each refused one goes to `rejected` with its
/// position in the request (`positions`, one per record) and the reason.
pub(crate) fn admitted(
    records: Vec<LogRecord>,
    positions: Vec<usize>,
    verdicts: &Verdicts,
    rejected: &mut Vec<(usize, String)>,
) -> Vec<LogRecord> {
    let mut admitted = Vec::with_capacity(records.len());
    for (record, position) in records.into_iter().zip(positions) {
        if verdicts.admits(&record.namespace) {
            admitted.push(record);
        } else {
            rejected.push((position, verdicts.refusal(&record.namespace)));
        }
    }
    admitted
}

/// Marks an answer as Elasticsearch's.
async fn elastic_product(mut response: Response) -> Response {
    response.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// `GET /_cluster/health`: a green one-node cluster, for shippers and
/// clients that wait for one before sending.
async fn cluster_health() -> Response {
    Json(json!({
        "cluster_name": "periscope",
        "status": "green",
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": 0,
        "active_shards": 0,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0
    }))
    .into_response()
}

/// `GET /_license`: an active basic license (Logstash's and Beats'
/// Elasticsearch outputs read it before sending).
async fn license() -> Response {
    Json(json!({
        "license": {
            "status": "active",
            "uid": "periscope",
            "type": "basic",
            "issue_date": "1970-01-01T00:00:00.000Z",
            "issue_date_in_millis": 0,
            "max_nodes": 1000,
            "max_resource_units": null,
            "issued_to": "periscope",
            "issuer": "elasticsearch",
            "start_date_in_millis": -1
        }
    }))
    .into_response()
}

/// An ingest failure in Elasticsearch's error shape.
struct IngestError(Error);

impl From<Error> for IngestError {
    fn from(e: Error) -> Self {
        IngestError(e)
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let kind_name = match kind {
            ErrorKind::Unauthenticated => "security_exception",
            ErrorKind::TooManyRequests => "es_rejected_execution_exception",
            ErrorKind::PayloadTooLarge => "content_too_long_exception",
            ErrorKind::BadRequest => "illegal_argument_exception",
            _ => "exception",
        };
        let status = http_status(kind);
        let reason = self.0.message();
        let body = json!({
            "error": {"root_cause": [{"type": kind_name, "reason": reason}], "type": kind_name, "reason": reason},
            "status": status.as_u16(),
        });
        with_hint_headers((status, Json(body)).into_response(), kind)
    }
}

/// `GET /`: what an Elasticsearch node answers, so shippers that check the
/// version before sending accept Periscope.
async fn node_info() -> Response {
    let body = json!({
        "name": "periscope",
        "cluster_name": "periscope",
        "cluster_uuid": "periscope",
        "version": {
            "number": ANNOUNCED_VERSION,
            "build_flavor": "default",
            "build_type": "periscope",
            "build_snapshot": false,
            "lucene_version": "9.8.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    });
    Json(body).into_response()
}

async fn bulk(state: State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    ingest_bulk(state, headers, None, body).await
}

async fn bulk_into(
    state: State<Arc<AppState>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    ingest_bulk(state, headers, Some(index), body).await
}

async fn ingest_bulk(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    index: Option<String>,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = async {
        let (shipper, backend, bytes, _permit) = authenticated_body(&state, &headers, body).await?;
        let mut bulk = parse_bulk(&bytes, index.as_deref(), periscope_store::unix_now_ns())
            .map_err(Error::bad_request)?;
        let verdicts = admissible(&state, &shipper.cluster, &bulk.records).await?;
        if verdicts.with(Verdict::Refused).next().is_some() {
            refuse_items(&mut bulk, &verdicts);
        }
        backend.ingest(&bulk.records).await?;
        Ok::<_, Error>(bulk_response(
            &bulk.items,
            started.elapsed().as_millis() as u64,
            generated_id,
        ))
    }
    .await;
    match result {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => IngestError(e).into_response(),
    }
}

/// Fails the items whose record claims a refused namespace (a 400 item,
/// which shippers drop rather than retry) and drops their records.
fn refuse_items(bulk: &mut periscope_logs::bulk::Bulk, verdicts: &Verdicts) {
    let mut records = std::mem::take(&mut bulk.records).into_iter();
    for item in bulk.items.iter_mut().filter(|i| i.error.is_none()) {
        let Some(record) = records.next() else { break };
        if verdicts.admits(&record.namespace) {
            bulk.records.push(record);
        } else {
            item.error = Some(verdicts.refusal(&record.namespace));
        }
    }
}

/// `POST /api/v1/logs/ingest`: one JSON document per line.
async fn ndjson(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let (shipper, backend, bytes, _permit) = authenticated_body(&state, &headers, body).await?;
        let now = periscope_store::unix_now_ns();
        let mut records = Vec::new();
        let mut numbers = Vec::new();
        let mut rejected = Vec::new();
        for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = LogRecord::from_json(line, now).map_err(|e| e.0);
            match parsed {
                Ok(r) => {
                    records.push(r);
                    numbers.push(number + 1);
                }
                Err(reason) => rejected.push((number + 1, reason)),
            }
        }
        let verdicts = admissible(&state, &shipper.cluster, &records).await?;
        let admitted = admitted(records, numbers, &verdicts, &mut rejected);
        rejected.sort();
        backend.ingest(&admitted).await?;
        let rejected: Vec<_> = rejected
            .into_iter()
            .map(|(line, reason)| json!({"line": line, "reason": reason}))
            .collect();
        Ok::<_, Error>(json!({"accepted": admitted.len(), "errors": !rejected.is_empty(), "rejected": rejected}))
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => IngestError(e).into_response(),
    }
}

/// The shipper, its cluster's backend, the (decompressed) body, bounded by
/// `ingest.max_body_bytes`, and the slot the request holds until it is done.
async fn authenticated_body<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(
    Arc<Shipper>,
    &'a crate::logs::LogBackend,
    Bytes,
    OwnedSemaphorePermit,
)> {
    let shipper = shipper(state, headers)?;
    let backend = state.log_backend(Some(&shipper.cluster))?;
    let (bytes, permit) = ingest_body(state, headers, body).await?;
    Ok((shipper, backend, bytes, permit))
}

/// The shipper an ingest token in the `Authorization` header identifies.
pub(crate) fn shipper(state: &AppState, headers: &HeaderMap) -> Result<Arc<Shipper>> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.ingest_auth.authenticate(authorization)
}

/// An ingest body, decompressed and bounded by `ingest.max_body_bytes`, and
/// the slot the request holds until it is done (429 when none is free).
pub(crate) async fn ingest_body(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, OwnedSemaphorePermit)> {
    let permit = Arc::clone(&state.ingest_slots)
        .try_acquire_owned()
        .map_err(|_| {
            Error::new(
                ErrorKind::TooManyRequests,
                "too many ingest requests in flight; retry shortly",
            )
        })?;
    let limit = state.config.ingest.max_body_bytes;
    let bytes = read_body(body, limit).await.map_err(|e| e.0)?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "identity" | "" => bytes,
        "gzip" => inflate(flate2::read::MultiGzDecoder::new(&bytes[..]), "gzip", limit)?,
        "deflate" => inflate(flate2::read::ZlibDecoder::new(&bytes[..]), "deflate", limit)?,
        other => {
            return Err(Error::bad_request(format!(
                "unsupported Content-Encoding {other:?} (use gzip, deflate or none)"
            )))
        }
    };
    Ok((bytes, permit))
}

/// Decompresses a body, refusing one that inflates past `limit`.
fn inflate(decoder: impl Read, encoding: &str, limit: usize) -> Result<Bytes> {
    let mut out = Vec::new();
    let read = decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::bad_request(format!("the {encoding} body is corrupt: {e}")))?;
    if read > limit {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!("request body exceeds {limit} bytes once decompressed"),
        ));
    }
    Ok(out.into())
}

/// An `_id` for an item that came without one.
fn generated_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| periscope_store::unix_now_ns() as u64);
    format!("{start:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}
