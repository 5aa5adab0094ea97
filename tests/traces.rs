//! Traces end to end: the real OpenTelemetry Python SDK exports known traces
//! over OTLP/gRPC and OTLP/HTTP; every Jaeger query route (the requests
//! Grafana's Jaeger datasource sends, from its `datasource.ts`) is then asked
//! as each demo tenant, with exact answers; an adversarial suite tries to
//! reach other tenants' spans; bad OTLP input gets precise errors.
//!
//! The SDK comes from `scripts/install-test-clients` (a virtual environment);
//! without it these tests fail, they never skip.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const MS: i64 = 1_000_000;

/// A span of the spec the exporter script reads.
#[allow(clippy::too_many_arguments)]
fn span(
    id: &str,
    parent: Option<&str>,
    name: &str,
    service: &str,
    namespace: Option<&str>,
    kind: &str,
    start: i64,
    ms: i64,
) -> Value {
    json!({"span_id": id, "parent": parent, "name": name, "service": service,
           "namespace": namespace, "pod": format!("{service}-0"), "kind": kind,
           "start_ns": start, "end_ns": start + ms * MS, "attributes": {"http.route": format!("/{name}")}})
}

const T1: &str = "5b8efff798038103d269b633813fc601";
const T2: &str = "5b8efff798038103d269b633813fc602";
const T3: &str = "5b8efff798038103d269b633813fc603";
const T4: &str = "5b8efff798038103d269b633813fc604";
/// A 64-bit trace id (high half zero): Jaeger writes it with 16 digits.
const T5: &str = "0000000000000000d269b633813fc605";

/// Known traces, sent over gRPC (T1, T4) and HTTP (T2, T3, T5):
/// T1 frontend (team-a) → api (team-a, fails with 500) → db (team-b);
/// T2 api alone, later; T3 db (team-b) alone; T4 batch without a namespace;
/// T5 worker in team-a-dev.
fn export(grpc_addr: &str, http_base: &str, base: i64) {
    let mut api = span(
        "a000000000000002",
        Some("a000000000000001"),
        "GET /api",
        "api",
        Some("team-a"),
        "server",
        base + 10 * MS,
        40,
    );
    api["error"] = json!(true);
    api["attributes"]["http.status_code"] = json!(500);
    let grpc = json!({"traces": [
        {"trace_id": T1, "spans": [
            span("a000000000000001", None, "GET /", "frontend", Some("team-a"), "server", base, 100),
            api,
            span("a000000000000003", Some("a000000000000002"), "SELECT", "db", Some("team-b"), "server", base + 20 * MS, 5),
        ]},
        {"trace_id": T4, "spans": [span("d000000000000001", None, "nightly", "batch", None, "internal", base + 30 * MS, 1)]},
    ]});
    let http = json!({"traces": [
        {"trace_id": T2, "spans": [span("b000000000000001", None, "GET /api", "api", Some("team-a"), "server", base + 1000 * MS, 3)]},
        {"trace_id": T3, "spans": [span("c000000000000001", None, "SELECT", "db", Some("team-b"), "server", base + 500 * MS, 7)]},
        {"trace_id": T5, "spans": [span("e000000000000001", None, "consume", "worker", Some("team-a-dev"), "consumer", base + 200 * MS, 2)]},
    ]});
    let g = client(
        "otlp_traces.py",
        &["grpc", grpc_addr, SHIPPER_TOKEN],
        &grpc.to_string(),
    );
    assert_eq!(g["exported"], 4, "{g}");
    let h = client(
        "otlp_traces.py",
        &["http", &format!("{http_base}/v1/traces"), SHIPPER_TOKEN],
        &http.to_string(),
    );
    assert_eq!(h["exported"], 3, "{h}");
}

struct Setup {
    p: Periscope,
    base: i64,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&logs_config(dir.path())).await;
    let base = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 60_000)
        * MS;
    let p = tokio::task::spawn_blocking(move || {
        export(&p.grpc.to_string(), &p.base, base);
        p
    })
    .await
    .unwrap();
    Setup { p, base, _dir: dir }
}

impl Setup {
    async fn jaeger(&self, tenant: &str, path_and_query: &str) -> Answer {
        let r = self
            .p
            .http
            .get(format!("{}/jaeger{path_and_query}", self.p.base))
            .bearer_auth(token(tenant))
            .send()
            .await
            .unwrap();
        answer(r).await
    }

    /// `start`/`end` around the exported traces, in Jaeger's microseconds.
    fn window(&self) -> String {
        format!(
            "start={}&end={}",
            (self.base - 60_000 * MS) / 1000,
            (self.base + 60_000 * MS) / 1000
        )
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn trace_ids(a: &Answer) -> Vec<String> {
    a.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {}", a.raw))
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect()
}

/// `(service, operation)` of a trace's spans, through its processes.
fn span_services(trace: &Value) -> Vec<(String, String)> {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let process = s["processID"].as_str().unwrap();
            (
                trace["processes"][process]["serviceName"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                s["operationName"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_exported_traces_answer_every_jaeger_route_per_tenant() {
    let s = setup().await;
    let w = s.window();

    // Grafana's health check and service list.
    for (tenant, services) in [
        ("alice", vec!["api", "frontend", "worker"]),
        ("bob", vec!["db"]),
        ("nina", vec!["db"]),
        ("carol", vec![]),
        ("nobody", vec![]),
        ("admin", vec!["api", "batch", "db", "frontend", "worker"]),
    ] {
        let a = s.jaeger(tenant, "/api/services").await;
        assert_eq!(a.status, 200, "{}", a.raw);
        assert_eq!(strings(&a.body["data"]), services, "{tenant}");
        assert_eq!(a.body["total"], services.len());
    }

    // Operations, both forms.
    let a = s.jaeger("alice", "/api/services/api/operations").await;
    assert_eq!(strings(&a.body["data"]), ["GET /api"]);
    let a = s
        .jaeger("bob", "/api/operations?service=db&spanKind=server")
        .await;
    assert_eq!(
        a.body["data"],
        json!([{"name": "SELECT", "spanKind": "server"}])
    );
    let a = s
        .jaeger("bob", "/api/operations?service=db&spanKind=client")
        .await;
    assert_eq!(a.body["data"], json!([]));

    // A search as Grafana sends it: newest first, pruned, with warnings.
    let a = s
        .jaeger(
            "alice",
            &format!("/api/traces?service=api&limit=20&lookback=custom&{w}"),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(trace_ids(&a), [T2, T1]);
    let t1 = &a.body["data"][1];
    assert_eq!(
        span_services(t1),
        [
            ("frontend".to_string(), "GET /".to_string()),
            ("api".into(), "GET /api".into())
        ]
    );
    assert_eq!(
        t1["warnings"],
        json!(["1 span is hidden: outside your scope"])
    );
    assert_eq!(a.body["data"][0]["warnings"], Value::Null);
    // Units: microseconds, as exported.
    let root = &t1["spans"][0];
    assert_eq!(root["startTime"], s.base / 1000);
    assert_eq!(root["duration"], 100_000);
    let api = &t1["spans"][1];
    assert_eq!(
        api["references"],
        json!([{"refType": "CHILD_OF", "traceID": T1, "spanID": "a000000000000001"}])
    );
    let tags: BTreeSet<String> = api["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}={}", t["key"].as_str().unwrap(), t["value"]))
        .collect();
    for expected in [
        "error=true",
        "http.status_code=500",
        "span.kind=\"server\"",
        "otel.status_code=\"ERROR\"",
    ] {
        assert!(tags.contains(expected), "{expected} not in {tags:?}");
    }
    let process = &t1["processes"][api["processID"].as_str().unwrap()];
    assert!(process["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["key"] == "k8s.namespace.name" && t["value"] == "team-a"));

    // bob sees only the db side of T1, and his own T3.
    let a = s
        .jaeger("bob", &format!("/api/traces?service=db&{w}"))
        .await;
    assert_eq!(trace_ids(&a), [T3, T1]);
    assert_eq!(
        span_services(&a.body["data"][1]),
        [("db".to_string(), "SELECT".to_string())]
    );
    assert_eq!(
        a.body["data"][1]["warnings"],
        json!(["2 spans are hidden: outside your scope"])
    );

    // Tags (JSON and key:value), durations, operation.
    for query in [
        r#"tags={"error":"true"}"#.to_string(),
        "tag=http.status_code:500".into(),
        "minDuration=20ms".into(),
        "operation=GET%20/api&maxDuration=1s&minDuration=10ms".into(),
    ] {
        let a = s
            .jaeger("alice", &format!("/api/traces?service=api&{query}&{w}"))
            .await;
        assert_eq!(trace_ids(&a), [T1], "{query}");
    }
    let a = s
        .jaeger("alice", &format!("/api/traces?service=api&limit=1&{w}"))
        .await;
    assert_eq!(trace_ids(&a), [T2], "the limit comes after ordering");

    // Traces by id: 32 and 16 digits, pruned, or 404.
    let a = s.jaeger("alice", &format!("/api/traces/{T1}")).await;
    assert_eq!(a.status, 200);
    assert_eq!(span_services(&a.body["data"][0]).len(), 2);
    let a = s
        .jaeger("admin", &format!("/api/traces/{}", T1.to_uppercase()))
        .await;
    assert_eq!(span_services(&a.body["data"][0]).len(), 3);
    let a = s.jaeger("alice", "/api/traces/d269b633813fc605").await;
    assert_eq!(trace_ids(&a), ["d269b633813fc605"], "16-digit form");
    // With the window Grafana may send (µs): found inside it, not outside.
    let a = s.jaeger("alice", &format!("/api/traces/{T1}?{w}")).await;
    assert_eq!(span_services(&a.body["data"][0]).len(), 2, "{}", a.raw);
    let a = s
        .jaeger("alice", &format!("/api/traces/{T1}?start=1000&end=2000"))
        .await;
    assert_eq!(a.status, 404, "{}", a.raw);
    let a = s.jaeger("alice", &format!("/api/traces/{T3}")).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.body["errors"],
        json!([{"code": 404, "msg": "trace not found"}])
    );
    let a = s
        .jaeger("alice", &format!("/api/traces?traceID={T3}&traceID={T2}"))
        .await;
    assert_eq!(trace_ids(&a), [T2]);

    // Dependencies: a foreign end is one opaque node.
    let end = (s.base + 60_000 * MS) / MS;
    let deps = format!("/api/dependencies?endTs={end}&lookback=3600000");
    let edges = |a: &Answer| -> Vec<String> {
        a.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}>{}:{}",
                    e["parent"].as_str().unwrap(),
                    e["child"].as_str().unwrap(),
                    e["callCount"]
                )
            })
            .collect()
    };
    assert_eq!(
        edges(&s.jaeger("alice", &deps).await),
        ["api>(outside your scope):1", "frontend>api:1"]
    );
    assert_eq!(
        edges(&s.jaeger("bob", &deps).await),
        ["(outside your scope)>db:1"]
    );
    assert_eq!(
        edges(&s.jaeger("admin", &deps).await),
        ["api>db:1", "frontend>api:1"]
    );
    assert!(edges(&s.jaeger("carol", &deps).await).is_empty());

    // api_v3 over HTTP: the same scoping, OTLP JSON in `result`.
    let a = s.jaeger("bob", "/api/v3/services").await;
    assert_eq!(a.body, json!({"services": ["db"]}));
    let a = s
        .jaeger("bob", "/api/v3/operations?service=db&span_kind=server")
        .await;
    assert_eq!(
        a.body,
        json!({"operations": [{"name": "SELECT", "spanKind": "server"}]})
    );
    let (min, max) = (
        periscope_logs::format_time(s.base - 60_000 * MS),
        periscope_logs::format_time(s.base + 60_000 * MS),
    );
    let v3 = format!("/api/v3/traces?query.start_time_min={min}&query.start_time_max={max}");
    let a = s
        .jaeger("alice", &format!("{v3}&query.service_name=api"))
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let otlp_spans = |body: &Value| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for rs in body["result"]["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for sp in ss["spans"].as_array().unwrap() {
                    out.push((
                        sp["traceId"].as_str().unwrap().to_string(),
                        sp["name"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        out.sort();
        out
    };
    let expected: Vec<(String, String)> = [(T1, "GET /"), (T1, "GET /api"), (T2, "GET /api")]
        .iter()
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect();
    assert_eq!(otlp_spans(&a.body), expected);
    let a = s.jaeger("alice", &format!("/api/v3/traces/{T1}")).await;
    assert_eq!(otlp_spans(&a.body).len(), 2);
    let a = s.jaeger("alice", &format!("/api/v3/traces/{T3}")).await;
    assert_eq!(
        (a.status, &a.body["error"]["httpCode"]),
        (404, &json!(404)),
        "{}",
        a.raw
    );
    let a = s
        .jaeger("alice", &format!("{v3}&query.serviceName=db"))
        .await;
    assert_eq!(a.status, 404, "no match is a 404 in api_v3");

    // gRPC periscope.v1.Traces: the same parsing and scoping.
    use periscope_proto::v1::traces_client::TracesClient;
    use periscope_proto::v1::{
        FindTracesRequest, GetDependenciesRequest, GetServicesRequest, GetTraceRequest,
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", s.p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = TracesClient::new(channel);
    let found = grpc
        .find_traces(grpc_as(
            "alice",
            FindTracesRequest {
                service: "api".into(),
                start_unix_nano: s.base - 60_000 * MS,
                end_unix_nano: s.base + 60_000 * MS,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = found.traces.iter().map(|t| t.trace_id.as_str()).collect();
    assert_eq!(ids, [T2, T1]);
    assert_eq!(
        (found.traces[1].spans.len(), found.traces[1].hidden_spans),
        (2, 1)
    );
    assert_eq!(found.traces[1].spans[1].tags["http.status_code"], "500");
    assert_eq!(found.traces[1].spans[1].namespace, "team-a");
    let services = grpc
        .get_services(grpc_as("bob", GetServicesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(services.services, ["db"]);
    let foreign = grpc
        .get_trace(grpc_as(
            "alice",
            GetTraceRequest {
                trace_id: T3.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), tonic::Code::NotFound);
    let bad = grpc
        .get_trace(grpc_as(
            "alice",
            GetTraceRequest {
                trace_id: "zz".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    let deps = grpc
        .get_dependencies(grpc_as(
            "bob",
            GetDependenciesRequest {
                start_unix_nano: s.base - 60_000 * MS,
                end_unix_nano: s.base + 60_000 * MS,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deps.dependencies.len(), 1);
    assert_eq!(
        (
            deps.dependencies[0].parent.as_str(),
            deps.dependencies[0].child.as_str()
        ),
        ("(outside your scope)", "db")
    );

    // The per-cluster path answers the same.
    let r =
        s.p.http
            .get(format!("{}/clusters/default/jaeger/api/services", s.p.base))
            .bearer_auth(token("bob"))
            .send()
            .await
            .unwrap();
    assert_eq!(answer(r).await.body["data"], json!(["db"]));
}

/// Services, trace ids and namespaces a tenant must never see.
fn foreign_to_alice(raw: &str) -> Option<&'static str> {
    [
        T3,
        T4,
        "\"db\"",
        "\"batch\"",
        "SELECT",
        "nightly",
        "team-b",
        "c000000000000001",
        "a000000000000003",
    ]
    .into_iter()
    .find(|needle| raw.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_reach_other_tenants_spans() {
    let s = setup().await;
    let w = s.window();
    let t3_short = &T3[16..];
    let long_limit = format!("/api/traces?service=api&limit=999999999&{w}");
    let cases: Vec<(&str, String, u16)> = vec![
        ("alice", format!("/api/traces/{T3}"), 404),
        ("alice", format!("/api/traces/{}", T3.to_uppercase()), 404),
        ("alice", format!("/api/traces/{t3_short}"), 404),
        ("alice", format!("/api/traces/{T4}"), 404),
        ("alice", format!("/api/traces?traceID={T3}"), 200),
        (
            "alice",
            format!("/api/traces?traceID={T3}&traceID={T1}"),
            200,
        ),
        ("alice", format!("/api/traces?traceID={T4}"), 200),
        ("alice", format!("/api/traces?service=db&{w}"), 200),
        ("alice", format!("/api/traces?service=batch&{w}"), 200),
        (
            "alice",
            format!(r#"/api/traces?service=api&tags={{"k8s.namespace.name":"team-b"}}&{w}"#),
            200,
        ),
        (
            "alice",
            format!(r#"/api/traces?service=db&tags={{"k8s.namespace.name":"team-b"}}&{w}"#),
            200,
        ),
        (
            "alice",
            format!("/api/traces?service=db&tag=k8s.namespace.name:team-b&{w}"),
            200,
        ),
        (
            "alice",
            format!("/api/traces?service=db&operation=SELECT&{w}"),
            200,
        ),
        (
            "alice",
            format!("/api/traces?service=api&tag=service.name:db&{w}"),
            200,
        ),
        ("alice", "/api/services/db/operations".into(), 200),
        ("alice", "/api/services/batch/operations".into(), 200),
        ("alice", "/api/operations?service=db".into(), 200),
        (
            "alice",
            "/api/operations?service=db&spanKind=server".into(),
            200,
        ),
        ("alice", long_limit, 200),
        (
            "alice",
            format!("/api/traces?service=api&limit=-1&{w}"),
            400,
        ),
        ("alice", "/api/traces?traceID=zz".into(), 400),
        ("alice", "/api/traces/zz".into(), 400),
        ("alice", "/api/traces/0000".into(), 400),
        ("alice", format!("/api/traces/{T1}0"), 400),
        (
            "alice",
            format!("/api/traces?service=api&minDuration=abc&{w}"),
            400,
        ),
        (
            "alice",
            format!("/api/traces?service=api&minDuration=1e400s&{w}"),
            400,
        ),
        (
            "alice",
            "/api/traces?service=api&start=yesterday".into(),
            400,
        ),
        (
            "alice",
            "/api/traces?service=api&start=9223372036854775807".into(),
            400,
        ),
        ("alice", format!("/api/traces?{w}"), 400),
        (
            "alice",
            format!("/api/traces?service=api&tags=notjson&{w}"),
            400,
        ),
        ("alice", "/api/dependencies?lookback=-5".into(), 400),
        (
            "alice",
            "/api/operations?service=api&spanKind=bogus".into(),
            400,
        ),
        ("alice", "/api/dependencies?lookback=86400000".into(), 200),
        ("nobody", format!("/api/traces?service=api&{w}"), 200),
        ("nobody", "/api/services".into(), 200),
        ("nobody", format!("/api/traces/{T1}"), 404),
        ("carol", format!("/api/traces/{T1}"), 404),
        ("carol", "/api/dependencies".into(), 200),
        ("alice", format!("/api/v3/traces/{T3}"), 404),
        ("alice", format!("/api/v3/traces/{T4}"), 404),
        ("alice", "/api/v3/traces?query.service_name=db".into(), 400),
        ("alice", "/api/v3/operations?service=db".into(), 200),
        ("alice", "/api/v3/services".into(), 200),
    ];
    assert!(cases.len() >= 30);
    for (tenant, path, status) in &cases {
        let a = s.jaeger(tenant, path).await;
        assert_eq!(a.status, *status, "{tenant} {path}: {}", a.raw);
        if let Some(needle) = foreign_to_alice(&a.raw) {
            panic!("{tenant} {path} shows {needle}: {}", a.raw);
        }
        if *status == 400 {
            let message = a.body["errors"][0]["msg"]
                .as_str()
                .or(a.body["error"]["message"].as_str());
            assert!(message.is_some_and(|m| !m.is_empty()), "{}", a.raw);
        }
    }
    // bob and nina (team-b) never see alice's spans either.
    for tenant in ["bob", "nina"] {
        for path in [format!("/api/traces/{T2}"), format!("/api/traces/{T5}")] {
            assert_eq!(s.jaeger(tenant, &path).await.status, 404, "{tenant} {path}");
        }
        let a = s.jaeger(tenant, &format!("/api/traces/{T1}")).await;
        assert!(
            !a.raw.contains("frontend") && !a.raw.contains("GET /api"),
            "{}",
            a.raw
        );
    }
    // Credentials: none, wrong, or a shipper's token are refused; unknown clusters are 404.
    for (auth, status) in [
        (None, 401),
        (Some("wrong"), 401),
        (Some(SHIPPER_TOKEN), 401),
    ] {
        let mut r = s.p.http.get(format!("{}/jaeger/api/services", s.p.base));
        if let Some(t) = auth {
            r = r.bearer_auth(t);
        }
        assert_eq!(
            r.send().await.unwrap().status().as_u16(),
            status,
            "{auth:?}"
        );
    }
    let r =
        s.p.http
            .get(format!("{}/clusters/nowhere/jaeger/api/services", s.p.base))
            .bearer_auth(token("alice"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r =
        s.p.http
            .post(format!("{}/jaeger/api/services", s.p.base))
            .bearer_auth(token("alice"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

async fn post_otlp(
    p: &Periscope,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
    bearer: &str,
) -> (u16, Option<String>, Vec<u8>) {
    let mut r = p
        .http
        .post(format!("{}/v1/traces", p.base))
        .header("content-type", content_type)
        .bearer_auth(bearer)
        .body(body);
    if let Some(e) = encoding {
        r = r.header("content-encoding", e);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn bad_otlp_input_gets_precise_errors_and_good_spans_are_stored_once() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p =
        periscope_with(&(logs_config(dir.path()) + "\n[ingest]\nmax_body_bytes = 65536\n")).await;
    let json_type = "application/json";
    // Malformed bodies: 400 with a google.rpc.Status in the request's encoding.
    let (status, _, body) = post_otlp(
        &p,
        json_type,
        None,
        b"{\"resourceSpans\": 7}".to_vec(),
        SHIPPER_TOKEN,
    )
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], 3);
    assert!(
        body["message"].as_str().unwrap().contains("OTLP/JSON"),
        "{body}"
    );
    let (status, _, body) = post_otlp(
        &p,
        "application/x-protobuf",
        None,
        vec![0xff, 0xff, 0xff],
        SHIPPER_TOKEN,
    )
    .await;
    assert_eq!(status, 400);
    let decoded =
        <periscope_traces::otlp::RpcStatus as prost::Message>::decode(body.as_slice()).unwrap();
    assert!(
        decoded.message.contains("ExportTraceServiceRequest"),
        "{decoded:?}"
    );
    let (status, _, _) = post_otlp(&p, "text/plain", None, b"{}".to_vec(), SHIPPER_TOKEN).await;
    assert_eq!(status, 400);
    // Credentials.
    assert_eq!(
        post_otlp(&p, json_type, None, b"{}".to_vec(), "wrong")
            .await
            .0,
        401
    );
    assert_eq!(
        post_otlp(&p, json_type, None, b"{}".to_vec(), token("admin"))
            .await
            .0,
        401
    );
    // Too large, plain and as a gzip bomb.
    assert_eq!(
        post_otlp(&p, json_type, None, vec![b' '; 70_000], SHIPPER_TOKEN)
            .await
            .0,
        413
    );
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 10 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 65536);
    assert_eq!(
        post_otlp(&p, json_type, Some("gzip"), bomb, SHIPPER_TOKEN)
            .await
            .0,
        413
    );
    assert_eq!(
        post_otlp(&p, json_type, Some("br"), b"{}".to_vec(), SHIPPER_TOKEN)
            .await
            .0,
        400
    );

    // One request, gzip'd OTLP/JSON: two good spans, three unusable ones.
    let good = |id: &str| json!({"traceId": T1, "spanId": id, "name": "ok", "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000"});
    let request = json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "team-a"}}]},
    "scopeSpans": [{"spans": [
        good("a000000000000001"), good("a000000000000002"),
        {"traceId": "00", "spanId": "a000000000000003", "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": T1, "spanId": "0000000000000000", "startTimeUnixNano": "1", "endTimeUnixNano": "2"},
        {"traceId": T1, "spanId": "a000000000000004", "startTimeUnixNano": "5", "endTimeUnixNano": "2"}
    ]}]}]});
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(request.to_string().as_bytes()).unwrap();
    let (status, _, body) = post_otlp(
        &p,
        json_type,
        Some("gzip"),
        gz.finish().unwrap(),
        SHIPPER_TOKEN,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    // An int64: OTLP/JSON readers take a number or a string.
    let rejected = &body["partialSuccess"]["rejectedSpans"];
    assert!(rejected == 3 || rejected == "3", "{body}");
    assert!(body["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap()
        .contains("trace id"));
    let r = p
        .http
        .get(format!("{}/jaeger/api/traces/{T1}", p.base))
        .bearer_auth(token("alice"))
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(
        a.body["data"][0]["spans"].as_array().unwrap().len(),
        2,
        "{}",
        a.raw
    );
    // A full success has no partialSuccess.
    let (status, _, body) = post_otlp(
        &p,
        json_type,
        None,
        b"{\"resourceSpans\":[]}".to_vec(),
        SHIPPER_TOKEN,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({}));
}

#[tokio::test]
async fn python_grpcio_lists_services_through_v1alpha_reflection() {
    let p = periscope().await;
    let address = p.grpc.to_string();
    let answer =
        tokio::task::spawn_blocking(move || client("reflection_services.py", &[&address], ""))
            .await
            .unwrap();
    let services = strings(&answer["services"]);
    for expected in [
        "periscope.v1.Metrics",
        "periscope.v1.Logs",
        "grpc.health.v1.Health",
    ] {
        assert!(
            services.contains(&expected.to_string()),
            "{expected} not in {services:?}"
        );
    }
    assert!(strings(&answer["query_request_fields"]).contains(&"query".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedicated_otlp_listeners_take_what_the_sdk_exports() {
    let dir = tempfile::tempdir().unwrap();
    let prometheus_url = tokio::task::spawn_blocking(|| prometheus().url().to_string())
        .await
        .unwrap();
    let text =
        periscope_sandbox::demo_config(&prometheus_url, "127.0.0.1:0", "127.0.0.1:0").replacen(
            "[server]\n",
            "[server]\notlp_http_listen = \"127.0.0.1:0\"\notlp_grpc_listen = \"127.0.0.1:0\"\n",
            1,
        ) + &logs_config(dir.path());
    let config = periscope_config::Config::from_toml(&text, "test", &Default::default()).unwrap();
    let server = periscope_api::Server::bind(config).await.unwrap();
    let (http, otlp_http, otlp_grpc) = (
        server.http_addr(),
        server.otlp_http_addr().expect("an OTLP/HTTP listener"),
        server.otlp_grpc_addr().expect("an OTLP/gRPC listener"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let base = 1_700_000_000_000 * MS;
    tokio::task::spawn_blocking(move || {
        export(&otlp_grpc.to_string(), &format!("http://{otlp_http}"), base)
    })
    .await
    .unwrap();
    let services = reqwest::Client::new()
        .get(format!("http://{http}/jaeger/api/services"))
        .bearer_auth(token("admin"))
        .send()
        .await
        .unwrap();
    let services = answer(services).await;
    assert_eq!(
        strings(&services.body["data"]),
        ["api", "batch", "db", "frontend", "worker"]
    );
    // The OTLP listener serves OTLP only.
    let other = reqwest::Client::new()
        .get(format!("http://{otlp_http}/jaeger/api/services"))
        .bearer_auth(token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
    drop(stop);
}

/// A gRPC request as `tenant`.
fn grpc_as<T>(tenant: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(tenant)).parse().unwrap(),
    );
    r
}
