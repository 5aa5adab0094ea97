//! The span store under the trace service's tenancy rules, before and after
//! spans move from memory to Parquet.

use crate::TraceStore;
use periscope_model::Scope;
use periscope_store::StoreOptions;
use periscope_traces::service::OPAQUE_SERVICE;
use periscope_traces::{Edge, Place, Span, SpanId, SpanQuery, Tag, TraceId, TraceService};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    namespace: &str,
    start_ms: i64,
) -> Span {
    Span {
        trace_id: TraceId([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, trace]),
        span_id: SpanId([0, 0, 0, 0, 0, 0, trace, id]),
        parent_span_id: parent.map(|p| SpanId([0, 0, 0, 0, 0, 0, trace, p])),
        service: service.into(),
        operation: format!("{service} op"),
        kind: 2,
        status_code: 0,
        start: T0 + start_ms * MS,
        duration: (10 + id as i64) * MS,
        place: Place {
            namespace: namespace.into(),
            pod: format!("{service}-0"),
            ..Place::default()
        },
        tags: vec![Tag::string("http.route", format!("/{service}/{id}"))],
        resource: vec![Tag::string("service.name", service)].into(),
        events: vec![],
        links: vec![],
    }
}

/// Trace 1: frontend (team-a) → api (team-a) → db (team-b).
/// Trace 2: api (team-a) alone, later. Trace 3: a span without a namespace.
/// Trace 4: only team-b.
fn spans() -> Vec<Span> {
    vec![
        span(1, 1, None, "frontend", "team-a", 0),
        span(1, 2, Some(1), "api", "team-a", 1),
        span(1, 3, Some(2), "db", "team-b", 2),
        span(2, 1, None, "api", "team-a", 100),
        span(3, 1, None, "batch", "", 50),
        span(4, 1, None, "db", "team-b", 60),
    ]
}

fn team_a() -> Scope {
    Scope::namespaces(["team-a".to_string()])
}

fn query(service: &str) -> SpanQuery {
    SpanQuery {
        service: Some(service.into()),
        operation: None,
        kind: None,
        tags: vec![],
        start: T0 - 1000 * MS,
        end: T0 + 1000 * MS,
        min_duration: None,
        max_duration: None,
        limit: 10,
    }
}

async fn each_layout(check: impl AsyncFn(&TraceService)) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TraceStore::open(StoreOptions::new(dir.path())).unwrap());
    let service = TraceService::new(store.clone());
    service.ingest(spans()).await.unwrap();
    check(&service).await;
    store.store().flush().await.unwrap();
    assert_eq!(store.store().stats().memory_rows, 0, "all in Parquet now");
    check(&service).await;
}

#[tokio::test]
async fn searches_are_scoped_newest_first_and_pruned() {
    each_layout(async |service: &TraceService| {
        let found = service.search(query("api"), &team_a()).await.unwrap();
        let ids: Vec<String> = found.iter().map(|t| t.trace_id.to_string()).collect();
        assert_eq!(
            ids,
            ["0000000000000002", "0000000000000001"],
            "newest first"
        );
        assert_eq!(found[1].spans.len(), 2, "db in team-b is pruned");
        assert_eq!(found[1].hidden, 1);
        // A service of another namespace is not found through a scope.
        assert!(service
            .search(query("db"), &team_a())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            service
                .search(query("db"), &Scope::ClusterWide)
                .await
                .unwrap()
                .len(),
            2
        );
        // Spans without a namespace are for cluster-wide callers only.
        assert!(service
            .search(query("batch"), &team_a())
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            service
                .search(query("batch"), &Scope::ClusterWide)
                .await
                .unwrap()
                .len(),
            1
        );
        // Filters come before the limit.
        let mut q = query("api");
        q.limit = 1;
        q.min_duration = Some(12 * MS);
        let found = service.search(q, &team_a()).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].trace_id.to_string(),
            "0000000000000001",
            "only its api span lasts 12 ms"
        );
        let mut q = query("api");
        q.tags = vec![("http.route".into(), "/api/1".into())];
        let found = service.search(q, &team_a()).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].trace_id.to_string(), "0000000000000002");
        let mut q = query("api");
        q.tags = vec![("http.route".into(), "/api/%".into())];
        assert!(
            service.search(q, &team_a()).await.unwrap().is_empty(),
            "wildcards are literal"
        );
    })
    .await;
}

#[tokio::test]
async fn traces_by_id_show_only_visible_spans_and_hide_foreign_traces() {
    each_layout(async |service: &TraceService| {
        let one = TraceId::parse("1").unwrap();
        let t = service.trace(one, &team_a()).await.unwrap().unwrap();
        assert_eq!(
            t.spans
                .iter()
                .map(|s| s.service.as_str())
                .collect::<Vec<_>>(),
            ["frontend", "api"]
        );
        assert_eq!(t.hidden, 1);
        let all = service
            .trace(one, &Scope::ClusterWide)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((all.spans.len(), all.hidden), (3, 0));
        assert_eq!(
            all.spans[2].tags,
            spans()[2].tags,
            "tags survive the round trip"
        );
        // Another tenant's trace reads exactly like a missing one.
        let four = TraceId::parse("4").unwrap();
        assert!(service.trace(four, &team_a()).await.unwrap().is_none());
        assert!(service
            .trace(TraceId::parse("99").unwrap(), &team_a())
            .await
            .unwrap()
            .is_none());
        assert!(service
            .trace(four, &Scope::namespaces(Vec::<String>::new()))
            .await
            .unwrap()
            .is_none());
    })
    .await;
}

#[tokio::test]
async fn services_operations_and_dependencies_come_from_the_scope_only() {
    each_layout(async |service: &TraceService| {
        assert_eq!(
            service.services(&team_a()).await.unwrap(),
            ["api", "frontend"]
        );
        assert_eq!(
            service.services(&Scope::ClusterWide).await.unwrap(),
            ["api", "batch", "db", "frontend"]
        );
        let ops = service
            .operations("db".into(), None, &team_a())
            .await
            .unwrap();
        assert!(ops.is_empty());
        let ops = service
            .operations("api".into(), Some(2), &team_a())
            .await
            .unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].name, "api op");
        let edges = service
            .dependencies(T0 - 1000 * MS, T0 + 1000 * MS, &team_a())
            .await
            .unwrap();
        let edge = |p: &str, c: &str| Edge {
            parent: p.into(),
            child: c.into(),
            calls: 1,
        };
        assert_eq!(
            edges,
            [edge("api", OPAQUE_SERVICE), edge("frontend", "api")]
        );
        let b = Scope::namespaces(["team-b".to_string()]);
        let edges = service
            .dependencies(T0 - 1000 * MS, T0 + 1000 * MS, &b)
            .await
            .unwrap();
        assert_eq!(edges, [edge(OPAQUE_SERVICE, "db")]);
        let all = service
            .dependencies(T0 - 1000 * MS, T0 + 1000 * MS, &Scope::ClusterWide)
            .await
            .unwrap();
        assert_eq!(all, [edge("api", "db"), edge("frontend", "api")]);
    })
    .await;
}

/// Searches over many partitions read the newest first and stop once full:
/// the answer is the same as reading everything, newest first.
#[tokio::test]
async fn long_searches_read_newest_partitions_first_with_the_same_answer() {
    const HOUR_MS: i64 = 3_600_000;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(TraceStore::open(StoreOptions::new(dir.path())).unwrap());
    let service = TraceService::new(store.clone());
    // Ten traces an hour apart over ten hours; trace 3 also has a span in the
    // last hour, so it is the newest of all.
    let mut all: Vec<Span> = (1..=10u8)
        .map(|t| span(t, 1, None, "api", "team-a", i64::from(t) * HOUR_MS))
        .collect();
    all.push(span(3, 2, Some(1), "api", "team-a", 10 * HOUR_MS + 5));
    service.ingest(all).await.unwrap();
    store.store().flush().await.unwrap();
    let ids = |found: Vec<periscope_traces::ScopedTrace>| -> Vec<u8> {
        found.iter().map(|t| t.trace_id.0[15]).collect()
    };
    let mut q = query("api");
    q.start = T0;
    q.end = T0 + 11 * HOUR_MS * MS;
    for (limit, expected) in [
        (1, vec![3]),
        (2, vec![3, 10]),
        (4, vec![3, 10, 9, 8]),
        (20, vec![3, 10, 9, 8, 7, 6, 5, 4, 2, 1]),
    ] {
        q.limit = limit;
        let found = service.search(q.clone(), &team_a()).await.unwrap();
        assert_eq!(ids(found), expected, "limit {limit}");
    }
    // An unbounded range is clamped to the stored times.
    q.start = i64::MIN;
    q.end = i64::MAX;
    q.limit = 3;
    let found = service.search(q.clone(), &team_a()).await.unwrap();
    assert_eq!(ids(found), vec![3, 10, 9]);
}
