//! A trace backend in front of a real Jaeger query service, through its api_v3
//! HTTP API (`/api/v3/services`, `/api/v3/operations`, `/api/v3/traces`,
//! `/api/v3/traces/{id}`) and its `/api/dependencies`.
//!
//! Jaeger knows nothing of tenants, so the caller's scope becomes part of
//! every query: a search for a scoped caller runs once per namespace with the
//! namespace resource attribute (`k8s.namespace.name`) among its attributes;
//! a service or operation is listed only once a search in one of the caller's
//! namespaces finds a span of it (answers cached for a minute); the
//! dependency graph of a scoped caller is built from the traces it can find,
//! never from Jaeger's cluster-wide graph. Spans are read back with their
//! resources' Kubernetes attributes, and the trace service prunes them as it
//! does for the embedded store.

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use periscope_config::{JaegerApi, JaegerConfig};
use periscope_model::{Error, ErrorKind, Result};
use periscope_traces::otlp::{decode_json, spans as to_spans, PlaceAttributes};
use periscope_traces::span::{kind_name, kind_number};
use periscope_traces::traceql::{Filter, Pushdown, TraceContext};
use periscope_traces::{
    Namespaces, Operation, Placement, RawEdge, Span, SpanQuery, TraceBackend, TraceId,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod ui;

/// Requests to Jaeger one operation has in flight at once.
const PARALLEL: usize = 8;
/// How long "does this service (operation) have spans in this namespace" is remembered.
const PROBE_TTL: Duration = Duration::from_secs(60);
/// How far back a probe looks.
const PROBE_WINDOW_NS: i64 = 7 * 24 * 3600 * 1_000_000_000;
/// Traces per visible service a scoped dependency graph is built from.
const DEPENDENCY_TRACES: usize = 100;

/// Traces in a Jaeger query service.
pub struct JaegerTraces {
    client: reqwest::Client,
    base: String,
    /// Read the v1 internal API instead of api_v3 (older Jaeger versions).
    v1: bool,
    places: PlaceAttributes,
    probes: Mutex<HashMap<Probe, (Instant, bool)>>,
}

/// `(service, operation or "", namespace)`: does it have spans? Remembered
/// with when it was asked.
type Probe = (String, String, String);

fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

impl JaegerTraces {
    /// The backend for `config`; spans are placed by `places` (the namespace
    /// attribute first in its list is the one queries filter on).
    pub fn new(config: &JaegerConfig, places: PlaceAttributes) -> Result<JaegerTraces> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::internal(format!("building the Jaeger client: {e}")))?;
        Ok(JaegerTraces {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            v1: config.api == JaegerApi::V1,
            places,
            probes: Mutex::new(HashMap::new()),
        })
    }

    fn namespace_attribute(&self) -> &str {
        self.places
            .namespace
            .first()
            .map_or("k8s.namespace.name", String::as_str)
    }

    /// GETs `path`; `None` for Jaeger's 404 (api_v3's "nothing found").
    async fn get(&self, path: &str, params: &[(String, String)]) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .get(&url)
            .query(params)
            .send()
            .await
            .map_err(|e| {
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::BackendUnavailable
                };
                Error::new(kind, format!("Jaeger at {} did not answer: {e}", self.base))
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = response.text().await.map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("reading Jaeger's answer: {e}"),
            )
        })?;
        if !status.is_success() {
            let detail: String = body.chars().take(300).collect();
            return Err(Error::new(
                ErrorKind::BackendUnavailable,
                format!("Jaeger answered {status} for {path}: {detail}"),
            ));
        }
        serde_json::from_str(&body).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("Jaeger's answer to {path} is not JSON: {e}"),
            )
        })
    }

    /// Spans of an api_v3 `{"result": TracesData}` answer.
    fn spans_of_result(&self, answer: Option<Value>) -> Result<Vec<Span>> {
        let Some(result) = answer.and_then(|mut a| a.get_mut("result").map(Value::take)) else {
            return Ok(Vec::new());
        };
        let bytes = serde_json::to_vec(&result).map_err(|e| Error::internal(e.to_string()))?;
        let request = decode_json(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::BackendUnavailable,
                format!("Jaeger's traces are not OTLP JSON: {}", e.message()),
            )
        })?;
        Ok(to_spans(request, &self.places).spans)
    }

    /// One search, within `namespace` when given.
    async fn search(&self, q: &SpanQuery, namespace: Option<&str>) -> Result<Vec<Span>> {
        if self.v1 {
            return self.search_v1(q, namespace).await;
        }
        let mut params = vec![
            ("query.startTimeMin".to_string(), rfc3339(q.start)),
            ("query.startTimeMax".to_string(), rfc3339(q.end)),
            ("query.searchDepth".to_string(), q.limit.to_string()),
        ];
        if let Some(s) = &q.service {
            params.push(("query.serviceName".into(), s.clone()));
        }
        if let Some(o) = &q.operation {
            params.push(("query.operationName".into(), o.clone()));
        }
        if let Some(d) = q.min_duration {
            params.push(("query.durationMin".into(), format!("{d}ns")));
        }
        if let Some(d) = q.max_duration {
            params.push(("query.durationMax".into(), format!("{d}ns")));
        }
        let mut attributes: BTreeMap<String, String> = q.tags.iter().cloned().collect();
        if let Some(ns) = namespace {
            attributes.insert(self.namespace_attribute().to_string(), ns.to_string());
        }
        if !attributes.is_empty() {
            params.push((
                "query.attributes".into(),
                serde_json::to_string(&attributes).expect("a map of strings serialises"),
            ));
        }
        let answer = self.get("/api/v3/traces", &params).await?;
        self.spans_of_result(answer)
    }

    /// One search through the v1 API (`/api/traces`: µs times, `tags` JSON).
    async fn search_v1(&self, q: &SpanQuery, namespace: Option<&str>) -> Result<Vec<Span>> {
        let service = q.service.clone().ok_or_else(|| {
            Error::bad_request("this cluster's Jaeger (v1 API) needs a service to search")
        })?;
        let mut params = vec![
            ("service".to_string(), service),
            ("start".to_string(), (q.start / 1000).to_string()),
            ("end".to_string(), (q.end / 1000).to_string()),
            ("limit".to_string(), q.limit.to_string()),
        ];
        if let Some(o) = &q.operation {
            params.push(("operation".into(), o.clone()));
        }
        if let Some(d) = q.min_duration {
            params.push(("minDuration".into(), format!("{d}ns")));
        }
        if let Some(d) = q.max_duration {
            params.push(("maxDuration".into(), format!("{d}ns")));
        }
        let mut tags: BTreeMap<String, String> = q.tags.iter().cloned().collect();
        if let Some(ns) = namespace {
            tags.insert(self.namespace_attribute().to_string(), ns.to_string());
        }
        if !tags.is_empty() {
            params.push((
                "tags".into(),
                serde_json::to_string(&tags).expect("a map of strings serialises"),
            ));
        }
        let answer = self.get("/api/traces", &params).await?;
        Ok(self.ui_spans(answer))
    }

    /// Spans of a v1 answer (`{"data": [Jaeger UI traces]}`).
    fn ui_spans(&self, answer: Option<Value>) -> Vec<Span> {
        let traces = answer
            .and_then(|a| a.get("data").and_then(Value::as_array).cloned())
            .unwrap_or_default();
        traces
            .iter()
            .flat_map(|t| ui::spans(t, &self.places))
            .collect()
    }

    /// The spans of `q` among `namespaces`: one search, or one per namespace.
    async fn scoped_search(&self, q: &SpanQuery, namespaces: &Namespaces) -> Result<Vec<Span>> {
        match namespaces {
            None => self.search(q, None).await,
            Some(set) => {
                let namespaces: Vec<String> = set.iter().cloned().collect();
                let found: Vec<Result<Vec<Span>>> = stream::iter(namespaces)
                    .map(|ns: String| async move { self.search(q, Some(&ns)).await })
                    .buffer_unordered(PARALLEL)
                    .collect()
                    .await;
                concat(found)
            }
        }
    }

    /// Whether `service` (with `operation`, when not empty) has a span in
    /// `namespace` in the last week; remembered for a minute.
    async fn present(&self, service: &str, operation: &str, namespace: &str) -> Result<bool> {
        let key = (
            service.to_string(),
            operation.to_string(),
            namespace.to_string(),
        );
        if let Some((at, found)) = self.probes.lock().expect("probe cache").get(&key) {
            if at.elapsed() < PROBE_TTL {
                return Ok(*found);
            }
        }
        let now = unix_now_ns();
        let q = SpanQuery {
            service: Some(service.to_string()),
            operation: (!operation.is_empty()).then(|| operation.to_string()),
            kind: None,
            tags: vec![],
            start: now - PROBE_WINDOW_NS,
            end: now,
            min_duration: None,
            max_duration: None,
            limit: 1,
        };
        let found = self.search(&q, Some(namespace)).await?.iter().any(|s| {
            s.service == service
                && s.place.namespace == namespace
                && (operation.is_empty() || s.operation == operation)
        });
        let mut probes = self.probes.lock().expect("probe cache");
        probes.retain(|_, (at, _)| at.elapsed() < PROBE_TTL);
        probes.insert(key, (Instant::now(), found));
        Ok(found)
    }

    /// The names of `candidates` `(service, operation)` with a span in one of `namespaces`.
    async fn visible(
        &self,
        candidates: Vec<(String, String)>,
        namespaces: &Namespaces,
    ) -> Result<Vec<(String, String)>> {
        let Some(set) = namespaces else {
            return Ok(candidates);
        };
        let checks: Vec<(usize, String)> = (0..candidates.len())
            .flat_map(|c| set.iter().map(move |ns| (c, ns.clone())))
            .collect();
        let candidates = &candidates;
        let answers: Vec<Result<(usize, bool)>> = stream::iter(checks)
            .map(|(c, ns): (usize, String)| async move {
                let (service, operation) = &candidates[c];
                Ok((c, self.present(service, operation, &ns).await?))
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut found = vec![false; candidates.len()];
        for a in answers {
            let (c, present) = a?;
            found[c] |= present;
        }
        Ok(candidates
            .iter()
            .zip(found)
            .filter(|(_, f)| *f)
            .map(|(c, _)| c.clone())
            .collect())
    }

    async fn find(&self, q: SpanQuery, namespaces: Namespaces) -> Result<Vec<TraceId>> {
        let spans = self.scoped_search(&q, &namespaces).await?;
        // Newest first by their latest span matching the query (Jaeger answers
        // whole traces), ties by id; traces without such a span are dropped.
        let mut latest: HashMap<TraceId, i64> = HashMap::new();
        for s in spans.iter().filter(|s| matches(s, &q, &namespaces)) {
            let at = latest.entry(s.trace_id).or_insert(i64::MIN);
            *at = (*at).max(s.start);
        }
        let mut ids: Vec<(i64, TraceId)> = latest.into_iter().map(|(id, t)| (t, id)).collect();
        ids.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(ids.into_iter().take(q.limit).map(|(_, id)| id).collect())
    }

    async fn read(&self, ids: Vec<TraceId>, window: Option<(i64, i64)>) -> Result<Vec<Span>> {
        let params: Vec<(String, String)> = window
            .map(|(start, end)| {
                vec![
                    ("startTime".to_string(), rfc3339(start)),
                    ("endTime".to_string(), rfc3339(end)),
                ]
            })
            .unwrap_or_default();
        let params: Vec<(String, String)> = match (self.v1, window) {
            (true, Some((start, end))) => vec![
                ("start".to_string(), (start / 1000).to_string()),
                ("end".to_string(), (end / 1000).to_string()),
            ],
            (true, None) => Vec::new(),
            (false, _) => params,
        };
        let params = &params;
        let found: Vec<Result<Vec<Span>>> = stream::iter(ids)
            .map(|id| async move {
                let spans = if self.v1 {
                    let path = format!("/api/traces/{}", id.to_hex32());
                    self.ui_spans(self.get(&path, params).await?)
                } else {
                    let path = format!("/api/v3/traces/{}", id.to_hex32());
                    self.spans_of_result(self.get(&path, params).await?)?
                };
                Ok(spans.into_iter().filter(|s| s.trace_id == id).collect())
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        concat(found)
    }

    async fn list_services(&self, namespaces: Namespaces) -> Result<Vec<String>> {
        let (path, field) = if self.v1 {
            ("/api/services", "data")
        } else {
            ("/api/v3/services", "services")
        };
        let all = self
            .get(path, &[])
            .await?
            .and_then(|a| a.get(field).cloned())
            .and_then(|s| serde_json::from_value::<Vec<String>>(s).ok())
            .unwrap_or_default();
        let candidates = all.into_iter().map(|s| (s, String::new())).collect();
        Ok(self
            .visible(candidates, &namespaces)
            .await?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    async fn list_operations(
        &self,
        service: String,
        kind: Option<i32>,
        namespaces: Namespaces,
    ) -> Result<Vec<Operation>> {
        let mut params = vec![("service".to_string(), service.clone())];
        if let Some(k) = kind.and_then(kind_name) {
            params.push(("spanKind".into(), k.to_string()));
        }
        let (path, field) = if self.v1 {
            ("/api/operations", "data")
        } else {
            ("/api/v3/operations", "operations")
        };
        let listed: Vec<(String, i32)> = self
            .get(path, &params)
            .await?
            .and_then(|a| a.get(field).and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|o| {
                let name = o.get("name")?.as_str()?.to_string();
                let kind = o
                    .get("spanKind")
                    .and_then(Value::as_str)
                    .and_then(kind_number)
                    .unwrap_or(0);
                Some((name, kind))
            })
            .filter(|(_, k)| kind.is_none_or(|wanted| wanted == *k))
            .collect();
        let candidates = listed
            .iter()
            .map(|(n, _)| (service.clone(), n.clone()))
            .collect();
        let shown = self.visible(candidates, &namespaces).await?;
        Ok(listed
            .into_iter()
            .filter(|(n, _)| shown.iter().any(|(_, o)| o == n))
            .map(|(name, kind)| Operation { name, kind })
            .collect())
    }

    async fn list_edges(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> Result<Vec<RawEdge>> {
        if namespaces.is_none() {
            // Cluster-wide callers see Jaeger's own graph (v1 API, milliseconds).
            let params = [
                ("endTs".to_string(), (end / 1_000_000).to_string()),
                (
                    "lookback".to_string(),
                    ((end - start) / 1_000_000).max(1).to_string(),
                ),
            ];
            let answer = self.get("/api/dependencies", &params).await?;
            let links = answer
                .and_then(|a| a.get("data").and_then(Value::as_array).cloned())
                .unwrap_or_default();
            return Ok(links
                .iter()
                .filter_map(|l| {
                    Some(RawEdge {
                        parent_service: l.get("parent")?.as_str()?.to_string(),
                        parent_namespace: String::new(),
                        child_service: l.get("child")?.as_str()?.to_string(),
                        child_namespace: String::new(),
                        calls: l.get("callCount")?.as_u64()?,
                    })
                })
                .collect());
        }
        // A scoped caller: the graph of the traces of its visible services.
        Ok(edges_of(&self.sample(start, end, namespaces).await?))
    }

    /// Where services ran, from a sample of recent traces of each service
    /// (Jaeger keeps no per-pod index).
    async fn list_placements(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> Result<Vec<Placement>> {
        let mut counts: BTreeMap<(String, String, String, String, String), u64> = BTreeMap::new();
        for s in self.sample(start, end, namespaces.clone()).await? {
            let in_scope = namespaces
                .as_ref()
                .is_none_or(|set| set.contains(&s.place.namespace));
            if in_scope && s.start >= start && s.start <= end {
                let p = s.place;
                *counts
                    .entry((s.service, p.namespace, p.pod, p.workload, p.node))
                    .or_default() += 1;
            }
        }
        Ok(counts
            .into_iter()
            .map(
                |((service, namespace, pod, workload, node), spans)| Placement {
                    service,
                    namespace,
                    pod,
                    workload,
                    node,
                    spans,
                },
            )
            .collect())
    }

    /// A TraceQL search: Jaeger is asked for the traces of the pushed-down
    /// service (or of every visible service), the filter evaluated on their spans.
    async fn search_traceql(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        namespaces: Namespaces,
        limit: usize,
    ) -> Result<Vec<TraceId>> {
        let p = Pushdown::of(&filter);
        let services = match &p.service {
            Some(s) => vec![s.clone()],
            None => self.list_services(namespaces.clone()).await?,
        };
        let mut ids = Vec::new();
        for service in services {
            let q = SpanQuery {
                service: Some(service),
                operation: p.operation.clone(),
                kind: p.kind,
                tags: p.tags.clone(),
                start,
                end,
                min_duration: p.min_duration,
                max_duration: p.max_duration,
                limit: limit.max(DEPENDENCY_TRACES),
            };
            ids.extend(self.find(q, namespaces.clone()).await?);
        }
        ids.sort();
        ids.dedup();
        let reads_root = filter.reads_root();
        let mut latest: HashMap<TraceId, i64> = HashMap::new();
        for s in self.read(ids, None).await? {
            let in_scope = namespaces
                .as_ref()
                .is_none_or(|set| set.contains(&s.place.namespace));
            let matches = reads_root || filter.matches(&s, TraceContext::default());
            if in_scope && matches && s.start >= start && s.start <= end {
                let at = latest.entry(s.trace_id).or_insert(s.start);
                *at = (*at).max(s.start);
            }
        }
        let mut newest: Vec<(i64, TraceId)> = latest.into_iter().map(|(id, t)| (t, id)).collect();
        newest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        Ok(newest.into_iter().take(limit).map(|(_, id)| id).collect())
    }

    /// Every span of up to `DEPENDENCY_TRACES` recent traces of each service
    /// visible among `namespaces` in `[start, end]`.
    async fn sample(&self, start: i64, end: i64, namespaces: Namespaces) -> Result<Vec<Span>> {
        let mut ids = Vec::new();
        for service in self.list_services(namespaces.clone()).await? {
            let q = SpanQuery {
                service: Some(service),
                operation: None,
                kind: None,
                tags: vec![],
                start,
                end,
                min_duration: None,
                max_duration: None,
                limit: DEPENDENCY_TRACES,
            };
            ids.extend(self.find(q, namespaces.clone()).await?);
        }
        ids.sort();
        ids.dedup();
        self.read(ids, None).await
    }
}

/// The spans of several requests, or the first failure.
fn concat(found: Vec<Result<Vec<Span>>>) -> Result<Vec<Span>> {
    let mut spans = Vec::new();
    for f in found {
        spans.extend(f?);
    }
    Ok(spans)
}

/// Whether `s` matches `q` within `namespaces` (what Jaeger was asked for).
fn matches(s: &Span, q: &SpanQuery, namespaces: &Namespaces) -> bool {
    let in_scope = namespaces
        .as_ref()
        .is_none_or(|set| set.contains(&s.place.namespace));
    in_scope
        && q.service.as_ref().is_none_or(|x| *x == s.service)
        && q.operation.as_ref().is_none_or(|x| *x == s.operation)
        && q.min_duration.is_none_or(|d| s.duration >= d)
        && q.max_duration.is_none_or(|d| s.duration <= d)
        && s.start >= q.start
        && s.start <= q.end
}

/// Parent → child calls between different services in `spans`.
fn edges_of(spans: &[Span]) -> Vec<RawEdge> {
    let by_id: HashMap<_, &Span> = spans.iter().map(|s| ((s.trace_id, s.span_id), s)).collect();
    let mut counts: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    for child in spans {
        let Some(parent) = child
            .parent_span_id
            .and_then(|p| by_id.get(&(child.trace_id, p)))
        else {
            continue;
        };
        if parent.service == child.service {
            continue;
        }
        *counts
            .entry((
                parent.service.clone(),
                parent.place.namespace.clone(),
                child.service.clone(),
                child.place.namespace.clone(),
            ))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((ps, pn, cs, cn), calls)| RawEdge {
            parent_service: ps,
            parent_namespace: pn,
            child_service: cs,
            child_namespace: cn,
            calls,
        })
        .collect()
}

impl TraceBackend for JaegerTraces {
    fn ingest(&self, _: Vec<Span>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async {
            Err(Error::new(
                ErrorKind::MethodNotAllowed,
                "this cluster's traces are in Jaeger; export them to Jaeger's collector",
            ))
        })
    }

    fn find_traces(
        &self,
        query: SpanQuery,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>> {
        Box::pin(self.find(query, namespaces))
    }

    fn spans_of(
        &self,
        ids: Vec<TraceId>,
        window: Option<(i64, i64)>,
    ) -> BoxFuture<'_, Result<Vec<Span>>> {
        Box::pin(self.read(ids, window))
    }

    fn services(&self, namespaces: Namespaces) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(self.list_services(namespaces))
    }

    fn operations(
        &self,
        service: String,
        kind: Option<i32>,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Operation>>> {
        Box::pin(self.list_operations(service, kind, namespaces))
    }

    fn edges(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<RawEdge>>> {
        Box::pin(self.list_edges(start, end, namespaces))
    }

    fn placements(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Placement>>> {
        Box::pin(self.list_placements(start, end, namespaces))
    }

    fn search(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        namespaces: Namespaces,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>> {
        Box::pin(self.search_traceql(filter, start, end, namespaces, limit))
    }
}
