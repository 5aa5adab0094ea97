//! Metrics generated from spans, end to end: the real OpenTelemetry Python SDK
//! exports known traces, Periscope counts them as it stores them and writes
//! Tempo's span-metrics and service-graph series to a real Prometheus by
//! remote write; the series are then read with exact values, and through
//! Periscope as each tenant — Grafana's service-graph and RED-table queries
//! included (from its Tempo datasource, see the reference notes) — with
//! cross-tenant edges shown as one opaque peer.

mod common;

use common::microservices::{export, recent_base, API_POD};
use common::*;
use periscope_sandbox::PrometheusProcess;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const OPAQUE: &str = "(outside your scope)";

struct Setup {
    p: Periscope,
    prometheus: PrometheusProcess,
    _dir: tempfile::TempDir,
}

/// A Prometheus of its own (remote-written series must not mix with other
/// tests'), Periscope writing span metrics every 200 ms with a 300 ms pairing
/// wait, and the traces exported by the SDK over OTLP/HTTP.
async fn setup() -> Setup {
    let prometheus = tokio::task::spawn_blocking(PrometheusProcess::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let extra =
        logs_config(dir.path()) + "\n[span_metrics]\ninterval = \"200ms\"\nwait = \"300ms\"\n";
    let p = periscope_at(prometheus.url(), &extra).await;
    let base_url = p.base.clone();
    tokio::task::spawn_blocking(move || export(&base_url, recent_base()))
        .await
        .unwrap();
    let setup = Setup {
        p,
        prometheus,
        _dir: dir,
    };
    // The SaaS call completes as a virtual edge only after the pairing wait:
    // once it is in Prometheus, every series of the batch is.
    eventually(
        Duration::from_secs(20),
        "the virtual mailer edge",
        async || {
            let v = setup
                .raw(r#"traces_service_graph_request_total{server="mailer-saas"}"#)
                .await;
            (!v.is_empty()).then_some(())
        },
    )
    .await;
    setup
}

/// `(labels, value)` of an instant-query vector result.
type Samples = Vec<(serde_json::Map<String, Value>, f64)>;

fn samples(body: &Value) -> Samples {
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {body}"))
        .iter()
        .map(|r| {
            let value = r["value"][1].as_str().unwrap().parse::<f64>().unwrap();
            (r["metric"].as_object().unwrap().clone(), value)
        })
        .collect()
}

impl Setup {
    /// A query straight to Prometheus (no enforcement at all).
    async fn raw(&self, query: &str) -> Samples {
        let r = self
            .p
            .http
            .get(format!("{}/api/v1/query", self.prometheus.url()))
            .query(&[("query", query)])
            .send()
            .await
            .unwrap();
        samples(&answer(r).await.body)
    }

    /// A query through Periscope as `tenant`.
    async fn as_tenant(&self, tenant: &str, query: &str) -> Samples {
        let a = self
            .p
            .post(
                Some(tenant),
                "/prometheus/api/v1/query",
                &[("query", query)],
            )
            .await;
        assert_eq!(a.status, 200, "{query}: {}", a.raw);
        samples(&a.body)
    }

    /// The one value of `query` as `tenant` (`None` when it has no series).
    async fn value(&self, tenant: &str, query: &str) -> Option<f64> {
        let s = self.as_tenant(tenant, query).await;
        assert!(s.len() <= 1, "{query}: {s:?}");
        s.first().map(|(_, v)| *v)
    }
}

fn label<'a>(labels: &'a serde_json::Map<String, Value>, name: &str) -> &'a str {
    labels.get(name).and_then(Value::as_str).unwrap_or("")
}

/// `(client, server)` of every series in `samples`.
fn pairs(samples: &Samples) -> BTreeSet<(String, String)> {
    samples
        .iter()
        .map(|(l, _)| {
            (
                label(l, "client").to_string(),
                label(l, "server").to_string(),
            )
        })
        .collect()
}

/// `(item[a], item[b])` of every item of a JSON list.
fn field_pairs(list: &Value, a: &str, b: &str) -> BTreeSet<(String, String)> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|i| {
            (
                i[a].as_str().unwrap().to_string(),
                i[b].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(client: &str, server: &str) -> (String, String) {
    (client.to_string(), server.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_become_exact_span_metrics_and_edges_scoped_per_tenant() {
    let s = setup().await;

    // Span metrics: api served two requests, one failed; 40 ms and 150 ms.
    let api = r#"service="api",span_kind="SPAN_KIND_SERVER",namespace="team-a""#;
    for (status, n) in [("STATUS_CODE_ERROR", 1.0), ("STATUS_CODE_UNSET", 1.0)] {
        assert_eq!(
            s.value(
                "admin",
                &format!("traces_spanmetrics_calls_total{{{api},status_code=\"{status}\"}}")
            )
            .await,
            Some(n)
        );
    }
    for (le, n) in [
        ("0.032", 0.0),
        ("0.064", 1.0),
        ("0.128", 1.0),
        ("0.256", 2.0),
    ] {
        assert_eq!(
            s.value(
                "admin",
                &format!("sum(traces_spanmetrics_latency_bucket{{{api},le=\"{le}\"}})")
            )
            .await,
            Some(n),
            "le={le}"
        );
    }
    let latency_sum = s
        .value(
            "admin",
            &format!("sum(traces_spanmetrics_latency_sum{{{api}}})"),
        )
        .await
        .unwrap();
    assert!((latency_sum - 0.19).abs() < 1e-6, "{latency_sum}");

    // Edges, as a cluster admin sees them (whole edges only).
    let edges = s
        .as_tenant(
            "admin",
            "sum by (client, server, connection_type) (traces_service_graph_request_total)",
        )
        .await;
    let mut seen: Vec<(String, String, String, f64)> = edges
        .iter()
        .map(|(l, v)| {
            (
                label(l, "client").into(),
                label(l, "server").into(),
                label(l, "connection_type").into(),
                *v,
            )
        })
        .collect();
    seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let edge = |c: &str, s: &str, t: &str, n: f64| (c.into(), s.into(), t.into(), n);
    assert_eq!(
        seen,
        vec![
            edge("api", "ledger", "", 1.0),
            edge("api", "mailer-saas", "virtual_node", 1.0),
            edge("api", "pg", "database", 1.0),
            edge("frontend", "api", "", 2.0),
            edge("orders", "mailer", "messaging_system", 1.0),
            edge("user", "frontend", "virtual_node", 2.0),
        ]
    );
    let frontend_api = r#"client="frontend",server="api""#;
    assert_eq!(
        s.value(
            "admin",
            &format!("traces_service_graph_request_failed_total{{{frontend_api}}}")
        )
        .await,
        Some(1.0)
    );
    // Server spans took 40 and 150 ms; client spans 60 and 170 ms.
    for (histogram, le, n) in [
        ("server", "0.1", 1.0),
        ("server", "0.2", 2.0),
        ("client", "0.1", 1.0),
        ("client", "0.2", 2.0),
    ] {
        assert_eq!(
            s.value(
                "admin",
                &format!(
                    "traces_service_graph_request_{histogram}_seconds_bucket{{{frontend_api},le=\"{le}\"}}"
                )
            )
            .await,
            Some(n),
            "{histogram} le={le}"
        );
    }

    // Prometheus holds three copies of the cross-tenant edge.
    let copies = s
        .raw("traces_service_graph_request_total{connection_type!~\"database|virtual_node|messaging_system\"}")
        .await;
    assert_eq!(
        pairs(&copies),
        [
            pair("api", "ledger"),
            pair("api", OPAQUE),
            pair(OPAQUE, "ledger"),
            pair("frontend", "api")
        ]
        .into()
    );

    // alice (team-a, team-a-dev): her edges, the ledger an opaque peer.
    let grafana_edges = "sum by (client, server) (rate(traces_service_graph_request_total[5m]))";
    let alice = s.as_tenant("alice", grafana_edges).await;
    assert_eq!(
        pairs(&alice),
        [
            pair("api", "mailer-saas"),
            pair("api", "pg"),
            pair("api", OPAQUE),
            pair("frontend", "api"),
            pair("orders", "mailer"),
            pair("user", "frontend"),
        ]
        .into()
    );
    // bob and nina (team-b): the ledger, called by one opaque peer, with no
    // client-side latency of the other tenant.
    for tenant in ["bob", "nina"] {
        let edges = s.as_tenant(tenant, grafana_edges).await;
        assert_eq!(pairs(&edges), [pair(OPAQUE, "ledger")].into(), "{tenant}");
        let client_side = s
            .as_tenant(tenant, "traces_service_graph_request_client_seconds_count")
            .await;
        assert!(client_side.is_empty(), "{tenant}: {client_side:?}");
        let server_side = s
            .value(
                tenant,
                r#"traces_service_graph_request_server_seconds_count{server="ledger"}"#,
            )
            .await;
        assert_eq!(server_side, Some(1.0), "{tenant}");
        let calls = s
            .as_tenant(tenant, "sum by (service) (traces_spanmetrics_calls_total)")
            .await;
        let services: BTreeSet<&str> = calls.iter().map(|(l, _)| label(l, "service")).collect();
        assert_eq!(services, ["ledger"].into(), "{tenant}");
    }
    // carol and nobody see no edge at all.
    assert!(s.as_tenant("carol", grafana_edges).await.is_empty());
    let nobody =
        s.p.post(
            Some("nobody"),
            "/prometheus/api/v1/query",
            &[("query", grafana_edges)],
        )
        .await;
    assert_eq!(nobody.status, 403, "{}", nobody.raw);
}

/// Grafana's Tempo datasource queries (service graph: datasource.ts; RED
/// table: graphTransform.ts), run through Periscope as a tenant: they work
/// unchanged and never name another tenant's service or namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_service_graph_and_red_queries_work_for_a_tenant_and_stay_in_scope() {
    let s = setup().await;
    let grafana = [
        "sum by (client, server) (rate(traces_service_graph_request_total[5m]))",
        "group by (client, connection_type, server) (traces_service_graph_request_total)",
        "sum by (client, server) (rate(traces_service_graph_request_failed_total[5m]))",
        "group by (client, connection_type, server) (traces_service_graph_request_failed_total)",
        "sum by (client, server) (rate(traces_service_graph_request_server_seconds_sum[5m]))",
        "group by (client, connection_type, server) (traces_service_graph_request_server_seconds_sum)",
        r#"histogram_quantile(0.9, sum(rate(traces_service_graph_request_server_seconds_bucket{client="frontend",server="api"}[5m])) by (le, client, server))"#,
        r#"topk(5, sum(rate(traces_spanmetrics_calls_total{span_kind="SPAN_KIND_SERVER"}[5m])) by (span_name))"#,
        r#"topk(5, sum(rate(traces_spanmetrics_calls_total{status_code="STATUS_CODE_ERROR",span_name=~"GET /api"}[5m])) by (span_name))"#,
        r#"histogram_quantile(.9, sum(rate(traces_spanmetrics_latency_bucket{span_name=~"GET /api"}[5m])) by (le))"#,
    ];
    for query in grafana {
        let answer = s.as_tenant("alice", query).await;
        assert!(!answer.is_empty(), "{query} answered nothing");
        let text = format!("{answer:?}");
        for foreign in ["ledger", "team-b"] {
            assert!(!text.contains(foreign), "{query} leaked {foreign}: {text}");
        }
    }
    // Metadata: label values and series never name the other side either.
    for (path, query) in [
        ("/prometheus/api/v1/label/server/values", vec![]),
        ("/prometheus/api/v1/label/server_namespace/values", vec![]),
        (
            "/prometheus/api/v1/series",
            vec![("match[]", "traces_service_graph_request_total")],
        ),
        (
            "/prometheus/api/v1/label/server/values",
            vec![("match[]", "{__name__=~\"traces_service_graph_.+\"}")],
        ),
    ] {
        let a = s.p.get(Some("alice"), path, &query).await;
        assert_eq!(a.status, 200, "{path}: {}", a.raw);
        assert!(!a.raw.contains("ledger"), "{path}: {}", a.raw);
        assert!(!a.raw.contains("team-b"), "{path}: {}", a.raw);
    }
    let servers =
        s.p.get(Some("alice"), "/prometheus/api/v1/label/server/values", &[])
            .await;
    assert!(strings_of(&servers.body["data"]).contains(&OPAQUE.to_string()));
}

fn strings_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Queries written to reach the other tenant's end of the cross-tenant edge,
/// as alice: each is refused or answers without naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adversarial_queries_never_reach_the_other_end_of_an_edge() {
    let s = setup().await;
    let answered = [
        r#"traces_service_graph_request_total{server="ledger"}"#,
        r#"traces_service_graph_request_total{server_namespace="team-b"}"#,
        r#"traces_service_graph_request_total{opaque_peer=""}"#,
        r#"{__name__=~"traces_service_graph.*",opaque_peer=""}"#,
        r#"{__name__=~"traces_service_graph.*",server=~"l.*"}"#,
        r#"{opaque_peer=~".+"}"#,
        r#"{client="api"}"#,
        r#"count by (opaque_peer, server, server_namespace) (traces_service_graph_request_total)"#,
        r#"label_replace(traces_service_graph_request_total, "x", "$1", "opaque_peer", "(.*)")"#,
        r#"max_over_time(traces_service_graph_request_total{server=~"led.*"}[5m:1m])"#,
        r#"traces_service_graph_request_total unless traces_service_graph_request_total{server="ledger"}"#,
        r#"sum by (server) ({__name__=~".+_seconds_count"})"#,
    ];
    for query in answered {
        let a =
            s.p.post(
                Some("alice"),
                "/prometheus/api/v1/query",
                &[("query", query)],
            )
            .await;
        assert_eq!(a.status, 200, "{query}: {}", a.raw);
        for foreign in ["ledger", "team-b"] {
            assert!(
                !a.raw.contains(foreign),
                "{query} leaked {foreign}: {}",
                a.raw
            );
        }
    }
    // The halves' tokens are alice's to see, but name nothing.
    let tokens = s
        .as_tenant(
            "alice",
            "count by (opaque_peer) (traces_service_graph_request_total)",
        )
        .await;
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    for refused in [
        r#"traces_service_graph_request_total{namespace="team-b"}"#,
        r#"traces_service_graph_request_total{namespace=~"team-a|team-b"}"#,
        r#"traces_service_graph_request_total or on() traces_service_graph_request_total{namespace="team-b"}"#,
    ] {
        let a =
            s.p.post(
                Some("alice"),
                "/prometheus/api/v1/query",
                &[("query", refused)],
            )
            .await;
        assert_eq!(a.status, 403, "{refused}: {}", a.raw);
    }
}

/// Names of a page's items.
fn item_names(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

fn metric_value(item: &Value, metric: &str) -> f64 {
    let v = &item["metrics"][metric]["value"][1];
    v.as_str()
        .unwrap_or_else(|| panic!("no {metric} in {item}"))
        .parse()
        .unwrap()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The service level of the drill-down, per tenant: services of a
/// namespace, a service's RED metrics, operations, pods and links, the way
/// back from a pod, and the namespace topology with cross-tenant peers opaque.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_level_walks_from_namespace_to_pods_logs_and_traces() {
    let s = setup().await;
    let get = async |tenant: &str, path: &str| {
        let a = s.p.get(Some(tenant), path, &[]).await;
        assert_eq!(a.status, 200, "{path}: {}", a.raw);
        a.body
    };
    let services = get("alice", "/api/v1/namespaces/team-a/services").await;
    assert_eq!(item_names(&services), set(&["api", "frontend"]));
    assert_eq!(
        item_names(&get("alice", "/api/v1/namespaces/team-a-dev/services").await),
        set(&["mailer", "orders"])
    );
    assert_eq!(
        item_names(&get("bob", "/api/v1/namespaces/team-b/services").await),
        set(&["ledger"])
    );
    for (tenant, path) in [
        ("bob", "/api/v1/namespaces/team-a/services"),
        ("bob", "/api/v1/namespaces/team-a/services/api"),
        ("bob", "/api/v1/namespaces/team-a/topology"),
        ("bob", "/api/v1/namespaces/team-a/pods/any/services"),
        (
            "alice",
            "/api/v1/namespaces/team-b/services/ledger/operations",
        ),
    ] {
        let a = s.p.get(Some(tenant), path, &[]).await;
        assert_eq!(a.status, 403, "{tenant} {path}: {}", a.raw);
    }

    // api: two requests, one failed, 40 and 150 ms. The page's values are
    // what Prometheus gives for the equivalent raw PromQL at the same time.
    let time = format!(
        "{:.3}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    let api = get(
        "alice",
        &format!("/api/v1/namespaces/team-a/services/api?time={time}"),
    )
    .await;
    let item = &api["items"][0];
    let served =
        r#"span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER",namespace="team-a",service="api""#;
    let raw_at = async |query: String| {
        let r =
            s.p.http
                .get(format!("{}/api/v1/query", s.prometheus.url()))
                .query(&[("query", query.as_str()), ("time", time.as_str())])
                .send()
                .await
                .unwrap();
        samples(&answer(r).await.body)[0].1
    };
    let calls = format!("sum(rate(traces_spanmetrics_calls_total{{{served}}}[5m]))");
    let errors = format!(
        "sum(rate(traces_spanmetrics_calls_total{{{served},status_code=\"STATUS_CODE_ERROR\"}}[5m]))"
    );
    assert_eq!(
        metric_value(item, "service_request_rate"),
        raw_at(calls.clone()).await
    );
    assert_eq!(
        metric_value(item, "service_error_rate"),
        raw_at(errors.clone()).await
    );
    assert_eq!(
        metric_value(item, "service_error_ratio"),
        raw_at(format!("{errors} / {calls}")).await
    );
    for (metric, q) in [("p50", "0.5"), ("p95", "0.95"), ("p99", "0.99")] {
        let raw = raw_at(format!(
            "histogram_quantile({q}, sum by (le) (rate(traces_spanmetrics_latency_bucket{{{served}}}[5m])))"
        ))
        .await;
        assert_eq!(
            metric_value(item, &format!("service_latency_{metric}")),
            raw
        );
    }
    // One of two failed; the 95th percentile lies in the 150 ms request's bucket.
    let ratio = metric_value(item, "service_error_ratio");
    assert!((0.4..0.6).contains(&ratio), "{ratio}");
    let p95 = metric_value(item, "service_latency_p95");
    assert!(p95 > 0.128 && p95 <= 0.256, "{p95}");
    assert_eq!(
        api["operations"],
        json!(["GET /api", "POST /charge", "POST /send", "SELECT orders"]),
        "{api}"
    );
    assert_eq!(api["pods"].as_array().unwrap().len(), 1, "{api}");
    let pod = &api["pods"][0];
    assert_eq!(
        (pod["name"].as_str(), pod["spans"].as_u64()),
        (Some(API_POD), Some(5))
    );
    // Links follow the drill-down: the pod, its logs, the service's traces.
    let links = &item["links"];
    assert_eq!(
        links["traces"],
        "/clusters/default/jaeger/api/traces?service=api"
    );
    assert_eq!(
        links["logs"],
        format!("/api/v1/clusters/default/logs?namespaces=team-a&pods={API_POD}")
    );
    let pod_page = get("alice", pod["links"]["self"].as_str().unwrap()).await;
    assert_eq!(pod_page["level"], "pod", "{pod_page}");
    let logs =
        s.p.get(Some("alice"), pod["links"]["logs"].as_str().unwrap(), &[])
            .await;
    assert_eq!(logs.status, 200, "{}", logs.raw);
    let traces =
        s.p.get(Some("alice"), links["traces"].as_str().unwrap(), &[])
            .await;
    assert_eq!(traces.status, 200, "{}", traces.raw);
    assert!(
        traces.raw.contains("7a000000000000000000000000000001"),
        "{}",
        traces.raw
    );

    // Operations of api, each with its own RED.
    let operations = get("alice", links["operations"].as_str().unwrap()).await;
    assert_eq!(
        item_names(&operations),
        set(&["GET /api", "POST /charge", "POST /send", "SELECT orders"])
    );
    let get_api = operations["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "GET /api")
        .unwrap();
    let ratio = metric_value(get_api, "operation_error_ratio");
    assert!((0.4..0.6).contains(&ratio), "{ratio}");

    // Namespace and workspace roll-ups.
    let namespace = get(
        "alice",
        &format!("/api/v1/namespaces/team-a?metrics=~namespace_service_.*&time={time}"),
    )
    .await;
    let team_a = &namespace["items"][0];
    for metric in [
        "namespace_service_request_rate",
        "namespace_service_error_rate",
        "namespace_service_error_ratio",
        "namespace_service_latency_p95",
    ] {
        assert!(metric_value(team_a, metric) > 0.0, "{metric}: {namespace}");
    }
    let workspace = get(
        "alice",
        &format!("/api/v1/workspaces/ws-a?metrics=~workspace_service_.*&time={time}"),
    )
    .await;
    let ws_rate = metric_value(&workspace["items"][0], "workspace_service_request_rate");
    let dev = get(
        "alice",
        &format!(
            "/api/v1/namespaces/team-a-dev?metrics=namespace_service_request_rate&time={time}"
        ),
    )
    .await;
    let sum = metric_value(team_a, "namespace_service_request_rate")
        + metric_value(&dev["items"][0], "namespace_service_request_rate");
    assert!((ws_rate - sum).abs() < 1e-12, "{ws_rate} != {sum}");

    // A pod leads back to its services.
    let of_pod = get(
        "alice",
        &format!("/api/v1/namespaces/team-a/pods/{API_POD}/services"),
    )
    .await;
    assert_eq!(item_names(&of_pod), set(&["api"]));
    let of_other = get("alice", "/api/v1/namespaces/team-a/pods/nothing-0/services").await;
    assert!(item_names(&of_other).is_empty());
    let of_workload = get(
        "alice",
        "/api/v1/namespaces/team-a/workloads/deployment/api/services",
    )
    .await;
    assert_eq!(item_names(&of_workload), set(&["api"]));
    assert_eq!(pod["workload"], "Deployment:api", "{pod}");
    for (tenant, path) in [
        (
            "bob",
            "/api/v1/namespaces/team-a/workloads/deployment/api/services",
        ),
        (
            "alice",
            "/api/v1/namespaces/team-b/workloads/deployment/ledger/services",
        ),
        ("alice", "/api/v1/namespaces/team-b/topology"),
    ] {
        let a = s.p.get(Some(tenant), path, &[]).await;
        assert_eq!(a.status, 403, "{tenant} {path}: {}", a.raw);
    }
    // Services sort and page like every level.
    let sorted = get(
        "alice",
        &format!("/api/v1/namespaces/team-a/services?sort_metric=service_request_rate&sort=asc&limit=1&time={time}"),
    )
    .await;
    assert_eq!(sorted["total_items"], 2, "{sorted}");
    assert_eq!(sorted["items"].as_array().unwrap().len(), 1);
    let bad =
        s.p.get(
            Some("alice"),
            "/api/v1/namespaces/team-a/services",
            &[("sort_metric", "pod_cpu_usage")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.raw);

    // Topology: alice sees the ledger as an opaque peer, bob the caller.
    let topology = get("alice", "/api/v1/namespaces/team-a/topology").await;
    let edges: BTreeSet<(String, String, String)> = topology["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client"].as_str().unwrap().to_string(),
                e["server"].as_str().unwrap().to_string(),
                e["connection_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let e = |c: &str, s: &str, t: &str| (c.to_string(), s.to_string(), t.to_string());
    assert_eq!(
        edges,
        [
            e("api", OPAQUE, ""),
            e("api", "mailer-saas", "virtual_node"),
            e("api", "pg", "database"),
            e("frontend", "api", ""),
            e("user", "frontend", "virtual_node"),
        ]
        .into(),
        "{topology}"
    );
    let kinds = field_pairs(&topology["nodes"], "name", "kind");
    let k = |n: &str, kind: &str| (n.to_string(), kind.to_string());
    assert_eq!(
        kinds,
        [
            k(OPAQUE, "external"),
            k("api", "service"),
            k("frontend", "service"),
            k("mailer-saas", "virtual"),
            k("pg", "virtual"),
            k("user", "virtual"),
        ]
        .into()
    );
    let frontend_api = topology["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client"] == "frontend")
        .unwrap();
    assert!(frontend_api["error_rate"].as_f64().unwrap() > 0.0);
    assert!(frontend_api["latency_p95"].as_f64().unwrap() > 0.1);
    assert!(!topology.to_string().contains("ledger"), "{topology}");
    let bob = get("bob", "/api/v1/namespaces/team-b/topology").await;
    assert_eq!(bob["edges"].as_array().unwrap().len(), 1, "{bob}");
    assert_eq!(bob["edges"][0]["client"], OPAQUE);
    assert_eq!(bob["edges"][0]["server"], "ledger");
    assert!(!bob.to_string().contains("\"api\""), "{bob}");
    let admin = get("admin", "/api/v1/namespaces/team-a/topology").await;
    assert!(admin.to_string().contains("ledger"), "{admin}");
    assert!(!admin.to_string().contains(OPAQUE), "{admin}");

    // gRPC covers the service level.
    use periscope_proto::v1::monitoring_client::MonitoringClient;
    use periscope_proto::v1::{DrillDownRequest, Level};
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", s.p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = MonitoringClient::new(channel);
    let mut request = tonic::Request::new(DrillDownRequest {
        level: Level::Service as i32,
        namespace: "team-a".into(),
        metrics: "service_error_ratio".into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token("alice")).parse().unwrap(),
    );
    let page = client.drill_down(request).await.unwrap().into_inner();
    let names: BTreeSet<String> = page.items.iter().map(|i| i.name.clone()).collect();
    assert_eq!(names, set(&["api", "frontend"]));
}

/// The service dashboards: every variable and target, interpolated as
/// Grafana does, runs through Periscope as alice and returns data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_dashboards_return_data_for_a_tenant() {
    use common::dashboards::{dashboards, interpolate, reads_span_metrics, variables};
    let s = setup().await;
    let label_values = regex::Regex::new(r"^label_values\((.*),\s*(\w+)\)$").unwrap();
    let service_dashboards: Vec<_> = dashboards()
        .into_iter()
        .filter(reads_span_metrics)
        .collect();
    assert_eq!(service_dashboards.len(), 2);
    let mut targets = 0;
    for d in service_dashboards {
        let mut vars = std::collections::BTreeMap::new();
        for var in variables(&d).into_iter().filter(|v| v["type"] == "query") {
            let name = var["name"].as_str().unwrap();
            let query = interpolate(var["query"]["query"].as_str().unwrap(), &vars);
            let c = label_values
                .captures(&query)
                .expect("label_values variable");
            let a =
                s.p.get(
                    Some("alice"),
                    &format!("/prometheus/api/v1/label/{}/values", &c[2]),
                    &[("match[]", &c[1])],
                )
                .await;
            assert_eq!(a.status, 200, "{query}: {}", a.raw);
            let values = strings_of(&a.body["data"]);
            if name == "namespace" {
                assert_eq!(values, ["team-a", "team-a-dev"], "{}", d.file);
            }
            let pick = match name {
                "namespace" => "team-a",
                _ => "api",
            };
            assert!(
                values.iter().any(|v| v == pick),
                "{}: {name} {values:?}",
                d.file
            );
            vars.insert(name.to_string(), pick.to_string());
        }
        for panel in d.json["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = interpolate(target["expr"].as_str().unwrap(), &vars);
                let answer = s.as_tenant("alice", &expr).await;
                assert!(
                    !answer.is_empty(),
                    "{} / {}: no data for {expr}",
                    d.file,
                    panel["title"]
                );
                assert!(!format!("{answer:?}").contains("ledger"), "{expr}");
                targets += 1;
            }
        }
    }
    assert!(targets >= 15, "{targets}");
}

/// A cluster whose span metrics come from the OpenTelemetry Collector's
/// spanmetrics connector (e.g. in front of Jaeger): with
/// `span_metrics_names = { preset = "otel-collector" }` the service level
/// reads `traces_span_metrics_*{service_name}` with millisecond latencies and
/// answers in the catalog's names and seconds, scoped as usual. The series are
/// written here in the names and units the connector's Prometheus exporter
/// gives them (see the reference notes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_span_metrics_serve_the_service_level_under_their_own_names() {
    let prometheus = tokio::task::spawn_blocking(PrometheusProcess::start)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"));
    let writer = periscope_backend_prometheus::RemoteWriter::new(&format!(
        "{}/api/v1/write",
        prometheus.url()
    ))
    .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let series = |name: &str, extra: &[(&str, &str)], status: &str| {
        let mut labels: std::collections::BTreeMap<String, String> = [
            ("__name__", name),
            ("service_name", "api"),
            ("span_name", "GET /"),
            ("span_kind", "SPAN_KIND_SERVER"),
            ("status_code", status),
            ("namespace", "team-a"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        labels.retain(|_, v| !v.is_empty());
        labels
    };
    // 60 requests in a minute, 6 failed; 30 within 100 ms, all within 250 ms.
    for (at, scale) in [(now_ms - 60_000, 0.0), (now_ms, 1.0)] {
        let mut samples = vec![
            (
                series("traces_span_metrics_calls_total", &[], "STATUS_CODE_UNSET"),
                54.0 * scale,
            ),
            (
                series("traces_span_metrics_calls_total", &[], "STATUS_CODE_ERROR"),
                6.0 * scale,
            ),
        ];
        for (le, n) in [("50", 0.0), ("100", 30.0), ("250", 54.0), ("+Inf", 54.0)] {
            samples.push((
                series(
                    "traces_span_metrics_duration_milliseconds_bucket",
                    &[("le", le)],
                    "STATUS_CODE_UNSET",
                ),
                n * scale,
            ));
        }
        writer.write(samples, at).await.unwrap();
    }
    let extra = format!(
        "\n[[clusters]]\nname = \"collector\"\nprometheus = {{ url = \"{}\" }}\nspan_metrics_names = {{ preset = \"otel-collector\" }}\n",
        prometheus.url()
    );
    let p = periscope_with(&extra).await;
    let time = format!("{:.3}", now_ms as f64 / 1000.0);
    let page = p
        .get(
            Some("alice"),
            "/api/v1/clusters/collector/namespaces/team-a/services",
            &[("time", time.as_str())],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert_eq!(item_names(&page.body), set(&["api"]));
    let item = &page.body["items"][0];
    assert_eq!(item["labels"]["service"], "api", "{item}");
    let raw = async |query: &str| {
        let r = p
            .http
            .get(format!("{}/api/v1/query", prometheus.url()))
            .query(&[("query", query), ("time", time.as_str())])
            .send()
            .await
            .unwrap();
        samples(&answer(r).await.body)[0].1
    };
    let served = r#"service_name="api",namespace="team-a",span_kind="SPAN_KIND_SERVER""#;
    let calls = format!("sum(rate(traces_span_metrics_calls_total{{{served}}}[5m]))");
    assert_eq!(
        metric_value(item, "service_request_rate"),
        raw(&calls).await
    );
    let ratio = metric_value(item, "service_error_ratio");
    assert!((ratio - 0.1).abs() < 1e-9, "{ratio}");
    let p95_ms = raw(&format!(
        "histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{{{served}}}[5m])))"
    ))
    .await;
    let p95 = metric_value(item, "service_latency_p95");
    assert!(
        (p95 - p95_ms / 1000.0).abs() < 1e-12,
        "{p95} s vs {p95_ms} ms"
    );
    assert!(p95 > 0.1 && p95 <= 0.25, "{p95}");
    // Scoped as any other level.
    let bob = p
        .get(
            Some("bob"),
            "/api/v1/clusters/collector/namespaces/team-a/services",
            &[],
        )
        .await;
    assert_eq!(bob.status, 403, "{}", bob.raw);
}

/// A Jaeger-backed cluster (no spans pass through Periscope): the topology
/// comes from Jaeger's dependency graph, scoped like the rest (a stand-in
/// Jaeger answers with the shapes of Jaeger's sources; none runs here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jaeger_backed_topology_comes_from_its_dependencies_scoped() {
    use periscope_traces::{Place, Span, SpanId, Tag, TraceId};
    let at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000)
        * 1_000_000;
    let span = |id: u8, parent: Option<u8>, service: &str, namespace: &str| Span {
        trace_id: TraceId([9; 16]),
        span_id: SpanId([id; 8]),
        parent_span_id: parent.map(|p| SpanId([p; 8])),
        service: service.into(),
        operation: format!("{service} op"),
        kind: 2,
        status_code: 0,
        start: at + i64::from(id),
        duration: 1_000_000,
        place: Place {
            namespace: namespace.into(),
            ..Place::default()
        },
        tags: vec![],
        resource: vec![
            Tag::string("service.name", service),
            Tag::string("k8s.namespace.name", namespace),
        ]
        .into(),
        events: vec![],
        links: vec![],
    };
    let spans = vec![
        span(1, None, "frontend", "team-a"),
        span(2, Some(1), "api", "team-a"),
        span(3, Some(2), "ledger", "team-b"),
    ];
    let graph = vec![
        ("frontend".to_string(), "api".to_string(), 3600),
        ("api".to_string(), "ledger".to_string(), 1800),
    ];
    let (url, _jaeger) = periscope_jaeger_stand_in::start(spans, graph).await;
    let prometheus_url = tokio::task::spawn_blocking(|| prometheus().url().to_string())
        .await
        .unwrap();
    let extra = format!(
        "\n[span_metrics]\nenabled = false\n\n[[clusters]]\nname = \"jaeger\"\nprometheus = {{ url = \"{prometheus_url}\" }}\ntraces = {{ jaeger = {{ url = \"{url}\" }} }}\n"
    );
    let p = periscope_with(&extra).await;
    let topology = async |tenant: &str, namespace: &str| {
        let a = p
            .get(
                Some(tenant),
                &format!("/api/v1/clusters/jaeger/namespaces/{namespace}/topology"),
                &[],
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.raw);
        let edges = field_pairs(&a.body["edges"], "client", "server");
        (edges, a.body)
    };
    let (alice, body) = topology("alice", "team-a").await;
    assert_eq!(
        alice,
        [pair("api", OPAQUE), pair("frontend", "api")].into(),
        "{body}"
    );
    assert!(!body.to_string().contains("ledger"), "{body}");
    let (bob, _) = topology("bob", "team-b").await;
    assert_eq!(bob, [pair(OPAQUE, "ledger")].into());
    // Cluster admins get Jaeger's own graph, as rates over the last hour.
    let (admin, body) = topology("admin", "team-a").await;
    assert_eq!(
        admin,
        [pair("api", "ledger"), pair("frontend", "api")].into()
    );
    let rate = body["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["client"] == "frontend")
        .unwrap()["request_rate"]
        .as_f64()
        .unwrap();
    assert!((rate - 1.0).abs() < 1e-9, "{rate}");
    let refused = p
        .get(
            Some("bob"),
            "/api/v1/clusters/jaeger/namespaces/team-a/topology",
            &[],
        )
        .await;
    assert_eq!(refused.status, 403);
}
