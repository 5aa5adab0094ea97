//! Parse + enforce + print (+ re-parse and verify) of typical dashboard queries
//! for a scoped tenant, side by side with the baseline of parsing and printing
//! the same query without enforcement. `enforce_cold` does the whole work on
//! every call; `enforce_warm` is the steady state of a dashboard whose query
//! text repeats on every refresh (decision cache hit).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use periscope_config::{Limits, PromqlConfig};
use periscope_model::Scope;
use periscope_tenancy::Enforcer;
use std::hint::black_box;

/// Twenty queries of the kind Grafana dashboards and KubeSphere's console send.
pub const DASHBOARD_QUERIES: [&str; 20] = [
    "up",
    "sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=\"\"}[5m]))",
    "sum by (pod) (container_memory_working_set_bytes{namespace=\"team-a\", container!=\"\"})",
    "topk(10, sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[5m])))",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (namespace, le) (rate(http_request_duration_seconds_bucket{job=\"app\"}[5m])))",
    "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
    "sum by (namespace) (kube_pod_container_status_restarts_total)",
    "increase(kube_pod_container_status_restarts_total[1h]) > 0",
    "sum by (namespace, pod) (rate(container_network_receive_bytes_total[5m]))",
    "kube_pod_info * on(namespace, pod) group_left(node) kube_pod_status_ready{condition=\"true\"}",
    "count by (namespace) (kube_pod_status_phase{phase=\"Running\"} == 1)",
    "max_over_time(sum(rate(http_requests_total[1m]))[1h:5m])",
    "avg_over_time(container_memory_usage_bytes{namespace=~\"team-.*\"}[10m])",
    "sum by (container) (rate(container_cpu_cfs_throttled_periods_total[5m])) / sum by (container) (rate(container_cpu_cfs_periods_total[5m]))",
    "kube_deployment_spec_replicas - kube_deployment_status_replicas_available",
    "rate(http_requests_total[5m] offset 1d)",
    "sum(up) by (job)",
    "predict_linear(kubelet_volume_stats_available_bytes{namespace=\"team-a\"}[6h], 4 * 3600) < 0",
    "label_replace(sum by (pod) (rate(container_cpu_usage_seconds_total[5m])), \"workload\", \"$1\", \"pod\", \"(.*)-[^-]+-[^-]+\")",
];

fn bench(c: &mut Criterion) {
    let cold = Enforcer::from_config(&PromqlConfig::default()).without_decision_cache();
    let warm = Enforcer::from_config(&PromqlConfig::default());
    let scope = Scope::namespaces(["team-a", "team-a-dev", "team-a-staging"]);
    let limits = Limits::default();
    let mut group = c.benchmark_group("promql");
    for (i, q) in DASHBOARD_QUERIES.iter().enumerate() {
        assert!(cold.enforce_query(q, &scope, &limits).is_ok(), "{q}");
        group.bench_with_input(BenchmarkId::new("baseline_parse_print", i), q, |b, q| {
            b.iter(|| {
                promql_parser::parser::parse(black_box(q))
                    .unwrap()
                    .to_string()
            })
        });
        group.bench_with_input(BenchmarkId::new("enforce_cold", i), q, |b, q| {
            b.iter(|| cold.enforce_query(black_box(q), &scope, &limits).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("enforce_warm", i), q, |b, q| {
            b.iter(|| warm.enforce_query(black_box(q), &scope, &limits).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
