//! Replays 1000 mixed dashboard queries against the sandbox's real Prometheus,
//! directly and through Periscope, interleaved in the same run, and prints the
//! latency medians and their ratio.
//!
//! Two comparisons:
//! - `admin`: a cluster-admin's query through Periscope vs the same query direct
//!   (authentication, limits, parsing and streaming; no rewrite);
//! - `tenant`: a workspace viewer's query through Periscope vs the *enforced*
//!   query sent direct, so Prometheus does the same work on both paths.
//!
//! Each comparison runs at concurrency 1 (one request at a time) and 4 (four
//! streams at once, as Grafana loads panels in parallel).
//!
//! Run: `cargo bench --bench proxy_overhead` (needs `prometheus` and `promtool`).

use periscope_api::Server;
use periscope_config::{Config, Limits};
use periscope_model::Scope;
use periscope_sandbox::{demo_config, DemoTenant, PrometheusProcess};
use periscope_tenancy::Enforcer;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const REQUESTS: usize = 1000;

const QUERIES: &[&str] = &[
    "up",
    "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))",
    "sum by (namespace, pod) (container_memory_working_set_bytes)",
    "histogram_quantile(0.9, sum by (namespace, le) (rate(http_request_duration_seconds_bucket[5m])))",
    "sum by (namespace) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (namespace) (rate(http_requests_total[5m]))",
    "up * on(namespace, pod) group_left(node) kube_pod_info",
    "max_over_time(sum by (namespace) (rate(http_requests_total[1m]))[30m:1m])",
    "count by (namespace) (kube_pod_info)",
];

struct Request {
    path: &'static str,
    form: Vec<(&'static str, String)>,
}

fn requests(eval: i64) -> Vec<Request> {
    (0..REQUESTS)
        .map(|i| {
            let q = QUERIES[i % QUERIES.len()].to_string();
            if i % 2 == 0 {
                Request {
                    path: "/api/v1/query",
                    form: vec![("query", q), ("time", eval.to_string())],
                }
            } else {
                Request {
                    path: "/api/v1/query_range",
                    form: vec![
                        ("query", q),
                        ("start", (eval - 1800).to_string()),
                        ("end", eval.to_string()),
                        ("step", "30".into()),
                    ],
                }
            }
        })
        .collect()
}

async fn timed(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    form: &[(&str, String)],
) -> Duration {
    let started = Instant::now();
    let mut r = client.post(url).form(form);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let response = r.send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    let body = response.bytes().await.expect("body");
    assert!(!body.is_empty());
    started.elapsed()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

async fn compare(
    label: &str,
    tenant: &str,
    prometheus: &str,
    periscope: &str,
    eval: i64,
    concurrency: usize,
    direct_text: &(dyn Fn(&str) -> String + Sync),
) {
    let client = reqwest::Client::new();
    let token = DemoTenant::named(tenant).token;
    let all = requests(eval);
    // `concurrency` streams, each taking every n-th request, run at once.
    let streams = (0..concurrency).map(|s| {
        let (client, all) = (&client, &all);
        async move {
            let mut direct = Vec::new();
            let mut proxied = Vec::new();
            for (i, req) in all.iter().enumerate().skip(s).step_by(concurrency) {
                let mut direct_form = req.form.clone();
                direct_form[0].1 = direct_text(&req.form[0].1);
                let d = || {
                    timed(
                        client,
                        format!("{prometheus}{}", req.path),
                        None,
                        &direct_form,
                    )
                };
                let p = || {
                    timed(
                        client,
                        format!("{periscope}/prometheus{}", req.path),
                        Some(token),
                        &req.form,
                    )
                };
                // Alternate which goes first so neither path always gets the warmer cache.
                if i % 2 == 0 {
                    direct.push(d().await);
                    proxied.push(p().await);
                } else {
                    proxied.push(p().await);
                    direct.push(d().await);
                }
            }
            (direct, proxied)
        }
    });
    let (mut direct, mut proxied) = (Vec::with_capacity(REQUESTS), Vec::with_capacity(REQUESTS));
    for (d, p) in futures::future::join_all(streams).await {
        direct.extend(d);
        proxied.extend(p);
    }
    let (d50, p50) = (percentile(&mut direct, 0.5), percentile(&mut proxied, 0.5));
    let (d90, p90) = (percentile(&mut direct, 0.9), percentile(&mut proxied, 0.9));
    println!(
        "{label:<7} concurrency={concurrency} requests={REQUESTS}  direct p50={:>8.1}µs p90={:>8.1}µs  periscope p50={:>8.1}µs p90={:>8.1}µs  ratio of medians={:.3}",
        d50.as_secs_f64() * 1e6,
        d90.as_secs_f64() * 1e6,
        p50.as_secs_f64() * 1e6,
        p90.as_secs_f64() * 1e6,
        p50.as_secs_f64() / d50.as_secs_f64()
    );
}

fn main() {
    let prometheus = PrometheusProcess::start().expect("start prometheus (is it installed?)");
    let eval = prometheus.sample().eval_time();
    // Periscope gets its own multi-threaded runtime, as in production; the load
    // generator runs on a separate single-threaded runtime (a separate client,
    // like Grafana), shared by the direct and the proxied path.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = demo_config(prometheus.url(), "127.0.0.1:0", "127.0.0.1:0");
    let config = Config::from_toml(&text, "bench", &HashMap::new()).unwrap();
    let enforcer = Enforcer::from_config(&config.promql);
    let server = server_runtime.block_on(Server::bind(config)).unwrap();
    let periscope = format!("http://{}", server.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = server_runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_runtime.block_on(async {
        let alice = Scope::namespaces(["team-a", "team-a-dev"]);
        let unchanged = |q: &str| q.to_string();
        let enforced = |q: &str| {
            enforcer
                .enforce_query(q, &alice, &Limits::default())
                .unwrap()
                .into_owned()
        };
        for concurrency in [1, 4] {
            compare(
                "admin",
                "admin",
                prometheus.url(),
                &periscope,
                eval,
                concurrency,
                &unchanged,
            )
            .await;
            compare(
                "tenant",
                "alice",
                prometheus.url(),
                &periscope,
                eval,
                concurrency,
                &enforced,
            )
            .await;
        }
    });
    let _ = stop.send(());
    let _ = server_runtime.block_on(serving);
}
