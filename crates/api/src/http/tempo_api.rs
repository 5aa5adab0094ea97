//! Tempo's HTTP query API at `/tempo` (and `/clusters/{cluster}/tempo`), so
//! Grafana's Tempo datasource works unchanged, tenant-scoped on every route:
//! `api/echo`, `api/v2/traces/{id}` (protobuf `TraceByIDResponse` with
//! `Accept: application/protobuf`, else JSON) and v1 `api/traces/{id}`,
//! `api/search` (TraceQL `q`, or `tags`/`minDuration`/`maxDuration`), and the
//! v1 and v2 tag name and value routes. Errors are plain text, as Tempo's.

use super::traced::Traced;
use crate::error::{http_status, with_hint_headers};
use crate::state::AppState;
use axum::extract::Path;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use periscope_model::{Error, Result};
use periscope_traces::query::go_duration;
use periscope_traces::tempo::{self, INTRINSICS};
use periscope_traces::traceql::{self, Filter};
use periscope_traces::{FoundTrace, Span, TraceId};
use serde_json::json;
use std::sync::Arc;

/// `limit` when none is given, and the most one search returns.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// Spans per span set when `spss` is not given.
const DEFAULT_SPSS: usize = 3;
/// How far back a search without `start` looks.
const DEFAULT_LOOKBACK_NS: i64 = 3600 * 1_000_000_000;
/// Traces read to list tag names and values.
const TAG_SAMPLE_TRACES: usize = 200;

/// The Tempo routes, relative to `/tempo`.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    use super::method_not_allowed as other;
    Router::new()
        .route("/api/echo", get(|| async { "echo" }).fallback(other))
        .route("/api/v2/traces/{id}", get(trace_v2).fallback(other))
        .route("/api/traces/{id}", get(trace_v1).fallback(other))
        .route("/api/search", get(search).fallback(other))
        .route("/api/search/tags", get(tags_v1).fallback(other))
        .route("/api/v2/search/tags", get(tags_v2).fallback(other))
        .route(
            "/api/search/tag/{tag}/values",
            get(values_v1).fallback(other),
        )
        .route(
            "/api/v2/search/tag/{tag}/values",
            get(values_v2).fallback(other),
        )
}

/// An error as Tempo answers it: plain text with the matching status.
struct TempoError(Error);

impl From<Error> for TempoError {
    fn from(e: Error) -> Self {
        TempoError(e)
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        let status = http_status(self.0.kind());
        with_hint_headers(
            (status, format!("{}\n", self.0.message())).into_response(),
            self.0.kind(),
        )
    }
}

type Answer = std::result::Result<Response, TempoError>;

fn now_ns() -> i64 {
    periscope_store::unix_now_ns()
}

/// `start`/`end` in Unix seconds (Tempo's unit) as nanoseconds.
fn seconds_param(t: &Traced<TempoError>, name: &str) -> Result<Option<i64>> {
    t.param(&[name])
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .ok_or_else(|| {
                    Error::bad_request(format!(
                        "invalid parameter {name:?}: {v:?} is not Unix seconds"
                    ))
                })
        })
        .transpose()
}

/// The search window: `start`..`end`, by default the last hour.
fn window(t: &Traced<TempoError>) -> Result<(i64, i64)> {
    let end = seconds_param(t, "end")?.unwrap_or_else(now_ns);
    let start = seconds_param(t, "start")?.unwrap_or(end - DEFAULT_LOOKBACK_NS);
    if start > end {
        return Err(Error::bad_request(
            "invalid parameters: \"start\" is after \"end\"",
        ));
    }
    Ok((start, end))
}

fn count_param(t: &Traced<TempoError>, name: &str, default: usize) -> Result<usize> {
    match t.param(&[name]) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(n) if n <= MAX_LIMIT => Ok(n),
            _ => Err(Error::bad_request(format!(
                "invalid parameter {name:?}: {v:?} is not an integer up to {MAX_LIMIT}"
            ))),
        },
    }
}

fn trace_id(path: &[(String, String)]) -> Result<TraceId> {
    let id = path
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    TraceId::parse(id)
}

async fn find_trace(
    t: &Traced<TempoError>,
    path: &[(String, String)],
) -> Result<periscope_traces::ScopedTrace> {
    let id = trace_id(path)?;
    let window = match (seconds_param(t, "start")?, seconds_param(t, "end")?) {
        (Some(s), Some(e)) => Some((s, e)),
        _ => None,
    };
    t.bounded(t.service.trace_within(id, window, &t.caller.scope))
        .await?
        .ok_or_else(|| Error::new(periscope_model::ErrorKind::NotFound, "trace not found"))
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/protobuf"))
}

fn protobuf(message: &impl prost::Message) -> Response {
    (
        [(header::CONTENT_TYPE, "application/protobuf")],
        message.encode_to_vec(),
    )
        .into_response()
}

async fn trace_v2(
    t: Traced<TempoError>,
    headers: HeaderMap,
    Path(path): Path<Vec<(String, String)>>,
) -> Answer {
    let trace = find_trace(&t, &path).await?;
    Ok(if wants_protobuf(&headers) {
        protobuf(&tempo::trace_by_id(&trace))
    } else {
        Json(tempo::trace_by_id_json(&trace)).into_response()
    })
}

async fn trace_v1(
    t: Traced<TempoError>,
    headers: HeaderMap,
    Path(path): Path<Vec<(String, String)>>,
) -> Answer {
    let trace = find_trace(&t, &path).await?;
    Ok(if wants_protobuf(&headers) {
        protobuf(&periscope_traces::otlp_out::traces_data(&[trace]))
    } else {
        Json(tempo::trace_v1_json(&trace)).into_response()
    })
}

/// The filter of a search: TraceQL `q`, or the older `tags`, with
/// `minDuration`/`maxDuration` either way.
fn search_filter(t: &Traced<TempoError>) -> Result<Filter> {
    let duration = |name: &str| t.param(&[name]).map(|v| go_duration(name, &v)).transpose();
    let (min, max) = (duration("minDuration")?, duration("maxDuration")?);
    match (t.param(&["q"]), t.param(&["tags"])) {
        (Some(_), Some(_)) => Err(Error::bad_request(
            "parameters \"q\" and \"tags\" cannot be combined",
        )),
        (Some(q), None) => Ok(tempo::with_durations(traceql::parse(&q)?, min, max)),
        (None, tags) => tempo::legacy_filter(tags.as_deref(), min, max),
    }
}

async fn search(t: Traced<TempoError>) -> Answer {
    let filter = Arc::new(search_filter(&t)?);
    let (start, end) = window(&t)?;
    let limit = count_param(&t, "limit", DEFAULT_LIMIT)?;
    let spss = count_param(&t, "spss", DEFAULT_SPSS)?;
    let found = t
        .bounded(
            t.service
                .search_traceql(filter, start, end, limit, &t.caller.scope),
        )
        .await?;
    Ok(Json(tempo::search_response(&found, spss)).into_response())
}

/// Spans of the newest traces in the window matching `q` (all when it is
/// absent or does not parse, as Tempo's tag routes treat it).
async fn sample(t: &Traced<TempoError>) -> Result<Vec<FoundTrace>> {
    let filter = t
        .param(&["q"])
        .and_then(|q| traceql::parse(&q).ok())
        .unwrap_or(Filter::All);
    let (start, end) = window(t)?;
    t.bounded(t.service.search_traceql(
        Arc::new(filter),
        start,
        end,
        TAG_SAMPLE_TRACES,
        &t.caller.scope,
    ))
    .await
}

fn spans_of(found: &[FoundTrace]) -> Vec<&Span> {
    found.iter().flat_map(|f| &f.matched).collect()
}

async fn tags_v1(t: Traced<TempoError>) -> Answer {
    let found = sample(&t).await?;
    let (span_tags, resource_tags) = tempo::tag_names(&spans_of(&found));
    let names: std::collections::BTreeSet<String> = match t.param(&["scope"]).as_deref() {
        Some("span") => span_tags,
        Some("resource") => resource_tags,
        Some("intrinsic") => INTRINSICS.iter().map(|s| s.to_string()).collect(),
        _ => span_tags.into_iter().chain(resource_tags).collect(),
    };
    Ok(Json(json!({ "tagNames": names })).into_response())
}

async fn tags_v2(t: Traced<TempoError>) -> Answer {
    let found = sample(&t).await?;
    let (span_tags, resource_tags) = tempo::tag_names(&spans_of(&found));
    let wanted = t.param(&["scope"]);
    let scopes: Vec<serde_json::Value> = [
        ("span", span_tags.into_iter().collect::<Vec<_>>()),
        ("resource", resource_tags.into_iter().collect()),
        (
            "intrinsic",
            INTRINSICS.iter().map(|s| s.to_string()).collect(),
        ),
    ]
    .into_iter()
    .filter(|(name, _)| wanted.as_deref().is_none_or(|w| w == *name))
    .map(|(name, tags)| json!({ "name": name, "tags": tags }))
    .collect();
    Ok(Json(json!({ "scopes": scopes })).into_response())
}

/// The tag of a tag-values route; Grafana encodes it twice.
fn tag(path: &[(String, String)]) -> String {
    let raw = path
        .iter()
        .find(|(k, _)| k == "tag")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    percent_encoding::percent_decode_str(&raw)
        .decode_utf8_lossy()
        .into_owned()
}

async fn values_v1(t: Traced<TempoError>, Path(path): Path<Vec<(String, String)>>) -> Answer {
    // v1 names attributes without a scope (`service.name`).
    let name = tag(&path);
    let field = traceql::field(&format!(".{name}"))?;
    let found = sample(&t).await?;
    let values: Vec<String> = tempo::tag_values(&field, &spans_of(&found))
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    Ok(Json(json!({ "tagValues": values })).into_response())
}

async fn values_v2(t: Traced<TempoError>, Path(path): Path<Vec<(String, String)>>) -> Answer {
    let field = traceql::field(&tag(&path))?;
    let found = sample(&t).await?;
    let values: Vec<serde_json::Value> = tempo::tag_values(&field, &spans_of(&found))
        .into_iter()
        .map(|(kind, value)| json!({ "type": kind, "value": value }))
        .collect();
    Ok(Json(json!({ "tagValues": values })).into_response())
}
