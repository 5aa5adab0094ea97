//! The service level of the drill-down over generated span metrics: a page of
//! 20 services with their six RED metrics, and a namespace topology, through
//! Periscope as a tenant, against the equivalent raw PromQL (the same
//! rendered catalog queries, and the topology's four queries) sent straight
//! to Prometheus, one after the other and all at once. Same run, same
//! Prometheus, same client. The series come from Periscope's own generator
//! (20 services calling each other, with errors and a database), written by
//! remote write at two instants a minute apart.
//!
//! Run: `cargo bench --bench service_page` (needs `prometheus`).

use criterion::{criterion_group, criterion_main, Criterion};
use periscope_api::Server;
use periscope_backend_prometheus::RemoteWriter;
use periscope_config::Config;
use periscope_monitoring::{topology_queries, Catalog, Filters, Level, Placeholder};
use periscope_sandbox::{demo_config, DemoTenant, PrometheusProcess};
use periscope_span_metrics::{SpanFactBatch, SpanMetrics, SpanMetricsOptions};
use periscope_tenancy::PeerKey;
use periscope_traces::{Place, Span, SpanId, TraceId};
use std::collections::HashMap;
use std::time::Duration;

const SERVICES: u64 = 20;
const NAMESPACE: &str = "team-a";

/// One request: service `s` serves it and calls service `s + 1` (and the
/// database); every 50th fails.
fn request(t: u64, at_ns: i64) -> Vec<Span> {
    let s = t % SERVICES;
    let id = |n: u64| SpanId((t * 8 + n + 1).to_be_bytes());
    let trace_id = TraceId([(t % 251) as u8 + 1; 16]);
    let span = |service: u64, span: u64, parent: Option<u64>, kind: i32, ms: i64| Span {
        trace_id,
        span_id: id(span),
        parent_span_id: parent.map(id),
        service: format!("svc-{service}"),
        operation: format!("GET /svc-{service}/{}", t % 5),
        kind,
        status_code: if t.is_multiple_of(50) { 2 } else { 0 },
        start: at_ns,
        duration: ms * 1_000_000,
        place: Place {
            namespace: NAMESPACE.into(),
            ..Place::default()
        },
        tags: if span == 3 {
            vec![periscope_traces::Tag::string("db.system", "postgresql")]
        } else {
            vec![]
        },
        resource: Vec::new().into(),
        events: vec![],
        links: vec![],
    };
    let next = (s + 1) % SERVICES;
    vec![
        span(s, 0, None, 2, 20 + (t % 200) as i64),
        span(s, 1, Some(0), 3, 15),
        span(next, 2, Some(1), 2, 12),
        span(s, 3, Some(0), 3, 3),
    ]
}

fn bench(c: &mut Criterion) {
    let prometheus = PrometheusProcess::start().expect("start prometheus");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The series, as Periscope generates and writes them.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let generator = SpanMetrics::new(
        SpanMetricsOptions::default(),
        PeerKey::from_secret("bench-peer-key-of-this-run"),
    );
    let writer = RemoteWriter::new(&format!("{}/api/v1/write", prometheus.url())).unwrap();
    for (round, at) in [now_ms - 60_000, now_ms].into_iter().enumerate() {
        let spans: Vec<Span> = (0..20_000u64)
            .flat_map(|t| request(t + round as u64 * 20_000, at * 1_000_000))
            .collect();
        generator.record(SpanFactBatch::of(&spans), at);
        runtime
            .block_on(writer.write_series(generator.collect(at)))
            .unwrap();
    }
    let time = (now_ms / 1000).to_string();

    let text = demo_config(prometheus.url(), "127.0.0.1:0", "127.0.0.1:0")
        + "\n[span_metrics]\nenabled = false\npeer_key = \"bench-peer-key-of-this-run\"\n";
    let config = Config::from_toml(&text, "bench", &HashMap::new()).unwrap();
    let server = runtime.block_on(Server::bind(config)).unwrap();
    let base = format!("http://{}", server.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    let catalog = Catalog::builtin();
    let mut filters = Filters::default();
    filters.set(Placeholder::Namespace, vec![NAMESPACE.into()]);
    let red: Vec<String> = catalog
        .level(Level::Service)
        .map(|m| m.template.render(&filters))
        .collect();
    assert_eq!(red.len(), 6);
    let topology: Vec<String> = topology_queries(NAMESPACE).into();
    let alice = DemoTenant::named("alice").token;
    let client = reqwest::Client::new();
    let page_url = format!("{base}/api/v1/namespaces/{NAMESPACE}/services?time={time}");
    let topology_url = format!("{base}/api/v1/namespaces/{NAMESPACE}/topology?time={time}");
    let query_url = format!("{}/api/v1/query", prometheus.url());

    let get = |url: &str| {
        let response = runtime
            .block_on(client.get(url).bearer_auth(alice).send())
            .unwrap();
        assert_eq!(response.status(), 200);
        runtime.block_on(response.bytes()).unwrap()
    };
    let page: serde_json::Value = serde_json::from_slice(&get(&page_url)).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len() as u64, SERVICES);
    assert!(page.get("errors").is_none(), "{page}");
    let graph: serde_json::Value = serde_json::from_slice(&get(&topology_url)).unwrap();
    assert!(
        graph["edges"].as_array().unwrap().len() as u64 >= SERVICES,
        "{graph}"
    );
    let direct = |query: &String| {
        let client = client.clone();
        let (url, time) = (query_url.clone(), time.clone());
        let query = query.clone();
        async move {
            let response = client
                .post(url)
                .form(&[("query", query.as_str()), ("time", time.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap()
        }
    };
    let one_by_one = |queries: &[String]| {
        runtime.block_on(async {
            for q in queries {
                direct(q).await;
            }
        })
    };
    let all_at_once = |queries: &[String]| {
        runtime.block_on(futures::future::join_all(queries.iter().map(direct)))
    };

    let mut group = c.benchmark_group("service_level");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("services_page_20/periscope_as_tenant", |b| {
        b.iter(|| get(&page_url))
    });
    group.bench_function("services_page_20/raw_promql_one_by_one", |b| {
        b.iter(|| one_by_one(&red))
    });
    group.bench_function("services_page_20/raw_promql_all_at_once", |b| {
        b.iter(|| all_at_once(&red))
    });
    group.bench_function("topology/periscope_as_tenant", |b| {
        b.iter(|| get(&topology_url))
    });
    group.bench_function("topology/raw_promql_one_by_one", |b| {
        b.iter(|| one_by_one(&topology))
    });
    group.bench_function("topology/raw_promql_all_at_once", |b| {
        b.iter(|| all_at_once(&topology))
    });
    group.finish();
    let _ = stop.send(());
    let _ = runtime.block_on(serving);
}

criterion_group!(benches, bench);
criterion_main!(benches);
