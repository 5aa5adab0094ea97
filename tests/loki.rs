//! The Loki query API as Grafana's Loki data source calls it, per tenant,
//! over lines shipped through `_bulk` into the embedded store (a real
//! Prometheus behind, for workspace discovery). Grafana itself cannot run
//! here: the requests are the ones its Loki data source builds (health check
//! `pkg/tsdb/loki/healthcheck.go`, data requests `pkg/tsdb/loki/api.go`
//! makeDataRequest, resource calls forwarded by `CallResource`, the log
//! volume query of `datasource.ts`), and the answers are checked in the
//! shapes its reader (`pkg/promlib/converter/prom.go`) takes.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const BASE: i64 = 1_795_680_000;
const NS: i64 = 1_000_000_000;
const FOREIGN_TO_ALICE: [&str; 3] = ["team-b", "team-c", "kube-system"];
const PODS: [&str; 3] = ["web-7d9c8b6f5d-x2k4q", "db-0", "agent-q2x8z"];

/// 5 namespaces × 3 pods × 10 lines, one second apart per pod; lines 0 and 5 of each pod are errors.
fn sample() -> Vec<(i64, String, String, String, String)> {
    let mut lines = Vec::new();
    for namespace in ["team-a", "team-a-dev", "team-b", "team-c", "kube-system"] {
        for (p, pod) in PODS.iter().enumerate() {
            for i in 0..10 {
                let log = if i % 5 == 0 {
                    format!("ERROR {namespace}/{pod} request {i} failed")
                } else {
                    format!(
                        "level=info path=/{namespace}/{pod}/{i} status=200 took={}ms",
                        10 * i
                    )
                };
                let container = pod.split('-').next().unwrap().to_string();
                lines.push((
                    BASE + i + p as i64 * 10,
                    namespace.to_string(),
                    pod.to_string(),
                    container,
                    log,
                ));
            }
        }
    }
    lines
}

async fn with_sample() -> (tempfile::TempDir, Periscope) {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&logs_config(dir.path())).await;
    let lines = sample();
    let refs: Vec<(i64, &str, &str, &str, &str)> = lines
        .iter()
        .map(|(t, n, p, c, l)| (*t, n.as_str(), p.as_str(), c.as_str(), l.as_str()))
        .collect();
    let r = p
        .http
        .post(format!("{}/_bulk", p.base))
        .basic_auth("fluent-bit", Some(SHIPPER_TOKEN))
        .header("content-type", "application/x-ndjson")
        .body(fluent_bit_bulk(&refs))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    (dir, p)
}

/// A request as Grafana's Loki data source sends it: its headers, and a
/// tenant header that must change nothing.
async fn grafana(p: &Periscope, tenant: &str, path: &str, query: &[(&str, &str)]) -> Answer {
    let r = p
        .http
        .get(format!("{}{path}", p.base))
        .query(query)
        .bearer_auth(token(tenant))
        .header("X-Loki-Response-Encoding-Flags", "categorize-labels")
        .header("X-Query-Tags", "Source=grafana-explore")
        .header("X-Scope-OrgID", "team-b")
        .header(
            "X-Prom-Label-Policy",
            "team-b:%7Bnamespace%3D%22team-b%22%7D",
        )
        .send()
        .await
        .unwrap();
    answer(r).await
}

fn ns(seconds: i64) -> String {
    (seconds * NS).to_string()
}

fn range(q: &str) -> Vec<(&str, String)> {
    vec![
        ("direction", "backward".into()),
        ("limit", "1000".into()),
        ("query", q.into()),
        ("start", ns(BASE - 60)),
        ("end", ns(BASE + 60)),
        ("step", "10000ms".into()),
    ]
}

fn refs<'a>(params: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every namespace in stream or metric labels, and every line's text, of an answer.
fn seen(body: &Value) -> (BTreeSet<String>, Vec<String>) {
    let mut namespaces = BTreeSet::new();
    let mut lines = Vec::new();
    for r in body["data"]["result"].as_array().into_iter().flatten() {
        for key in ["stream", "metric"] {
            if let Some(n) = r[key]["namespace"].as_str() {
                namespaces.insert(n.to_string());
            }
        }
        for v in r["values"].as_array().into_iter().flatten() {
            if let Some(line) = v[1].as_str() {
                lines.push(line.to_string());
            }
        }
    }
    (namespaces, lines)
}

#[tokio::test]
async fn grafana_health_check_is_answered() {
    let (_dir, p) = with_sample().await;
    // `healthcheck.go`: an instant query at time.Unix(4, 0) in nanoseconds, whose value must be 2.
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query",
        &[
            ("query", "vector(1)+vector(1)"),
            ("time", "4000000000"),
            ("direction", "backward"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["status"], "success");
    assert_eq!(a.body["data"]["resultType"], "vector");
    assert_eq!(
        a.body["data"]["result"],
        json!([{"metric": {}, "value": [4000000000i64, "2"]}])
    );
    // Without credentials: 401, as for every other API.
    let r = p
        .http
        .get(format!("{}/loki/api/v1/query", p.base))
        .query(&[("query", "vector(1)")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn explore_log_queries_return_exactly_the_tenants_lines() {
    let (_dir, p) = with_sample().await;
    let params = range(r#"{namespace="team-a"} |= "ERROR""#);
    let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&params)).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["data"]["resultType"], "streams");
    let mut expected = Vec::new();
    for (i, pod) in PODS.iter().enumerate().rev() {
        let container = pod.split('-').next().unwrap();
        let mut values = Vec::new();
        for line in [5, 0] {
            values.push(json!([
                ns(BASE + line + 10 * i as i64),
                format!("ERROR team-a/{pod} request {line} failed\n")
            ]));
        }
        expected.push(json!({
            "stream": {"cluster": "default", "container": container, "namespace": "team-a", "pod": pod, "workload": container},
            "values": values,
        }));
    }
    expected.sort_by_key(|s| s["stream"]["pod"].as_str().unwrap().to_string());
    assert_eq!(
        a.body["data"]["result"],
        Value::Array(expected),
        "{}",
        a.raw
    );
    assert!(
        a.body["data"]["stats"]["summary"]["totalLinesProcessed"]
            .as_u64()
            .unwrap()
            > 0
    );

    // The same query from bob (team-b) is forbidden, not silently emptied.
    let b = grafana(&p, "bob", "/loki/api/v1/query_range", &refs(&params)).await;
    assert_eq!(b.status, 403, "{}", b.raw);
    assert!(b.raw.contains("team-a"), "{}", b.raw);

    // Limit and direction: the 4 oldest error lines across pods, oldest first.
    let mut params = range(r#"{pod=~".+"} |= "ERROR""#);
    params[0].1 = "forward".into();
    params[1].1 = "4".into();
    let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&params)).await;
    let mut times: Vec<i64> = a.body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v[0].as_str().unwrap().parse::<i64>().unwrap() / NS - BASE)
        })
        .collect();
    times.sort();
    // team-a and team-a-dev both have errors at 0 and 5 (web): the first four are those.
    assert_eq!(times, vec![0, 0, 5, 5], "{}", a.raw);
    let (namespaces, _) = seen(&a.body);
    assert_eq!(
        namespaces,
        BTreeSet::from(["team-a".to_string(), "team-a-dev".to_string()])
    );
}

#[tokio::test]
async fn split_range_queries_add_up_to_the_whole() {
    let (_dir, p) = with_sample().await;
    // Grafana splits long ranges into consecutive query_range calls; a line
    // on the boundary belongs to exactly one of them.
    let count = |body: &Value| -> usize {
        body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum()
    };
    let q = r#"{namespace="team-a"}"#;
    let whole = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &ns(BASE)),
            ("end", &ns(BASE + 30)),
            ("limit", "1000"),
        ],
    )
    .await;
    let first = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &ns(BASE)),
            ("end", &ns(BASE + 15)),
            ("limit", "1000"),
        ],
    )
    .await;
    let second = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &ns(BASE + 15)),
            ("end", &ns(BASE + 30)),
            ("limit", "1000"),
        ],
    )
    .await;
    assert_eq!(count(&whole.body), 30, "{}", whole.raw);
    assert_eq!(count(&first.body) + count(&second.body), 30);
    assert_eq!(count(&first.body), 15);
}

#[tokio::test]
async fn metric_queries_match_counts_by_hand() {
    let (_dir, p) = with_sample().await;
    // Errors per pod: web at +0 and +5, db at +10 and +15, agent at +20 and +25.
    // Windows of 10s ending every 10s from BASE+10: (BASE, BASE+10], (BASE+10, BASE+20], (BASE+20, BASE+30].
    let q = r#"sum by (pod) (count_over_time({namespace="team-a"} |= "ERROR" [10s]))"#;
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &ns(BASE + 10)),
            ("end", &ns(BASE + 30)),
            ("step", "10s"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["data"]["resultType"], "matrix");
    let t = |s: i64| json!(BASE + s);
    assert_eq!(
        a.body["data"]["result"],
        json!([
            {"metric": {"pod": "agent-q2x8z"}, "values": [[t(20), "1"], [t(30), "1"]]},
            {"metric": {"pod": "db-0"}, "values": [[t(10), "1"], [t(20), "1"]]},
            {"metric": {"pod": "web-7d9c8b6f5d-x2k4q"}, "values": [[t(10), "1"]]},
        ]),
        "{}",
        a.raw
    );
    // logfmt + unwrap: the average `took` of db-0's info lines (i = 1..4, 6..9 → 10·i ms).
    let q = r#"avg_over_time({namespace="team-a", pod="db-0"} |= "level=info" | logfmt took | unwrap duration(took) [60s])"#;
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query",
        &[("query", q), ("time", &ns(BASE + 30))],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let expected = [1, 2, 3, 4, 6, 7, 8, 9]
        .iter()
        .map(|i| 0.01 * *i as f64)
        .sum::<f64>()
        / 8.0;
    let value: f64 = a.body["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (value - expected).abs() < 1e-9,
        "{value} vs {expected}: {}",
        a.raw
    );
    // Explore's log volume (datasource.ts): levels are absent, so one series.
    let q = r#"sum by (level, detected_level) (count_over_time({namespace="team-a"} | drop __error__ [30s]))"#;
    // The window is (t − 30s, t]: at BASE+29 it holds all 30 lines.
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", q),
            ("start", &ns(BASE + 29)),
            ("end", &ns(BASE + 29)),
            ("step", "30000ms"),
        ],
    )
    .await;
    assert_eq!(
        a.body["data"]["result"],
        json!([{"metric": {}, "values": [[t(29), "30"]]}]),
        "{}",
        a.raw
    );
    // A pipeline error in a metric query says how to drop such lines.
    let q = r#"count_over_time({namespace="team-a"} | json [30s])"#;
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query",
        &[("query", q), ("time", &ns(BASE + 30))],
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.raw);
    assert!(
        a.raw.contains("JSONParserErr") && a.raw.contains("__error__"),
        "{}",
        a.raw
    );
}

#[tokio::test]
async fn label_browser_series_and_stats_are_scoped() {
    let (_dir, p) = with_sample().await;
    let window = [("start", ns(BASE - 60)), ("end", ns(BASE + 60))];
    let w = refs(&window);
    let labels = grafana(&p, "alice", "/loki/api/v1/labels", &w).await;
    assert_eq!(labels.status, 200, "{}", labels.raw);
    assert_eq!(
        labels.body,
        json!({"status": "success", "data": ["cluster", "container", "namespace", "pod", "workload"]})
    );
    let values = grafana(&p, "alice", "/loki/api/v1/label/namespace/values", &w).await;
    assert_eq!(
        values.body["data"],
        json!(["team-a", "team-a-dev"]),
        "{}",
        values.raw
    );
    let admin = grafana(&p, "admin", "/loki/api/v1/label/namespace/values", &w).await;
    assert_eq!(
        admin.body["data"],
        json!(["kube-system", "team-a", "team-a-dev", "team-b", "team-c"])
    );
    // With a selector (label_values(pod) of a dashboard variable), through an alias.
    let mut q = w.clone();
    q.push(("query", r#"{k8s_namespace_name="team-a", container="db"}"#));
    let pods = grafana(&p, "alice", "/loki/api/v1/label/pod/values", &q).await;
    assert_eq!(pods.body["data"], json!(["db-0"]), "{}", pods.raw);
    let mut q = w.clone();
    q.push(("match[]", r#"{namespace=~".+"}"#));
    let series = grafana(&p, "alice", "/loki/api/v1/series", &q).await;
    let sets = series.body["data"].as_array().unwrap();
    assert_eq!(sets.len(), 6, "{}", series.raw);
    assert!(sets
        .iter()
        .all(|s| s["namespace"] == "team-a" || s["namespace"] == "team-a-dev"));
    let mut q = w.clone();
    q.push(("query", r#"{namespace="team-a"}"#));
    let stats = grafana(&p, "alice", "/loki/api/v1/index/stats", &q).await;
    let bytes: usize = sample()
        .iter()
        .filter(|l| l.1 == "team-a")
        .map(|l| l.4.len() + 1)
        .sum();
    assert_eq!(
        stats.body,
        json!({"streams": 3, "chunks": 0, "bytes": bytes, "entries": 30}),
        "{}",
        stats.raw
    );
    let volume = grafana(
        &p,
        "alice",
        "/loki/api/v1/index/volume",
        &[
            ("query", r#"{namespace=~".+"}"#),
            ("start", &ns(BASE - 60)),
            ("end", &ns(BASE + 60)),
        ],
    )
    .await;
    let result = volume.body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{}", volume.raw);
    let team_a = result
        .iter()
        .find(|r| r["metric"] == json!({"namespace": "team-a"}))
        .expect("team-a's volume");
    assert_eq!(team_a["value"][1], bytes.to_string());
    // Per 10 s bucket: team-a's lines are at BASE+0..29, three buckets.
    let volume_range = grafana(
        &p,
        "alice",
        "/loki/api/v1/index/volume_range",
        &[
            ("query", r#"{namespace="team-a"}"#),
            ("start", &ns(BASE)),
            ("end", &ns(BASE + 60)),
            ("step", "10s"),
        ],
    )
    .await;
    let series = volume_range.body["data"]["result"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{}", volume_range.raw);
    let points = series[0]["values"].as_array().unwrap();
    let times: Vec<i64> = points
        .iter()
        .map(|p| p[0].as_i64().unwrap() - BASE)
        .collect();
    assert_eq!(times, [0, 10, 20], "{}", volume_range.raw);
    let summed: usize = points
        .iter()
        .map(|p| p[1].as_str().unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(summed, bytes);
    let mut q = w.clone();
    q.push(("query", r#"{namespace="team-b"}"#));
    for path in [
        "/loki/api/v1/labels",
        "/loki/api/v1/label/pod/values",
        "/loki/api/v1/index/stats",
        "/loki/api/v1/index/volume",
    ] {
        let a = grafana(&p, "alice", path, &q).await;
        assert_eq!(a.status, 403, "{path}: {}", a.raw);
    }
}

/// The tenancy suite: each query from alice (team-a, team-a-dev) with its
/// exact status; every 200 holds no other namespace's labels or lines.
#[tokio::test]
async fn adversarial_logql_never_leaks() {
    let (_dir, p) = with_sample().await;
    let deep = format!("{}vector(1){}", "(".repeat(100), ")".repeat(100));
    let cases: Vec<(&str, u16)> = vec![
        (r#"{namespace="team-b"}"#, 403),
        (r#"{namespace=~"team-b"}"#, 403),
        (r#"{namespace=~"team-a|team-b"}"#, 403),
        (r#"{namespace=""}"#, 403),
        (r#"{k8s_namespace_name="team-b"}"#, 403),
        (r#"{namespace=~".*"}"#, 200),
        (r#"{namespace=~".+"}"#, 200),
        (r#"{namespace!="team-a"}"#, 200),
        (r#"{namespace!~"team-a.*"}"#, 200),
        (r#"{namespace=~"team-.*"}"#, 200),
        (r#"{namespace=~"(?i)TEAM-B"}"#, 200),
        (r#"{namespace=~"team-b|.*"}"#, 200),
        (r#"{pod=~".+"}"#, 200),
        (r#"{container="web"}"#, 200),
        (r#"{namespace_name=~".*"}"#, 200),
        (r#"{}"#, 200),
        (r#"{pod=~".+"} |~ "team-b""#, 200),
        (r#"{namespace="team-a"} | logfmt | namespace="team-b""#, 200),
        (
            r#"{namespace="team-a"} | regexp "(?P<namespace>team-[a-z]+)" | namespace_extracted="team-a""#,
            200,
        ),
        (
            r#"{namespace="team-a"} | label_format namespace="team-b""#,
            403,
        ),
        (r#"{namespace="team-a"} | label_format namespace=pod"#, 403),
        (r#"{namespace="team-a"} | drop namespace"#, 200),
        (r#"{namespace="team-a"} | keep pod"#, 200),
        (
            r#"{namespace="team-a"} | line_format "{{.namespace}} {{__line__}}""#,
            200,
        ),
        (r#"sum(count_over_time({namespace="team-b"}[1m]))"#, 403),
        (
            r#"sum(count_over_time({namespace="team-a"}[1m])) + sum(count_over_time({namespace="team-b"}[1m]))"#,
            403,
        ),
        (
            r#"sum by (namespace) (count_over_time({pod=~".+"}[1m])) or sum by (namespace) (count_over_time({namespace=~".+"}[1m]))"#,
            200,
        ),
        (
            r#"label_replace(sum by (namespace) (count_over_time({pod=~".+"}[1m])), "namespace", "team-b", "", "")"#,
            403,
        ),
        (
            r#"label_replace(sum by (pod) (count_over_time({pod=~".+"}[1m])), "ns", "$1", "pod", "(.*)")"#,
            200,
        ),
        (
            r#"topk(100000, sum by (namespace, pod) (count_over_time({namespace=~".*"}[1m])))"#,
            200,
        ),
        (r#"{namespace="team-a"} or {namespace="team-b"}"#, 400),
        (r#"{namespace="team-a""#, 400),
        (r#"sum(count_over_time({namespace="team-a"}[1m]) "#, 400),
        (deep.as_str(), 400),
    ];
    assert!(cases.len() >= 30);
    for (q, status) in &cases {
        let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&range(q))).await;
        assert_eq!(a.status, *status, "{q}: {}", a.raw);
        if a.status != 200 {
            continue;
        }
        let (namespaces, lines) = seen(&a.body);
        assert!(
            namespaces.iter().all(|n| n.starts_with("team-a")),
            "{q}: {namespaces:?}"
        );
        for line in &lines {
            assert!(
                !FOREIGN_TO_ALICE.iter().any(|f| line.contains(f)),
                "{q} leaked {line}"
            );
        }
    }
    // What a tenant sees is only narrowed: a match-all regex returns exactly its 60 lines.
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &refs(&range(r#"{namespace=~".*"}"#)),
    )
    .await;
    assert_eq!(seen(&a.body).1.len(), 60);
    // A principal with no namespaces sees nothing, whatever it asks.
    let a = grafana(
        &p,
        "nobody",
        "/loki/api/v1/query_range",
        &refs(&range(r#"{pod=~".+"}"#)),
    )
    .await;
    assert_eq!(
        (a.status, a.body["data"]["result"].clone()),
        (200, json!([])),
        "{}",
        a.raw
    );
    // Limits, each with an actionable message.
    let mut params = range(r#"{namespace="team-a"}"#);
    params[1].1 = "100000".into();
    let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&params)).await;
    assert_eq!(a.status, 422, "{}", a.raw);
    assert!(a.raw.contains("max_log_lines (100000 > 5000)"), "{}", a.raw);
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{namespace="team-a"}"#),
            ("start", "0"),
            ("end", &ns(BASE)),
        ],
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.raw);
    assert!(a.raw.contains("shorten the time range"), "{}", a.raw);
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &[
            ("query", r#"count_over_time({namespace="team-a"}[1m])"#),
            ("start", &ns(BASE - 3600)),
            ("end", &ns(BASE)),
            ("step", "100ms"),
        ],
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.raw);
    assert!(a.raw.contains("use a larger step"), "{}", a.raw);
    let huge = format!(r#"{{namespace="team-a"}} |= "{}""#, "x".repeat(70_000));
    let a = p
        .http
        .post(format!("{}/loki/api/v1/query_range", p.base))
        .bearer_auth(token("alice"))
        .form(&[("query", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 413);
    // A log query cannot be instant.
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query",
        &[("query", r#"{namespace="team-a"}"#), ("time", &ns(BASE))],
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.raw);
}

#[tokio::test]
async fn series_limit_is_actionable() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&(logs_config(dir.path()) + "\n[limits]\nmax_log_series = 2\n")).await;
    let lines = sample();
    let refs_: Vec<(i64, &str, &str, &str, &str)> = lines
        .iter()
        .map(|(t, n, p, c, l)| (*t, n.as_str(), p.as_str(), c.as_str(), l.as_str()))
        .collect();
    p.http
        .post(format!("{}/_bulk", p.base))
        .basic_auth("fluent-bit", Some(SHIPPER_TOKEN))
        .body(fluent_bit_bulk(&refs_))
        .send()
        .await
        .unwrap();
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &refs(&range(r#"count_over_time({namespace="team-a"}[1m])"#)),
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.raw);
    assert!(a.raw.contains("maximum of series (2)"), "{}", a.raw);
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &refs(&range(r#"sum(count_over_time({namespace="team-a"}[1m]))"#)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
}

/// An Elasticsearch stand-in (no Elasticsearch runs here): root info, point
/// in time, and search pages in the shapes of Elasticsearch's documentation.
/// It answers every search with the documents of the namespaces the search's
/// `terms` filter names — plus one of team-b's whatever was asked, as a
/// misbehaving backend would: Periscope must drop it.
async fn elasticsearch_stand_in() -> String {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(|request: Request| async move {
        let (method, path) = (request.method().to_string(), request.uri().path().to_string());
        let bytes = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let answer = match (method.as_str(), path.as_str()) {
            ("GET", "/") => json!({"name": "es-0", "cluster_name": "logs", "version": {"number": "8.11.1", "build_flavor": "default"}, "tagline": "You Know, for Search"}),
            ("POST", p) if p.ends_with("/_pit") => json!({"id": "pit-1"}),
            ("DELETE", "/_pit") => json!({"succeeded": true, "num_freed": 1}),
            ("POST", _) => {
                let asked: Vec<String> = body
                    .pointer("/query/bool/filter/0/terms/kubernetes.namespace_name.keyword")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                let mut hits = Vec::new();
                for (i, (namespace, log)) in [("team-a", "ERROR team-a in es"), ("team-a", "ok team-a in es"), ("team-b", "ERROR team-b in es")].iter().enumerate() {
                    if asked.iter().any(|a| a == namespace) || *namespace == "team-b" {
                        let ms = (BASE + i as i64) * 1000;
                        hits.push(json!({"_index": "ks-logstash-log-2026.11.27", "_id": format!("d{i}"),
                            "_source": {"log": log, "time": periscope_logs::format_time(ms * 1_000_000),
                                "kubernetes": {"namespace_name": namespace, "pod_name": "web-0", "container_name": "web"}},
                            "sort": [ms, i]}));
                    }
                }
                json!({"took": 1, "timed_out": false, "pit_id": "pit-1", "hits": {"total": {"value": hits.len(), "relation": "eq"}, "hits": hits}})
            }
            _ => json!({"error": "unexpected"}),
        };
        ([("X-Elastic-Product", "Elasticsearch")], axum::Json(answer)).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn loki_queries_over_elasticsearch_are_scoped_too() {
    let dir = tempfile::tempdir().unwrap();
    let es = elasticsearch_stand_in().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let prometheus = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let extra = format!(
        "{}\n[[clusters]]\nname = \"search\"\nprometheus = {{ url = \"{prometheus}\" }}\nlogs = {{ elasticsearch = {{ url = \"{es}\", timeout = \"2s\" }} }}\n",
        logs_config(dir.path())
    );
    let p = periscope_with(&extra).await;
    let path = "/clusters/search/loki/api/v1/query_range";
    let a = grafana(
        &p,
        "alice",
        path,
        &refs(&range(r#"{pod="web-0"} |= "ERROR""#)),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let (namespaces, lines) = seen(&a.body);
    assert_eq!(lines, vec!["ERROR team-a in es"], "{}", a.raw);
    assert_eq!(namespaces, BTreeSet::from(["team-a".to_string()]));
    assert_eq!(a.body["data"]["result"][0]["stream"]["cluster"], "search");
    let q = r#"sum by (namespace) (count_over_time({pod="web-0"}[1m]))"#;
    let a = grafana(
        &p,
        "alice",
        "/clusters/search/loki/api/v1/query",
        &[("query", q), ("time", &ns(BASE + 30))],
    )
    .await;
    assert_eq!(
        a.body["data"]["result"],
        json!([{"metric": {"namespace": "team-a"}, "value": [BASE + 30, "2"]}]),
        "{}",
        a.raw
    );
}

/// Kubernetes events (core/v1, as the apiserver serves them) and audit
/// records (`audit.k8s.io/v1`, as the apiserver's webhook sends them) are
/// streams `{source="events"}` and `{source="audit"}` beside the log lines.
#[tokio::test]
async fn events_and_audit_records_are_streams_beside_the_logs() {
    let (_dir, p) = with_sample().await;
    let at = |s: i64| periscope_logs::format_time((BASE + s) * NS);
    let event = |uid: &str, ns: &str, pod: &str, reason: &str, s: i64| {
        json!({
            "metadata": {"name": format!("{pod}.{uid}"), "namespace": ns, "uid": uid},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns, "uid": format!("pod-{ns}-{pod}"), "apiVersion": "v1"},
            "reason": reason, "message": format!("{reason} for {pod}"), "type": "Warning",
            "source": {"component": "kubelet"}, "count": 1,
            "firstTimestamp": at(s), "lastTimestamp": at(s)
        })
        .to_string()
    };
    let events = [
        event("e1", "team-a", "db-0", "BackOff", 3),
        event("e2", "team-a", "web-7d9c8b6f5d-x2k4q", "Pulled", 4),
        event("e3", "team-b", "db-0", "BackOff", 5),
    ]
    .join("\n");
    let shipped = p
        .http
        .post(format!("{}/api/v1/events/ingest", p.base))
        .bearer_auth(SHIPPER_TOKEN)
        .body(events)
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 200);
    let audit = |id: &str, ns: &str, verb: &str| {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id, "stage": "ResponseComplete",
            "requestURI": format!("/api/v1/namespaces/{ns}/pods/db-0/exec"), "verb": verb,
            "user": {"username": "dev@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.7"],
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": ns, "name": "db-0", "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 101},
            "requestReceivedTimestamp": at(6), "stageTimestamp": at(6)})
    };
    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": [audit("a1", "team-a", "create"), audit("a2", "team-b", "create")]});
    let shipped = p
        .http
        .post(format!("{}/api/v1/audit/webhook", p.base))
        .bearer_auth(SHIPPER_TOKEN)
        .body(list.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 200);

    // db-0's events, as Grafana shows them next to its logs: team-a's only.
    let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&range(r#"{source="events", pod="db-0"} | json message | line_format "{{.reason}}: {{.message}}" | drop message"#))).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let result = a.body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{}", a.raw);
    assert_eq!(
        result[0]["stream"],
        json!({"source": "events", "cluster": "default", "namespace": "team-a", "kind": "Pod", "name": "db-0", "pod": "db-0", "workload": "db", "reason": "BackOff", "type": "Warning"})
    );
    assert_eq!(
        result[0]["values"],
        json!([[ns(BASE + 3), "BackOff: BackOff for db-0"]])
    );
    // Logs and events of one pod in one query, newest first.
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &refs(&range(
            r#"{source=~"|events", namespace="team-a", pod="db-0"}"#,
        )),
    )
    .await;
    let (namespaces, lines) = seen(&a.body);
    assert_eq!(namespaces, BTreeSet::from(["team-a".to_string()]));
    assert_eq!(lines.len(), 11, "{}", a.raw);
    // Counted per reason; bob sees team-b's BackOff only.
    let q = r#"sum by (namespace, reason) (count_over_time({source="events"}[1m]))"#;
    let a = grafana(
        &p,
        "bob",
        "/loki/api/v1/query",
        &[("query", q), ("time", &ns(BASE + 30))],
    )
    .await;
    assert_eq!(
        a.body["data"]["result"],
        json!([{"metric": {"namespace": "team-b", "reason": "BackOff"}, "value": [BASE + 30, "1"]}]),
        "{}",
        a.raw
    );
    // Audit records: the exec into team-a's pod, for alice only.
    let a = grafana(&p, "alice", "/loki/api/v1/query_range", &refs(&range(r#"{source="audit", verb="create"} | json user="User.username", sub="ObjectRef.Subresource" | line_format "{{.user_extracted}} {{.sub}}""#))).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let result = a.body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{}", a.raw);
    assert_eq!(result[0]["stream"]["namespace"], "team-a");
    assert_eq!(
        result[0]["values"][0][1], "dev@example.com exec",
        "{}",
        a.raw
    );
    // The label browser offers the events' labels for an events selector.
    let mut q = vec![("start", ns(BASE - 60)), ("end", ns(BASE + 60))];
    q.push(("query", r#"{source="events"}"#.to_string()));
    let reasons = grafana(&p, "alice", "/loki/api/v1/label/reason/values", &refs(&q)).await;
    assert_eq!(
        reasons.body["data"],
        json!(["BackOff", "Pulled"]),
        "{}",
        reasons.raw
    );
    let a = grafana(
        &p,
        "alice",
        "/loki/api/v1/query_range",
        &refs(&range(r#"{source="events", namespace="team-b"}"#)),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.raw);
}

/// `tail` over a WebSocket, as Grafana's live view opens it: the lines since
/// `start` first, then each new line as it is shipped — the tenant's only.
#[tokio::test]
async fn tail_sends_new_lines_as_they_arrive() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let (_dir, p) = with_sample().await;
    let ws = p.base.replacen("http://", "ws://", 1);
    let open = |query: &str, start: i64| {
        let mut url = reqwest::Url::parse(&format!("{ws}/loki/api/v1/tail")).unwrap();
        url.query_pairs_mut()
            .append_pair("query", query)
            .append_pair("start", &ns(start));
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", token("alice")).parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request)
    };
    // A foreign selector is refused before the upgrade.
    match open(r#"{namespace="team-b"}"#, BASE).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let (mut socket, _) = open(r#"{namespace=~".+"}"#, BASE + 25).await.unwrap();
    let lines_of = |m: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = m["streams"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                let ns = s["stream"]["namespace"].as_str().unwrap().to_string();
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |v| (ns.clone(), v[1].as_str().unwrap().to_string()))
            })
            .collect();
        out.sort();
        out
    };
    // The agent pods' last five lines in team-a and team-a-dev.
    let first = next_message(&mut socket).await;
    let lines = lines_of(&first);
    assert_eq!(lines.len(), 10, "{first}");
    assert!(lines.iter().all(|(ns, _)| ns.starts_with("team-a")));
    assert_eq!(first["dropped_entries"], Value::Null);
    // New lines for team-a and team-b: only team-a's comes.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = fluent_bit_bulk(&[
        (now, "team-b", "db-0", "db", "tailed b"),
        (now, "team-a", "db-0", "db", "tailed a"),
    ]);
    let shipped = p
        .http
        .post(format!("{}/_bulk", p.base))
        .basic_auth("fluent-bit", Some(SHIPPER_TOKEN))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 200);
    let second = next_message(&mut socket).await;
    assert_eq!(
        lines_of(&second),
        vec![("team-a".to_string(), "tailed a\n".to_string())],
        "{second}"
    );
}

async fn next_message<S>(socket: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures::StreamExt;
    let message = tokio::time::timeout(std::time::Duration::from_secs(20), socket.next())
        .await
        .expect("a tail message in time");
    let text = message.unwrap().unwrap().into_text().unwrap();
    serde_json::from_str(&text).unwrap()
}
