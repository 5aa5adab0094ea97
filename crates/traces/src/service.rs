//! The trace operations every surface (Jaeger HTTP API, gRPC) calls, with the
//! tenancy rules applied in one place whatever backend holds the spans:
//!
//! - a span is visible when its namespace is in the caller's scope; spans
//!   without a namespace only to cluster-wide callers;
//! - a search returns traces with a visible span matching it, each pruned to
//!   its visible spans; a trace by id likewise, with the number hidden (never
//!   which), and "not found" when nothing is visible;
//! - services and operations come only from visible spans;
//! - a dependency edge with one foreign end shows that end as one opaque node.
//!
//! Backends narrow their reads by the namespace set; this module checks every
//! span again before it leaves.

use crate::id::TraceId;
use crate::query::SpanQuery;
use crate::span::Span;
use crate::traceql::{Filter, TraceContext};
use futures::future::BoxFuture;
use periscope_model::{Result, Scope};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The name a dependency graph gives every service outside the caller's scope.
pub const OPAQUE_SERVICE: &str = "(outside your scope)";

/// The namespaces whose spans a read may return: `None` means every span,
/// those without a namespace included (cluster-wide callers).
pub type Namespaces = Option<Arc<BTreeSet<String>>>;

/// The namespace filter of a scope.
pub fn namespaces(scope: &Scope) -> Namespaces {
    match scope {
        Scope::ClusterWide => None,
        Scope::Namespaces(set) => Some(Arc::clone(set)),
    }
}

/// Whether `span` is visible in `scope`.
pub fn visible(span: &Span, scope: &Scope) -> bool {
    match scope {
        Scope::ClusterWide => true,
        Scope::Namespaces(set) => {
            !span.place.namespace.is_empty() && set.contains(&span.place.namespace)
        }
    }
}

/// Calls from spans of one service (and namespace) to spans of another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEdge {
    pub parent_service: String,
    pub parent_namespace: String,
    pub child_service: String,
    pub child_namespace: String,
    pub calls: u64,
}

/// A dependency edge as Jaeger lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Edge {
    pub parent: String,
    pub child: String,
    pub calls: u64,
}

/// Where a service ran: one (service, namespace, pod) seen in spans of a
/// window, with its workload and node and how many spans it sent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placement {
    pub service: String,
    pub namespace: String,
    pub pod: String,
    /// `Kind:name`, empty when unknown.
    pub workload: String,
    pub node: String,
    pub spans: u64,
}

/// An operation and its span kind (OTLP number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    pub kind: i32,
}

/// Where spans are kept: the embedded store or an external engine.
pub trait TraceBackend: Send + Sync {
    /// Stores spans; returns once they are durable.
    fn ingest(&self, spans: Vec<Span>) -> BoxFuture<'_, Result<()>>;
    /// The ids of traces with a span matching `query` among spans of
    /// `namespaces`, newest first (by their latest matching span, ties by
    /// id), at most `query.limit`.
    fn find_traces(
        &self,
        query: SpanQuery,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>>;
    /// Every span of the given traces (started within `window`, Unix ns,
    /// when the caller knows it).
    fn spans_of(
        &self,
        ids: Vec<TraceId>,
        window: Option<(i64, i64)>,
    ) -> BoxFuture<'_, Result<Vec<Span>>>;
    /// Services with spans among `namespaces`.
    fn services(&self, namespaces: Namespaces) -> BoxFuture<'_, Result<Vec<String>>>;
    /// Operations of `service` (of `kind`, when given) among `namespaces`.
    fn operations(
        &self,
        service: String,
        kind: Option<i32>,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Operation>>>;
    /// Parent → child service calls of spans started in `[start, end]`; at
    /// least those with an end among `namespaces` (more is fine: the service
    /// decides what a caller sees).
    fn edges(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<RawEdge>>>;
    /// The ids of traces with a span started in `[start, end]` among
    /// `namespaces` that may match `filter` (exactly when the filter reads no
    /// trace root), newest first by their latest such span, at most `limit`.
    fn search(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        namespaces: Namespaces,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<TraceId>>>;
    /// The (service, namespace, pod) of spans started in `[start, end]`
    /// among `namespaces`.
    fn placements(
        &self,
        start: i64,
        end: i64,
        namespaces: Namespaces,
    ) -> BoxFuture<'_, Result<Vec<Placement>>>;
}

/// Something that learns from spans as they are ingested (the span-metrics
/// generator). `observe` reads what it needs before the spans are stored; the
/// commit it returns runs only once they are durable, so a refused write that
/// the client retries is counted once.
pub trait SpanObserver: Send + Sync {
    fn observe(&self, spans: &[Span]) -> Box<dyn FnOnce() + Send>;
}

/// A trace found by a TraceQL search: as the caller may see it, with the
/// spans that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundTrace {
    pub trace: ScopedTrace,
    pub matched: Vec<Span>,
}

/// Most traces a TraceQL search over the trace root reads to find its matches.
const MAX_ROOT_CANDIDATES: usize = 1000;

/// A trace as a caller may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopedTrace {
    pub trace_id: TraceId,
    /// Its visible spans, by start time.
    pub spans: Vec<Span>,
    /// How many of its spans are outside the caller's scope.
    pub hidden: usize,
}

/// The trace operations over one backend.
#[derive(Clone)]
pub struct TraceService {
    backend: Arc<dyn TraceBackend>,
    observer: Option<Arc<dyn SpanObserver>>,
}

impl TraceService {
    /// The operations over `backend`.
    pub fn new(backend: Arc<dyn TraceBackend>) -> Self {
        Self {
            backend,
            observer: None,
        }
    }

    /// The same service, showing every ingested span to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn SpanObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Stores spans durably (then lets the observer count them).
    pub async fn ingest(&self, spans: Vec<Span>) -> Result<()> {
        if spans.is_empty() {
            return Ok(());
        }
        let commit = self.observer.as_ref().map(|o| o.observe(&spans));
        self.backend.ingest(spans).await?;
        if let Some(commit) = commit {
            commit();
        }
        Ok(())
    }

    /// The traces of `ids` that have a visible span, pruned, in the given order.
    pub async fn traces(&self, ids: Vec<TraceId>, scope: &Scope) -> Result<Vec<ScopedTrace>> {
        self.traces_within(ids, None, scope).await
    }

    /// Like [`TraceService::traces`], reading only spans started within
    /// `window` (Unix ns) when it is given.
    async fn traces_within(
        &self,
        ids: Vec<TraceId>,
        window: Option<(i64, i64)>,
        scope: &Scope,
    ) -> Result<Vec<ScopedTrace>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut by_trace: HashMap<TraceId, Vec<Span>> = HashMap::new();
        for span in self.backend.spans_of(ids.clone(), window).await? {
            by_trace.entry(span.trace_id).or_default().push(span);
        }
        let mut seen = BTreeSet::new();
        Ok(ids
            .into_iter()
            .filter(|id| seen.insert(*id))
            .filter_map(|id| {
                let all = by_trace.remove(&id)?;
                let total = all.len();
                let mut spans: Vec<Span> = all.into_iter().filter(|s| visible(s, scope)).collect();
                if spans.is_empty() {
                    return None;
                }
                spans.sort_by_key(|s| (s.start, s.span_id));
                Some(ScopedTrace {
                    trace_id: id,
                    hidden: total - spans.len(),
                    spans,
                })
            })
            .collect())
    }

    /// One trace, pruned; `None` when none of its spans is visible (the same
    /// answer as for a trace that does not exist).
    pub async fn trace(&self, id: TraceId, scope: &Scope) -> Result<Option<ScopedTrace>> {
        self.trace_within(id, None, scope).await
    }

    /// One trace, reading only spans started within `window` (Unix ns) when
    /// the caller gives one (Jaeger's optional `start`/`end` of a trace by id).
    pub async fn trace_within(
        &self,
        id: TraceId,
        window: Option<(i64, i64)>,
        scope: &Scope,
    ) -> Result<Option<ScopedTrace>> {
        Ok(self.traces_within(vec![id], window, scope).await?.pop())
    }

    /// Traces with a visible span matching `query`, newest first.
    pub async fn search(&self, query: SpanQuery, scope: &Scope) -> Result<Vec<ScopedTrace>> {
        let ids = self.backend.find_traces(query, namespaces(scope)).await?;
        self.traces(ids, scope).await
    }

    /// Traces with a visible span matching `filter` started in `[start, end]`
    /// (Unix ns), newest first, at most `limit`; the namespace scope is part
    /// of the backend's read, before its limit.
    pub async fn search_traceql(
        &self,
        filter: Arc<Filter>,
        start: i64,
        end: i64,
        limit: usize,
        scope: &Scope,
    ) -> Result<Vec<FoundTrace>> {
        let reads_root = filter.reads_root();
        let candidates = if reads_root {
            limit.saturating_mul(10).clamp(limit, MAX_ROOT_CANDIDATES)
        } else {
            limit
        };
        let ids = self
            .backend
            .search(
                Arc::clone(&filter),
                start,
                end,
                namespaces(scope),
                candidates,
            )
            .await?;
        // A root may have started before the window: read whole traces then.
        let window = (!reads_root).then_some((start, end));
        let traces = self.traces_within(ids, window, scope).await?;
        Ok(traces
            .into_iter()
            .filter_map(|trace| {
                let root = trace.spans.iter().find(|s| s.parent_span_id.is_none());
                let context = TraceContext { root };
                let matched: Vec<Span> = trace
                    .spans
                    .iter()
                    .filter(|s| s.start >= start && s.start <= end)
                    .filter(|s| filter.matches(s, context))
                    .cloned()
                    .collect();
                (!matched.is_empty()).then_some(FoundTrace { trace, matched })
            })
            .take(limit)
            .collect())
    }

    /// Services with visible spans, sorted.
    pub async fn services(&self, scope: &Scope) -> Result<Vec<String>> {
        let mut services = self.backend.services(namespaces(scope)).await?;
        services.sort();
        services.dedup();
        Ok(services)
    }

    /// Operations of `service` in visible spans, sorted.
    pub async fn operations(
        &self,
        service: String,
        kind: Option<i32>,
        scope: &Scope,
    ) -> Result<Vec<Operation>> {
        let mut operations = self
            .backend
            .operations(service, kind, namespaces(scope))
            .await?;
        operations.sort();
        operations.dedup();
        Ok(operations)
    }

    /// Where services ran in `[start, end]` (Unix ns), among the namespaces
    /// the caller may see, sorted.
    pub async fn placements(&self, start: i64, end: i64, scope: &Scope) -> Result<Vec<Placement>> {
        let mut placements = self
            .backend
            .placements(start, end, namespaces(scope))
            .await?;
        placements.retain(|p| match scope {
            Scope::ClusterWide => true,
            Scope::Namespaces(set) => set.contains(&p.namespace),
        });
        placements.sort();
        Ok(placements)
    }

    /// The service dependency graph of `[start, end]` as `scope` may see it.
    pub async fn dependencies(&self, start: i64, end: i64, scope: &Scope) -> Result<Vec<Edge>> {
        let raw = self.backend.edges(start, end, namespaces(scope)).await?;
        let shown = |service: &str, namespace: &str| -> Option<String> {
            let inside = match scope {
                Scope::ClusterWide => true,
                Scope::Namespaces(set) => !namespace.is_empty() && set.contains(namespace),
            };
            inside.then(|| service.to_string())
        };
        let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
        for e in raw {
            let parent = shown(&e.parent_service, &e.parent_namespace);
            let child = shown(&e.child_service, &e.child_namespace);
            let (parent, child) = match (parent, child) {
                (None, None) => continue,
                (p, c) => (
                    p.unwrap_or_else(|| OPAQUE_SERVICE.to_string()),
                    c.unwrap_or_else(|| OPAQUE_SERVICE.to_string()),
                ),
            };
            *edges.entry((parent, child)).or_default() += e.calls;
        }
        Ok(edges
            .into_iter()
            .map(|((parent, child), calls)| Edge {
                parent,
                child,
                calls,
            })
            .collect())
    }
}
