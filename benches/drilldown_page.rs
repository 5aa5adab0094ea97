//! A drill-down page of 20 named metrics (all namespaces of a simulated cluster
//! of 10 nodes, 20 namespaces and ~300 pods) through Periscope, against the
//! KubeSphere pattern of one Prometheus query per metric (the same rendered
//! catalog queries, sent straight to Prometheus), one after the other and all
//! at once. Same run, same Prometheus, same client.
//!
//! Run: `cargo bench --bench drilldown_page` (needs `prometheus` and `promtool`).

use criterion::{criterion_group, criterion_main, Criterion};
use periscope_api::Server;
use periscope_config::Config;
use periscope_monitoring::{Catalog, Filters, Level};
use periscope_sandbox::{demo_config, DemoTenant, PrometheusProcess};
use periscope_simulator::{openmetrics_history, Cluster, ClusterSpec};
use std::collections::HashMap;
use std::time::Duration;

const METRICS: usize = 20;

fn bench(c: &mut Criterion) {
    let workspaces = (0..5)
        .map(|w| {
            let namespaces = (0..4).map(|n| format!("ws{w}-ns{n}")).collect();
            (format!("ws-{w}"), namespaces)
        })
        .collect();
    let cluster = Cluster::generate(&ClusterSpec {
        seed: 7,
        nodes: 10,
        workspaces,
        deployments_per_namespace: 4,
        statefulsets_per_namespace: 1,
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = now / 60 * 60 - 60;
    let history = openmetrics_history(&cluster, "simulator:9500", end - 3600, end - 3600, end, 15);
    let prometheus = PrometheusProcess::start_with(&history, "").expect("start prometheus");

    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Periscope as configured by default (2 metrics per query, 8 queries at
    // once), then one metric per query one at a time, then all metrics merged
    // into one query: what batching and parallelism each contribute.
    // Nothing shared between requests in these (each page is evaluated); the
    // last one is the default with sharing on, for the ten-viewer group.
    let variants = [(2, 8, "0s"), (1, 1, "0s"), (21, 1, "0s"), (2, 8, "15s")];
    let mut servers = Vec::new();
    let mut stopping = Vec::new();
    for (per_query, parallel, shared) in variants {
        let text = demo_config(prometheus.url(), "127.0.0.1:0", "127.0.0.1:0")
            + &format!(
                "\n[monitoring]\nmetrics_per_query = {per_query}\nparallel_queries = {parallel}\nshared_results_ttl = \"{shared}\"\n"
            );
        let config = Config::from_toml(&text, "bench", &HashMap::new()).unwrap();
        let server = server_runtime.block_on(Server::bind(config)).unwrap();
        let url = format!("http://{}", server.http_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = server_runtime.spawn(server.run(async {
            let _ = stopped.await;
        }));
        servers.push((per_query, parallel, url, stop, serving));
    }
    let shared_url = servers.pop().map(|(_, _, url, stop, serving)| {
        stopping.push((stop, serving));
        url
    });
    let shared_url = shared_url.unwrap();

    let catalog = Catalog::builtin();
    let metrics: Vec<_> = catalog.level(Level::Namespace).take(METRICS).collect();
    assert_eq!(metrics.len(), METRICS);
    let names = metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let queries: Vec<String> = metrics
        .iter()
        .map(|m| m.template.render(&Filters::default()))
        .collect();
    let page_url =
        |periscope: &str| format!("{periscope}/api/v1/namespaces?metrics={names}&time={end}");
    let page_at = |periscope: &str, time: i64| {
        format!("{periscope}/api/v1/namespaces?metrics={names}&time={time}")
    };
    let query_url = format!("{}/api/v1/query", prometheus.url());
    let token = DemoTenant::named("admin").token;

    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let direct_at = |query: &str, time: i64| {
        let (client, url) = (&client, &query_url);
        let form = [("query", query.to_string()), ("time", time.to_string())];
        async move {
            let r = client.post(url).form(&form).send().await.unwrap();
            assert!(r.status().is_success());
            r.bytes().await.unwrap()
        }
    };
    let direct = |query: &str| direct_at(query, end);
    // Sanity: the page has every metric for every namespace.
    let page: serde_json::Value = client_runtime.block_on(async {
        let r = client
            .get(page_url(&servers[0].2))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    });
    assert_eq!(page["total_items"], 22, "{page}");
    assert!(page.get("errors").is_none(), "{page}");

    // What each metric costs on its own (median of 9), for reading the result.
    client_runtime.block_on(async {
        for (m, q) in metrics.iter().zip(&queries) {
            let mut times: Vec<Duration> = Vec::new();
            for _ in 0..9 {
                let started = std::time::Instant::now();
                direct(q).await;
                times.push(started.elapsed());
            }
            times.sort();
            println!("{:<36} {:>7.2} ms", m.name, times[4].as_secs_f64() * 1e3);
        }
    });

    let mut group = c.benchmark_group("drilldown_20_metrics");
    group
        .sample_size(40)
        .measurement_time(Duration::from_secs(15));
    for (per_query, parallel, url, _, _) in &servers {
        let url = page_url(url);
        let name = format!("periscope_page/{per_query}_per_query/{parallel}_parallel");
        group.bench_function(name, |b| {
            b.iter(|| {
                client_runtime.block_on(async {
                    let r = client.get(&url).bearer_auth(token).send().await.unwrap();
                    assert!(r.status().is_success());
                    r.bytes().await.unwrap()
                })
            })
        });
    }
    group.bench_function("separate_queries_one_by_one", |b| {
        b.iter(|| {
            client_runtime.block_on(async {
                for q in &queries {
                    direct(q).await;
                }
            })
        })
    });
    group.bench_function("separate_queries_all_at_once", |b| {
        b.iter(|| {
            client_runtime.block_on(futures::future::join_all(queries.iter().map(|q| direct(q))))
        })
    });
    group.finish();

    // Ten viewers loading the same page at once, each round at a new time
    // (so nothing is left from an earlier round): with sharing, Prometheus
    // evaluates each query once for all ten.
    let mut group = c.benchmark_group("drilldown_ten_viewers");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    let round = std::cell::Cell::new(0i64);
    let next_time = || {
        round.set(round.get() + 1);
        end - round.get() % 1800
    };
    let ten_pages = |periscope: &str, time: i64| {
        let url = page_at(periscope, time);
        let client = &client;
        futures::future::join_all((0..10).map(move |_| {
            let url = url.clone();
            async move {
                let r = client.get(&url).bearer_auth(token).send().await.unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap()
            }
        }))
    };
    group.bench_function("periscope_pages_shared", |b| {
        b.iter(|| client_runtime.block_on(ten_pages(&shared_url, next_time())))
    });
    group.bench_function("periscope_pages_unshared", |b| {
        b.iter(|| client_runtime.block_on(ten_pages(&servers[0].2, next_time())))
    });
    group.bench_function("separate_queries_all_at_once_ten_times", |b| {
        b.iter(|| {
            let time = next_time();
            client_runtime.block_on(futures::future::join_all(
                (0..10).flat_map(|_| queries.iter().map(move |q| direct_at(q, time))),
            ))
        })
    });
    group.finish();
    for (stop, serving) in stopping {
        let _ = stop.send(());
        let _ = server_runtime.block_on(serving);
    }
    for (_, _, _, stop, serving) in servers {
        let _ = stop.send(());
        let _ = server_runtime.block_on(serving);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
