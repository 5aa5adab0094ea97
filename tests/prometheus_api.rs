//! The Prometheus-compatible API against a real Prometheus: byte-identical
//! answers for cluster-admins, Grafana's endpoint set, methods, errors, limits,
//! and operations endpoints.

mod common;

use common::*;
use std::net::TcpListener;

/// Realistic dashboard queries (the kind Grafana panels and KubeSphere send).
const DASHBOARD_QUERIES: &[&str] = &[
    "up",
    "sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=\"\"}[5m]))",
    "topk(3, sum by (namespace, pod) (container_memory_working_set_bytes{namespace=\"team-b\"}))",
    "histogram_quantile(0.9, sum by (namespace, le) (rate(http_request_duration_seconds_bucket[5m])))",
    "sum by (namespace) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (namespace) (rate(http_requests_total[5m]))",
    "sum by (node) (rate(container_cpu_usage_seconds_total[5m]) * on(namespace, pod) group_left() max by (namespace, pod) (kube_pod_info))",
    "max_over_time(sum(rate(http_requests_total[1m]))[30m:5m])",
    "rate(http_requests_total[5m] @ end())",
    "sum(up offset 10m)",
    "count by (node) (kube_pod_info)",
    "1 - avg by (instance) (rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))",
    "increase(kube_pod_container_status_restarts_total[1h]) > 0 or vector(0)",
];

async fn direct(form: &[(&str, &str)], path: &str) -> (u16, String) {
    let url = format!("{}{path}", prometheus().url());
    let r = reqwest::Client::new()
        .post(url)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Prometheus' own answers vary between two identical calls: instant-vector
/// results come in no fixed order, and float sums depend on iteration order
/// (last-bit differences). Answers are therefore compared like Mimir's
/// query-tee does: results sorted, sample values within a relative 1e-9.
fn assert_same_answer(got: &serde_json::Value, expected: &serde_json::Value, what: &str) {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        let mut v = v.clone();
        if let Some(results) = v["data"]["result"].as_array_mut() {
            results.sort_by_key(|r| r["metric"].to_string());
        }
        v
    }
    fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value::*;
        match (a, b) {
            (String(x), String(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                _ => x == y,
            },
            (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b)),
            (Object(x), Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
            }
            _ => a == b,
        }
    }
    let (got, expected) = (sorted(got), sorted(expected));
    assert!(
        close(&got, &expected),
        "{what}\n got: {got}\nwant: {expected}"
    );
}

/// Queries whose answers Prometheus computes identically every time: the body
/// must then be byte-for-byte what Prometheus sent (streamed, not re-encoded).
const DETERMINISTIC_RANGE_QUERIES: &[&str] = &[
    "up",
    "rate(http_requests_total[5m])",
    "count by (node) (kube_pod_info)",
];

#[tokio::test]
async fn cluster_admin_bodies_are_streamed_byte_for_byte() {
    let p = periscope().await;
    let time = eval_time();
    let start = (prometheus().sample().eval_time() - 1800).to_string();
    for q in DETERMINISTIC_RANGE_QUERIES {
        let form = [
            ("query", *q),
            ("start", start.as_str()),
            ("end", time.as_str()),
            ("step", "60"),
        ];
        let (_, expected) = direct(&form, "/api/v1/query_range").await;
        let got = p
            .post(Some("admin"), "/prometheus/api/v1/query_range", &form)
            .await;
        assert_eq!(got.status, 200, "{q}");
        assert!(result_count(&got.body) > 0, "{q}");
        assert_eq!(got.raw, expected, "{q}");
    }
}

#[tokio::test]
async fn cluster_admin_answers_are_identical_to_prometheus() {
    let p = periscope().await;
    let time = eval_time();
    let start = (prometheus().sample().eval_time() - 1800).to_string();
    for q in DASHBOARD_QUERIES {
        let form = [("query", *q), ("time", time.as_str())];
        let (status, expected) = direct(&form, "/api/v1/query").await;
        assert_eq!(status, 200, "{q}: {expected}");
        let got = p
            .post(Some("admin"), "/prometheus/api/v1/query", &form)
            .await;
        assert_eq!(got.status, 200, "{q}");
        assert!(
            result_count(&got.body) > 0,
            "{q} returned no data: {expected}"
        );
        assert_same_answer(&got.body, &serde_json::from_str(&expected).unwrap(), q);

        let form = [
            ("query", *q),
            ("start", start.as_str()),
            ("end", time.as_str()),
            ("step", "60"),
        ];
        let (_, expected) = direct(&form, "/api/v1/query_range").await;
        let got = p
            .post(Some("admin"), "/prometheus/api/v1/query_range", &form)
            .await;
        assert_eq!(got.status, 200, "range {q}");
        assert_same_answer(&got.body, &serde_json::from_str(&expected).unwrap(), q);
    }
}

#[tokio::test]
async fn tenant_results_equal_the_admin_results_restricted_to_its_namespaces() {
    let p = periscope().await;
    let q = "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))";
    let admin = p.query("admin", q).await;
    let alice = p.query("alice", q).await;
    let restricted: Vec<&serde_json::Value> = admin.body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| scope_of("alice").contains(s["metric"]["namespace"].as_str().unwrap()))
        .collect();
    let alice_results: Vec<&serde_json::Value> = alice.body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(alice_results, restricted);
    // team-a's containers: cpu rates 0.01 * (1..=5), summed = 0.15
    let team_a = alice_results
        .iter()
        .find(|s| s["metric"]["namespace"] == "team-a")
        .unwrap();
    let value: f64 = team_a["value"][1].as_str().unwrap().parse().unwrap();
    assert!((value - 0.15).abs() < 1e-9, "{value}");
}

#[tokio::test]
async fn get_and_post_forms_are_equivalent() {
    let p = periscope().await;
    let time = eval_time();
    let form = [
        ("query", "sum by (namespace) (up)"),
        ("time", time.as_str()),
    ];
    let post = p
        .post(Some("alice"), "/prometheus/api/v1/query", &form)
        .await;
    let get = p
        .get(Some("alice"), "/prometheus/api/v1/query", &form)
        .await;
    assert_eq!(post.status, 200);
    assert_eq!(post.raw, get.raw);
}

#[tokio::test]
async fn wrong_methods_get_405_so_grafana_retries_with_get() {
    let p = periscope().await;
    for (method, path) in [
        (reqwest::Method::PUT, "/prometheus/api/v1/query"),
        (reqwest::Method::DELETE, "/prometheus/api/v1/series"),
        (
            reqwest::Method::POST,
            "/prometheus/api/v1/label/namespace/values",
        ),
        (reqwest::Method::POST, "/prometheus/api/v1/metadata"),
        (reqwest::Method::POST, "/prometheus/api/v1/status/buildinfo"),
    ] {
        let r = p
            .http
            .request(method.clone(), format!("{}{path}", p.base))
            .bearer_auth(token("alice"))
            .send()
            .await
            .unwrap();
        let a = answer(r).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.raw);
        assert_eq!(a.body["errorType"], "method_not_allowed");
    }
}

#[tokio::test]
async fn internal_endpoints_are_forbidden_and_unknown_ones_missing() {
    let p = periscope().await;
    for path in [
        "status/config",
        "status/flags",
        "status/tsdb",
        "targets",
        "targets/metadata",
        "alertmanagers",
        "admin/tsdb/snapshot",
        "admin/tsdb/delete_series",
    ] {
        let a = p
            .get(Some("alice"), &format!("/prometheus/api/v1/{path}"), &[])
            .await;
        assert_eq!(a.status, 403, "{path}: {}", a.raw);
        let anonymous = p
            .get(None, &format!("/prometheus/api/v1/{path}"), &[])
            .await;
        assert_eq!(anonymous.status, 401, "{path}");
    }
    let a = p
        .post(
            Some("admin"),
            "/prometheus/api/v1/admin/tsdb/delete_series",
            &[("match[]", "up")],
        )
        .await;
    assert_eq!(a.status, 403, "not even for admins: {}", a.raw);
    let a = p.get(Some("alice"), "/prometheus/api/v1/nope", &[]).await;
    assert_eq!(a.status, 404, "{}", a.raw);
    assert_eq!(a.body["errorType"], "not_found");
}

#[tokio::test]
async fn rules_and_alerts_are_for_cluster_admins_only() {
    let p = periscope().await;
    assert_eq!(
        p.get(Some("alice"), "/prometheus/api/v1/rules", &[])
            .await
            .status,
        403
    );
    assert_eq!(
        p.get(Some("alice"), "/prometheus/api/v1/alerts", &[])
            .await
            .status,
        403
    );
    let rules = p.get(Some("admin"), "/prometheus/api/v1/rules", &[]).await;
    assert_eq!(rules.status, 200, "{}", rules.raw);
    assert_eq!(rules.body["status"], "success");
}

#[tokio::test]
async fn buildinfo_passes_through_for_grafana_version_detection() {
    let p = periscope().await;
    let a = p
        .get(Some("alice"), "/prometheus/api/v1/status/buildinfo", &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert!(
        a.body["data"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with('2') || v.starts_with('3')),
        "{}",
        a.raw
    );
}

#[tokio::test]
async fn metadata_lists_only_metrics_the_caller_can_see() {
    let p = periscope().await;
    // The sandbox Prometheus scrapes itself every second; wait for its first scrape.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let admin = loop {
        let a = p
            .get(Some("admin"), "/prometheus/api/v1/metadata", &[])
            .await;
        assert_eq!(a.status, 200, "{}", a.raw);
        if a.body["data"].get("go_goroutines").is_some()
            && a.body["data"].get("prometheus_build_info").is_some()
        {
            break a;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrape metadata after 30s: {}",
            a.raw
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(admin.body["data"].as_object().unwrap().len() > 10);
    let alice = p
        .get(Some("alice"), "/prometheus/api/v1/metadata", &[])
        .await;
    assert_eq!(alice.status, 200, "{}", alice.raw);
    let names: Vec<&String> = alice.body["data"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["go_goroutines"],
        "only the metric with series in team-a"
    );
    let bob = p.get(Some("bob"), "/prometheus/api/v1/metadata", &[]).await;
    assert_eq!(bob.body["data"], serde_json::json!({}));
}

#[tokio::test]
async fn clusters_are_addressable_by_name() {
    let p = periscope().await;
    let time = eval_time();
    let form = [("query", "count(kube_pod_info)"), ("time", time.as_str())];
    let default = p
        .post(Some("alice"), "/prometheus/api/v1/query", &form)
        .await;
    let east = p
        .post(
            Some("alice"),
            "/clusters/east/prometheus/api/v1/query",
            &form,
        )
        .await;
    assert_eq!(east.status, 200, "{}", east.raw);
    assert_eq!(east.raw, default.raw);
    let named_default = p
        .post(
            Some("alice"),
            "/clusters/default/prometheus/api/v1/query",
            &form,
        )
        .await;
    assert_eq!(named_default.raw, default.raw);
    let unknown = p
        .post(
            Some("alice"),
            "/clusters/nowhere/prometheus/api/v1/query",
            &form,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.raw);
    let forbidden = p
        .post(
            Some("alice"),
            "/clusters/east/prometheus/api/v1/query",
            &[("query", "up{namespace=\"team-b\"}")],
        )
        .await;
    assert_eq!(forbidden.status, 403);
}

#[tokio::test]
async fn bad_input_gets_a_precise_error() {
    let p = periscope().await;
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        (
            "/prometheus/api/v1/query",
            &[],
            400,
            "missing parameter \"query\"",
        ),
        (
            "/prometheus/api/v1/query",
            &[("query", "sum(")],
            400,
            "invalid PromQL",
        ),
        (
            "/prometheus/api/v1/query",
            &[("query", "up"), ("time", "yesterday")],
            400,
            "\"time\"",
        ),
        (
            "/prometheus/api/v1/query",
            &[("query", "up"), ("timeout", "soon")],
            400,
            "\"timeout\"",
        ),
        (
            "/prometheus/api/v1/query_range",
            &[("query", "up"), ("start", "0"), ("end", "60")],
            400,
            "missing parameter \"step\"",
        ),
        (
            "/prometheus/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "100"),
                ("end", "50"),
                ("step", "10"),
            ],
            400,
            "end timestamp",
        ),
        (
            "/prometheus/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", "0"),
                ("end", "60"),
                ("step", "0"),
            ],
            400,
            "\"step\"",
        ),
        (
            "/prometheus/api/v1/series",
            &[("match[]", "up{")],
            400,
            "invalid PromQL",
        ),
    ];
    for (path, form, status, needle) in cases {
        let a = p.post(Some("alice"), path, form).await;
        assert_eq!(a.status, *status, "{path} {form:?}: {}", a.raw);
        assert!(
            a.body["error"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{path} {form:?}: {}",
            a.raw
        );
    }
    let wrong_type = p
        .http
        .post(format!("{}/prometheus/api/v1/query", p.base))
        .bearer_auth(token("alice"))
        .header("content-type", "application/json")
        .body("{\"query\":\"up\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 400);
    let huge = "x".repeat(2 << 20);
    let too_large = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/query",
            &[("query", &huge)],
        )
        .await;
    assert_eq!(too_large.status, 413, "{:.200}", too_large.raw);
    let invalid_label = p
        .get(
            Some("alice"),
            "/prometheus/api/v1/label/bad-name/values",
            &[],
        )
        .await;
    assert_eq!(invalid_label.status, 400);
}

#[tokio::test]
async fn per_principal_limits_give_422() {
    let p = periscope().await;
    let end = prometheus().sample().eval_time();
    let long = (end - 40 * 86_400).to_string();
    let a = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", &long),
                ("end", &end.to_string()),
                ("step", "3600"),
            ],
        )
        .await;
    assert_eq!(a.status, 422, "range over 32d: {}", a.raw);
    let start = (end - 86_400).to_string();
    let a = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/query_range",
            &[
                ("query", "up"),
                ("start", &start),
                ("end", &end.to_string()),
                ("step", "1"),
            ],
        )
        .await;
    assert_eq!(a.status, 422, "86401 points: {}", a.raw);
    assert!(a.raw.contains("11000 points per timeseries"), "{}", a.raw);
    let a = p.query("alice", "max_over_time(up[2d:1s])").await;
    assert_eq!(a.status, 422, "{}", a.raw);
    let a = p.query("admin", "max_over_time(up[2d:1s])").await;
    assert_eq!(a.status, 422, "limits apply to admins too: {}", a.raw);
}

/// A backend that accepts connections and never answers: the stand-in for a
/// hung Prometheus (no mock of Prometheus' behaviour is involved).
async fn black_hole() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[tokio::test]
async fn slow_and_unreachable_backends_give_504_and_502_and_concurrency_gives_429() {
    let (hole, hole_url) = black_hole().await;
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let extra = format!(
        r#"
[[clusters]]
name = "hung"
prometheus = {{ url = "{hole_url}", timeout = "1s" }}

[[clusters]]
name = "down"
prometheus = {{ url = "http://127.0.0.1:{closed_port}", timeout = "1s" }}

[[principals]]
name = "solo"
token_sha256 = "{}"
role = "namespace-viewer"
namespaces = ["team-a"]
limits = {{ max_concurrent_queries = 1 }}
"#,
        periscope_tenancy::auth::token_sha256("solo-token")
    );
    let p = periscope_with(&extra).await;
    let url = format!("{}/clusters/hung/prometheus/api/v1/query", p.base);
    let mut first = tokio::spawn({
        let (http, url) = (p.http.clone(), url.clone());
        async move {
            answer(
                http.post(url)
                    .bearer_auth("solo-token")
                    .form(&[("query", "up")])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    });
    // Wait until the first query has reached the backend: it now holds solo's
    // only slot. Should it be answered instead, fail with that answer.
    let mut conn = tokio::select! {
        accepted = hole.accept() => accepted.unwrap().0,
        early = &mut first => panic!("the first query never reached the backend: {:?}", early.unwrap()),
    };
    let mut buf = [0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut conn, &mut buf)
        .await
        .unwrap();
    let request_head = String::from_utf8_lossy(&buf[..n]);
    assert!(
        request_head.starts_with("POST /api/v1/query"),
        "{request_head}"
    );

    let second = answer(
        p.http
            .post(&url)
            .bearer_auth("solo-token")
            .form(&[("query", "up")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(second.status, 429, "{}", second.raw);
    let first = first.await.unwrap();
    assert_eq!(first.status, 504, "{}", first.raw);
    assert_eq!(first.body["errorType"], "timeout");

    let down = p
        .post(
            Some("alice"),
            "/clusters/down/prometheus/api/v1/query",
            &[("query", "up")],
        )
        .await;
    assert_eq!(down.status, 502, "{}", down.raw);
    assert_eq!(down.body["errorType"], "unavailable");
    let ready = p.get(None, "/readyz", &[]).await;
    assert_eq!(ready.status, 503, "{}", ready.raw);
    let failed: Vec<&str> = ready.body["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["down", "hung"]);
    drop(conn);
}

#[tokio::test]
async fn operations_endpoints_report_health_readiness_and_metrics() {
    let p = periscope().await;
    assert_eq!(p.get(None, "/healthz", &[]).await.status, 200);
    let ready = p.get(None, "/readyz", &[]).await;
    assert_eq!(ready.status, 200, "{}", ready.raw);
    p.query("alice", "up").await;
    p.query("alice", "up{namespace=\"team-b\"}").await;
    let metrics = p.get(None, "/metrics", &[]).await.raw;
    assert!(
        metrics.contains(
            "periscope_http_requests_total{endpoint=\"/prometheus/api/v1/query\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "periscope_http_requests_total{endpoint=\"/prometheus/api/v1/query\",status=\"403\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("periscope_backend_requests_total{cluster=\"default\",endpoint=\"/api/v1/query\",outcome=\"200\"} 1"), "{metrics}");
    assert!(
        metrics.contains("periscope_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}

/// The calls Grafana's Prometheus datasource makes when a datasource is saved
/// or a dashboard opens, as a tenant (reference: pkg/promlib/healthcheck.go and
/// the frontend's language provider).
#[tokio::test]
async fn grafana_datasource_calls_work_for_a_tenant() {
    let p = periscope().await;
    let health = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/query",
            &[("query", "1+1"), ("time", "4")],
        )
        .await;
    assert_eq!(health.status, 200, "{}", health.raw);
    assert_eq!(health.body["data"]["result"], serde_json::json!([4, "2"]));

    let t = prometheus().sample().eval_time();
    let (start, end) = ((t - 3600).to_string(), t.to_string());
    let exemplars = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/query_exemplars",
            &[("query", "test"), ("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(exemplars.status, 200, "{}", exemplars.raw);
    let names = p
        .get(
            Some("alice"),
            "/prometheus/api/v1/label/__name__/values",
            &[("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(names.status, 200, "{}", names.raw);
    let names: Vec<&str> = names.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"container_cpu_usage_seconds_total") && names.contains(&"kube_node_labels"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"node_cpu_seconds_total"),
        "cluster-only metric names are not listed: {names:?}"
    );
    let series = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/series",
            &[
                ("match[]", "{__name__!=\"\"}"),
                ("start", &start),
                ("end", &end),
                ("limit", "40000"),
            ],
        )
        .await;
    assert_eq!(series.status, 200, "{}", series.raw);
    assert!(namespaces_in(&series.body, false).is_subset(&scope_of("alice")));
    let labels = p
        .post(
            Some("alice"),
            "/prometheus/api/v1/labels",
            &[("match[]", "up"), ("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(labels.status, 200, "{}", labels.raw);
    assert!(
        labels.body["data"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("pod")),
        "{}",
        labels.raw
    );
}
