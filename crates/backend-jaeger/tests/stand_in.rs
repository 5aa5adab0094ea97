//! The Jaeger backend against a stand-in Jaeger query service
//! (`crates/jaeger-stand-in`). Jaeger cannot run on these machines, so the
//! stand-in answers with the shapes Jaeger's own
//! sources define: api_v3's parameter names and their snake_case aliases
//! (cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/query_parser.go),
//! the `{"result": TracesData}` envelope and 404 for nothing found
//! (apiv3/snapshots/FindTraces.json, GetTrace.json), `{"services": [...]}`
//! and `{"operations": [{name, spanKind}]}` (GetServices.json,
//! GetOperations.json), and the v1 `/api/dependencies` envelope
//! (`{"data": [{parent, child, callCount}]}`). Its search semantics are
//! Jaeger's: a trace matches when one span has the service, operation and
//! every attribute (span or resource) asked for.

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use periscope_backend_jaeger::JaegerTraces;
use periscope_config::{JaegerApi, JaegerConfig};
use periscope_model::{ErrorKind, Scope};
use periscope_traces::otlp::PlaceAttributes;
use periscope_traces::service::OPAQUE_SERVICE;
use periscope_traces::{Edge, Place, Span, SpanId, Tag, TraceId, TraceService};
use std::sync::Arc;
use std::time::Duration;

const MS: i64 = 1_000_000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    service: &str,
    namespace: Option<&str>,
    at: i64,
) -> Span {
    let mut resource = vec![Tag::string("service.name", service)];
    if let Some(ns) = namespace {
        resource.push(Tag::string("k8s.namespace.name", ns));
    }
    Span {
        trace_id: TraceId([trace; 16]),
        span_id: SpanId([trace, id, 0, 0, 0, 0, 0, 1]),
        parent_span_id: parent.map(|p| SpanId([trace, p, 0, 0, 0, 0, 0, 1])),
        service: service.into(),
        operation: format!("{service} op"),
        kind: 2,
        status_code: 0,
        start: at,
        duration: 10 * MS,
        place: Place {
            namespace: namespace.unwrap_or_default().into(),
            ..Place::default()
        },
        tags: vec![Tag::string("span.kind", "server")],
        resource: resource.into(),
        events: vec![],
        links: vec![],
    }
}

/// T1 frontend (team-a) → api (team-a) → db (team-b); T2 api (team-a);
/// T3 db (team-b); T4 batch without a namespace.
fn fixture() -> Vec<Span> {
    let t = now() - 60_000 * MS;
    vec![
        span(1, 1, None, "frontend", Some("team-a"), t),
        span(1, 2, Some(1), "api", Some("team-a"), t + MS),
        span(1, 3, Some(2), "db", Some("team-b"), t + 2 * MS),
        span(2, 1, None, "api", Some("team-a"), t + 100 * MS),
        span(3, 1, None, "db", Some("team-b"), t + 50 * MS),
        span(4, 1, None, "batch", None, t + 30 * MS),
    ]
}

async fn stand_in() -> (String, periscope_jaeger_stand_in::Jaeger) {
    let dependencies = vec![
        ("frontend".to_string(), "api".to_string(), 1),
        ("api".to_string(), "db".to_string(), 1),
    ];
    periscope_jaeger_stand_in::start(fixture(), dependencies).await
}

fn service_at(url: &str) -> TraceService {
    service_with(url, JaegerApi::V3)
}

fn service_with(url: &str, api: JaegerApi) -> TraceService {
    let config = JaegerConfig {
        url: url.to_string(),
        timeout: Duration::from_secs(5),
        api,
    };
    TraceService::new(Arc::new(
        JaegerTraces::new(&config, PlaceAttributes::default()).unwrap(),
    ))
}

fn team(ns: &str) -> Scope {
    Scope::namespaces([ns.to_string()])
}

fn query(service: &str) -> periscope_traces::SpanQuery {
    periscope_traces::SpanQuery {
        service: Some(service.into()),
        operation: None,
        kind: None,
        tags: vec![],
        start: now() - 3_600_000 * MS,
        end: now(),
        min_duration: None,
        max_duration: None,
        limit: 20,
    }
}

#[tokio::test]
async fn a_tenant_reaches_only_its_namespaces_through_jaeger_api_v3() {
    tenancy_through(JaegerApi::V3, "query.attributes").await;
}

#[tokio::test]
async fn a_tenant_reaches_only_its_namespaces_through_jaeger_v1() {
    tenancy_through(JaegerApi::V1, "tags=").await;
}

/// The whole tenancy check through one of Jaeger's APIs; `filter` is how that
/// API's searches carry attributes.
async fn tenancy_through(api: JaegerApi, filter: &str) {
    let (url, jaeger) = stand_in().await;
    let service = service_with(&url, api);
    let a = team("team-a");

    assert_eq!(service.services(&a).await.unwrap(), ["api", "frontend"]);
    assert_eq!(service.services(&team("team-b")).await.unwrap(), ["db"]);
    assert_eq!(
        service.services(&Scope::ClusterWide).await.unwrap(),
        ["api", "batch", "db", "frontend"]
    );
    assert!(service
        .operations("db".into(), None, &a)
        .await
        .unwrap()
        .is_empty());
    let ops = service.operations("api".into(), Some(2), &a).await.unwrap();
    assert_eq!(
        ops.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["api op"]
    );

    let found = service.search(query("api"), &a).await.unwrap();
    let ids: Vec<String> = found.iter().map(|t| t.trace_id.to_string()).collect();
    assert_eq!(
        ids,
        [TraceId([2; 16]).to_string(), TraceId([1; 16]).to_string()],
        "newest first"
    );
    assert_eq!(
        (found[1].spans.len(), found[1].hidden),
        (2, 1),
        "db in team-b pruned"
    );
    assert!(service.search(query("db"), &a).await.unwrap().is_empty());
    assert!(service.search(query("batch"), &a).await.unwrap().is_empty());
    assert!(
        service.trace(TraceId([3; 16]), &a).await.unwrap().is_none(),
        "another tenant's trace"
    );
    assert!(
        service.trace(TraceId([4; 16]), &a).await.unwrap().is_none(),
        "a trace without a namespace"
    );
    assert_eq!(
        service
            .trace(TraceId([1; 16]), &Scope::ClusterWide)
            .await
            .unwrap()
            .unwrap()
            .spans
            .len(),
        3
    );

    // Every search Jaeger received for a scoped caller named the namespace.
    let searches = jaeger.searches.lock().unwrap().clone();
    assert!(!searches.is_empty());
    let scoped: Vec<&String> = searches.iter().filter(|q| q.contains(filter)).collect();
    assert!(
        scoped.iter().all(|q| q.contains("k8s.namespace.name")),
        "{scoped:?}"
    );

    // Dependencies: a scoped graph from its traces, a foreign end opaque;
    // cluster-wide callers get Jaeger's own graph.
    let (start, end) = (now() - 3_600_000 * MS, now());
    let edge = |p: &str, c: &str| Edge {
        parent: p.into(),
        child: c.into(),
        calls: 1,
    };
    assert_eq!(
        service.dependencies(start, end, &a).await.unwrap(),
        [edge("api", OPAQUE_SERVICE), edge("frontend", "api")]
    );
    assert_eq!(
        service
            .dependencies(start, end, &team("team-b"))
            .await
            .unwrap(),
        [edge(OPAQUE_SERVICE, "db")]
    );
    assert_eq!(
        service
            .dependencies(start, end, &Scope::ClusterWide)
            .await
            .unwrap(),
        [edge("api", "db"), edge("frontend", "api")]
    );
    // TraceQL through Jaeger: the pushed-down service asked of Jaeger, the
    // rest evaluated on the spans it returned, within the scope.
    let traceql = |q: &str| Arc::new(periscope_traces::traceql::parse(q).unwrap());
    let ids = |found: Vec<periscope_traces::FoundTrace>| -> Vec<TraceId> {
        found.iter().map(|f| f.trace.trace_id).collect()
    };
    let found = service
        .search_traceql(
            traceql(r#"{ resource.service.name = "api" }"#),
            start,
            end,
            20,
            &a,
        )
        .await
        .unwrap();
    assert_eq!(ids(found), [TraceId([2; 16]), TraceId([1; 16])]);
    let found = service
        .search_traceql(
            traceql(r#"{ rootServiceName = "frontend" }"#),
            start,
            end,
            20,
            &a,
        )
        .await
        .unwrap();
    assert_eq!(ids(found), [TraceId([1; 16])]);
    for q in [
        r#"{ resource.service.name = "db" }"#,
        r#"{ .k8s.namespace.name = "team-b" }"#,
    ] {
        let found = service
            .search_traceql(traceql(q), start, end, 20, &a)
            .await
            .unwrap();
        assert!(found.is_empty(), "{q}");
    }
    // Where services ran, from the spans Jaeger returned.
    let placed = service.placements(start, end, &a).await.unwrap();
    let services: Vec<&str> = placed.iter().map(|p| p.service.as_str()).collect();
    assert_eq!(services, ["api", "frontend"]);
    assert!(placed.iter().all(|p| p.namespace == "team-a"));

    // An empty scope sees nothing, and asks nothing.
    let nobody = Scope::namespaces(Vec::<String>::new());
    assert!(service.services(&nobody).await.unwrap().is_empty());
    assert!(service
        .search(query("api"), &nobody)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn jaeger_failures_are_precise_and_ingest_is_refused() {
    // A closed port: unreachable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let service = service_at(&format!("http://{closed}"));
    let e = service.services(&Scope::ClusterWide).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
    assert!(e.message().contains("did not answer"), "{e}");
    // A Jaeger answering 500.
    let app = Router::new().route(
        "/api/v3/services",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let e = service_at(&url)
        .services(&Scope::ClusterWide)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
    assert!(
        e.message().contains("500") && e.message().contains("boom"),
        "{e}"
    );
    let (url, _) = stand_in().await;
    let e = service_at(&url).ingest(fixture()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MethodNotAllowed);
}
