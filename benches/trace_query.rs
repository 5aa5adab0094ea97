//! Trace retrieval over 10 million stored spans (24 hours, 200 namespaces,
//! 50 services, one million traces of ten spans), in the embedded span store
//! through the trace service (tenancy included):
//! - a trace by id **without a time range** (what Grafana's trace view and a
//!   trace id copied from a log line ask), with the same lookup restricted to
//!   the trace's hour beside it as the baseline;
//! - a service + minimum-duration search over the last hour, newest 20;
//! - TraceQL searches (Tempo's API): service + duration + status over the
//!   whole day (10M spans) and the last hour, as a cluster admin and as a
//!   tenant of 20 namespaces, and an attribute filter the store cannot answer
//!   alone (evaluated on candidate spans), beside the search above.
//!
//! Anchors: Jaeger on ClickHouse, 101 ms by id and 37 ms for a search.
//! The data set is built once under `target/bench-data/` and reused.
//!
//! Run: `cargo bench --bench trace_query`.

mod common;

use common::{data_dir, Rng};
use criterion::{criterion_group, criterion_main, Criterion};
use periscope_model::Scope;
use periscope_store::StoreOptions;
use periscope_trace_store::TraceStore;
use periscope_traces::{Place, Span, SpanId, SpanQuery, Tag, TraceId, TraceService};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TRACES: u64 = 1_000_000;
const SPANS_PER_TRACE: u64 = 10;
const NAMESPACES: u64 = 200;
const SERVICES: u64 = 50;
/// 2026-11-25T00:00:00Z.
const START: i64 = 1_795_564_800_000_000_000;
const DAY: i64 = 86_400_000_000_000;
const HOUR: i64 = DAY / 24;
const MS: i64 = 1_000_000;
const CHUNK: u64 = 5_000;

fn trace_id(t: u64) -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(t + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    id[8..].copy_from_slice(&(t + 1).to_be_bytes());
    TraceId(id)
}

fn trace_start(t: u64) -> i64 {
    START + (t as i128 * DAY as i128 / TRACES as i128) as i64
}

/// Trace `t`: ten spans of one namespace, a chain of services.
fn trace(t: u64, rng: &mut Rng) -> Vec<Span> {
    let ns = rng.next() % NAMESPACES;
    let start = trace_start(t);
    (0..SPANS_PER_TRACE)
        .map(|s| {
            let service = (rng.next() % SERVICES).to_string();
            Span {
                trace_id: trace_id(t),
                span_id: SpanId((t * SPANS_PER_TRACE + s + 1).to_be_bytes()),
                parent_span_id: (s > 0).then(|| SpanId((t * SPANS_PER_TRACE + s).to_be_bytes())),
                service: format!("svc-{service}"),
                operation: format!("GET /api/{}", rng.next() % 20),
                kind: 2,
                status_code: if rng.next().is_multiple_of(100) { 2 } else { 0 },
                start: start + s as i64 * MS,
                duration: (1 + rng.next() % 500) as i64 * MS,
                place: Place {
                    namespace: format!("ns-{ns}"),
                    pod: format!("svc-{service}-5d8f7c9b6d-p{:04}", rng.next() % 5),
                    ..Place::default()
                },
                tags: vec![
                    Tag::string("http.route", format!("/api/{}", rng.next() % 20)),
                    Tag::string("span.kind", "server"),
                ],
                resource: vec![Tag::string("service.name", format!("svc-{service}"))].into(),
                events: vec![],
                links: vec![],
            }
        })
        .collect()
}

fn store_options(dir: &Path) -> StoreOptions {
    let mut options = StoreOptions::new(dir.join("store"));
    options.max_buffered_bytes = 2 << 30;
    options
}

/// Builds (once) the span store.
fn data_set(runtime: &tokio::runtime::Runtime) -> Arc<TraceStore> {
    let dir = data_dir("spans-10m");
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = TraceStore::open(store_options(&dir)).unwrap();
        let mut rng = Rng(7);
        let started = std::time::Instant::now();
        for chunk in 0..TRACES / CHUNK {
            let spans: Vec<Span> = (chunk * CHUNK..(chunk + 1) * CHUNK)
                .flat_map(|t| trace(t, &mut rng))
                .collect();
            runtime
                .block_on(periscope_traces::TraceBackend::ingest(&store, spans))
                .unwrap();
            if (chunk + 1) % 20 == 0 {
                runtime.block_on(store.store().flush()).unwrap();
            }
        }
        runtime.block_on(store.store().flush()).unwrap();
        println!(
            "built the 10M-span data set in {:?}: {:?}",
            started.elapsed(),
            store.store().stats()
        );
        drop(store);
        std::fs::write(dir.join("complete"), b"").unwrap();
    }
    Arc::new(TraceStore::open(store_options(&dir)).unwrap())
}

fn retrieval(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = data_set(&runtime);
    let service = TraceService::new(store.clone());
    let admin = Scope::ClusterWide;

    // A trace in the middle of the day, by id; and the same lookup given its hour.
    let wanted = TRACES / 2 + 17;
    let id = trace_id(wanted);
    let found = runtime
        .block_on(service.trace(id, &admin))
        .unwrap()
        .unwrap();
    assert_eq!(found.spans.len() as u64, SPANS_PER_TRACE);
    let hour_start = trace_start(wanted) - trace_start(wanted).rem_euclid(HOUR);
    let by_id_in_hour = SpanQuery {
        service: None,
        operation: None,
        kind: None,
        tags: vec![],
        start: hour_start,
        end: hour_start + HOUR,
        min_duration: None,
        max_duration: None,
        limit: 1,
    };
    let search = SpanQuery {
        service: Some("svc-7".into()),
        min_duration: Some(400 * MS),
        start: START + DAY - HOUR,
        end: START + DAY,
        limit: 20,
        ..by_id_in_hour.clone()
    };
    let found = runtime
        .block_on(service.search(search.clone(), &admin))
        .unwrap();
    assert_eq!(found.len(), 20);
    let hex = id.to_hex32();
    let in_hour = || {
        runtime.block_on(async {
            let frame = store
                .store()
                .scan(by_id_in_hour.start, by_id_in_hour.end)
                .await
                .unwrap();
            let rows = frame
                .filter(
                    periscope_store::datafusion::prelude::col("trace_id")
                        .eq(periscope_store::datafusion::prelude::lit(hex.as_str())),
                )
                .unwrap()
                .collect()
                .await
                .unwrap();
            assert_eq!(
                rows.iter().map(|b| b.num_rows()).sum::<usize>() as u64,
                SPANS_PER_TRACE
            );
        })
    };

    let mut group = c.benchmark_group("trace_query_10m");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("trace_by_id/no_time_range", |b| {
        b.iter(|| runtime.block_on(service.trace(id, &admin)).unwrap())
    });
    group.bench_function("trace_by_id/scan_of_its_hour_baseline", |b| b.iter(in_hour));
    let hour = Some((by_id_in_hour.start, by_id_in_hour.end));
    group.bench_function("trace_by_id/with_its_hour", |b| {
        b.iter(|| {
            runtime
                .block_on(service.trace_within(id, hour, &admin))
                .unwrap()
        })
    });
    group.bench_function("service_min_duration_last_hour", |b| {
        b.iter(|| {
            runtime
                .block_on(service.search(search.clone(), &admin))
                .unwrap()
        })
    });
    let traceql = |q: &str| Arc::new(periscope_traces::traceql::parse(q).unwrap());
    let tenant = Scope::namespaces((0..20).map(|n| format!("ns-{}", n * 10)));
    let cases = [
        (
            "traceql/service_duration_status/day/admin",
            traceql(r#"{ resource.service.name = "svc-7" && duration > 100ms && status = error }"#),
            START,
            &admin,
        ),
        (
            "traceql/service_duration_status/last_hour/admin",
            traceql(r#"{ resource.service.name = "svc-7" && duration > 100ms && status = error }"#),
            START + DAY - HOUR,
            &admin,
        ),
        (
            "traceql/service_duration_status/day/tenant_20_namespaces",
            traceql(r#"{ resource.service.name = "svc-7" && duration > 100ms && status = error }"#),
            START,
            &tenant,
        ),
        (
            "traceql/attribute_or_status_evaluated/last_hour/admin",
            traceql(r#"{ span.http.route = "/api/3" && (status = error || duration > 490ms) }"#),
            START + DAY - HOUR,
            &admin,
        ),
    ];
    for (name, filter, from, scope) in cases {
        let found = runtime
            .block_on(service.search_traceql(filter.clone(), from, START + DAY, 20, scope))
            .unwrap();
        assert!(!found.is_empty(), "{name} finds traces");
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(service.search_traceql(filter.clone(), from, START + DAY, 20, scope))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, retrieval);
criterion_main!(benches);
