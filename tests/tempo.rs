//! Grafana's Tempo datasource against Periscope (`/tempo`): traces exported by
//! the real OpenTelemetry SDK, then every route the datasource calls, with
//! the requests it sends (from grafana/grafana's `pkg/tsdb/tempo` and
//! `language_provider.ts`, and Tempo's API documentation — no Grafana or
//! Tempo runs here), as each tenant: trace by id in protobuf and JSON,
//! TraceQL search with exact answers, tag names and values, and TraceQL
//! written to reach another tenant's spans.

mod common;

use common::microservices::{export, recent_base, T1, T2, T3};
use common::*;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use serde_json::Value;
use std::collections::BTreeSet;

struct Setup {
    p: Periscope,
    base: i64,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let p =
        periscope_with(&(logs_config(dir.path()) + "\n[span_metrics]\nenabled = false\n")).await;
    let base = recent_base();
    let url = p.base.clone();
    tokio::task::spawn_blocking(move || export(&url, base))
        .await
        .unwrap();
    Setup { p, base, _dir: dir }
}

impl Setup {
    async fn get(&self, tenant: &str, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.p
            .http
            .get(format!("{}/tempo{path}", self.p.base))
            .query(query)
            .bearer_auth(token(tenant))
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, tenant: &str, path: &str, query: &[(&str, &str)]) -> Value {
        let r = self.get(tenant, path, query).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{path} {query:?}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// `start`/`end` around the traces, in Unix seconds as Grafana sends them.
    fn window(&self) -> (String, String) {
        let s = self.base / 1_000_000_000;
        ((s - 600).to_string(), (s + 600).to_string())
    }

    /// Trace ids a TraceQL search finds as `tenant`, in answer order.
    async fn search(&self, tenant: &str, q: &str) -> Vec<String> {
        let (start, end) = self.window();
        let body = self
            .json(
                tenant,
                "/api/search",
                &[
                    ("q", q),
                    ("limit", "20"),
                    ("spss", "3"),
                    ("start", &start),
                    ("end", &end),
                ],
            )
            .await;
        ids(&body)
    }
}

fn ids(body: &Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap_or_else(|| panic!("no traces: {body}"))
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_string())
        .collect()
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `(service, span name)` of every span of an OTLP JSON `resourceSpans` list.
fn otlp_spans(resource_spans: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for rs in resource_spans.as_array().unwrap() {
        let service = rs["resource"]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == "service.name")
            .map(|a| a["value"]["stringValue"].as_str().unwrap().to_string())
            .unwrap();
        for ss in rs["scopeSpans"].as_array().unwrap() {
            for s in ss["spans"].as_array().unwrap() {
                out.insert((service.clone(), s["name"].as_str().unwrap().to_string()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_reads_traces_by_id_in_protobuf_and_json_per_tenant() {
    let s = setup().await;
    let echo = s.get("alice", "/api/echo", &[]).await;
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.text().await.unwrap(), "echo");

    let (start, end) = s.window();
    let window = [("start", start.as_str()), ("end", end.as_str())];
    // What Grafana's backend sends: protobuf TraceByIDResponse.
    let r =
        s.p.http
            .get(format!("{}/tempo/api/v2/traces/{T1}", s.p.base))
            .query(&window)
            .header("accept", "application/protobuf")
            .bearer_auth(token("alice"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/protobuf");
    let answer: periscope_traces::tempo::TraceByIdResponse =
        prost::Message::decode(r.bytes().await.unwrap()).unwrap();
    let spans: usize = answer
        .trace
        .as_ref()
        .unwrap()
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    // T1 has seven spans; team-b's ledger is not alice's.
    assert_eq!(spans, 6);
    assert_eq!(answer.status, 1, "PARTIAL: a span is hidden");
    assert!(answer.message.contains("1 span"), "{}", answer.message);

    let json = s
        .json("alice", &format!("/api/v2/traces/{T1}"), &window)
        .await;
    let alice_spans = otlp_spans(&json["trace"]["resourceSpans"]);
    assert_eq!(alice_spans.len(), 6);
    assert!(!alice_spans.iter().any(|(service, _)| service == "ledger"));
    assert_eq!(json["status"], "PARTIAL");
    let bob = s.json("bob", &format!("/api/v2/traces/{T1}"), &[]).await;
    assert_eq!(
        otlp_spans(&bob["trace"]["resourceSpans"]),
        [("ledger".to_string(), "POST /charge".to_string())].into()
    );
    // The v1 route Grafana falls back to, JSON with `batches` and protobuf `Trace`.
    let v1 = s.json("alice", &format!("/api/traces/{T2}"), &[]).await;
    assert_eq!(otlp_spans(&v1["batches"]).len(), 3);
    assert!(v1.get("status").is_none(), "T2 is complete: {v1}");
    let r =
        s.p.http
            .get(format!("{}/tempo/api/traces/{T2}", s.p.base))
            .header("accept", "application/protobuf")
            .bearer_auth(token("alice"))
            .send()
            .await
            .unwrap();
    // `tempopb.Trace` has the wire shape of OTLP's `TracesData`.
    let trace: TracesData = prost::Message::decode(r.bytes().await.unwrap()).unwrap();
    assert_eq!(trace.resource_spans.len(), 2);
    for (tenant, id) in [
        ("carol", T1),
        ("bob", T3),
        ("alice", "7a0000000000000000000000000000ff"),
    ] {
        let r = s.get(tenant, &format!("/api/v2/traces/{id}"), &[]).await;
        assert_eq!(r.status(), 404, "{tenant} {id}");
    }
    let r = s.get("alice", "/api/v2/traces/not-hex", &[]).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceql_searches_answer_exactly_newest_first_and_within_scope() {
    let s = setup().await;
    let (t1, t2, t3) = (T1.to_string(), T2.to_string(), T3.to_string());
    for (q, expected) in [
        (
            r#"{ resource.service.name = "api" && status = error }"#,
            vec![&t1],
        ),
        ("{ duration > 100ms }", vec![&t2]),
        (r#"{ rootServiceName = "frontend" }"#, vec![&t2, &t1]),
        (r#"{ span.peer.service = "mailer-saas" }"#, vec![&t1]),
        (r#"{ name =~ "POST.*" || kind = consumer }"#, vec![&t3, &t1]),
        (
            r#"{ .db.system = "postgresql" && kind = client }"#,
            vec![&t1],
        ),
        (
            r#"{ resource.k8s.namespace.name = "team-a-dev" }"#,
            vec![&t3],
        ),
        ("{ !(status = error) && duration >= 150ms }", vec![&t2]),
        ("{}", vec![&t3, &t2, &t1]),
    ] {
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(s.search("alice", q).await, expected, "{q}");
    }
    // Metadata as Grafana reads it (strings for 64-bit numbers).
    let (start, end) = s.window();
    let body = s
        .json(
            "alice",
            "/api/search",
            &[
                ("q", r#"{ resource.service.name = "api" }"#),
                ("spss", "2"),
                ("start", &start),
                ("end", &end),
            ],
        )
        .await;
    let t = &body["traces"][0];
    assert_eq!(t["rootServiceName"], "frontend");
    assert_eq!(t["rootTraceName"], "GET /");
    assert!(t["startTimeUnixNano"].is_string());
    assert!(t["durationMs"].is_number());
    assert_eq!(t["spanSets"][0]["matched"], 1, "T2's one api span");
    assert_eq!(t["serviceStats"]["api"]["spanCount"], 1);
    let t1_meta = &body["traces"][1];
    assert_eq!(t1_meta["spanSets"][0]["matched"], 4);
    assert_eq!(t1_meta["spanSets"][0]["spans"].as_array().unwrap().len(), 2);
    assert_eq!(t1_meta["serviceStats"]["api"]["errorCount"], 1);
    // The limit applies after the scope and the filter.
    let limited = s
        .json(
            "alice",
            "/api/search",
            &[
                ("q", "{}"),
                ("limit", "2"),
                ("start", &start),
                ("end", &end),
            ],
        )
        .await;
    assert_eq!(ids(&limited), vec![t3.clone(), t2.clone()]);
    // Older parameters: tags (logfmt) and durations.
    let legacy = s
        .json(
            "alice",
            "/api/search",
            &[
                ("tags", "service.name=api"),
                ("minDuration", "100ms"),
                ("start", &start),
                ("end", &end),
            ],
        )
        .await;
    assert_eq!(ids(&legacy), vec![t2.clone()]);

    // bob sees team-b only: the ledger span of T1, never alice's services.
    assert_eq!(s.search("bob", "{}").await, vec![t1.clone()]);
    let bob = s
        .json(
            "bob",
            "/api/search",
            &[("q", "{}"), ("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(
        bob["traces"][0]["rootServiceName"],
        "<root span not yet received>"
    );
    assert!(!bob.to_string().contains("frontend"), "{bob}");
    for (tenant, q) in [
        ("bob", r#"{ resource.service.name = "api" }"#),
        ("bob", r#"{ rootServiceName = "frontend" }"#),
        ("bob", r#"{ rootServiceName != "x" }"#),
        ("bob", r#"{ resource.k8s.namespace.name = "team-a" }"#),
        (
            "bob",
            r#"{ .k8s.namespace.name =~ ".*" && name = "GET /" }"#,
        ),
        ("alice", r#"{ resource.service.name = "ledger" }"#),
        ("alice", r#"{ resource.k8s.namespace.name = "team-b" }"#),
        (
            "alice",
            r#"{ .service.name =~ "led.*" || resource.k8s.namespace.name != "team-a" && resource.k8s.namespace.name != "team-a-dev" }"#,
        ),
        ("carol", "{}"),
    ] {
        assert!(s.search(tenant, q).await.is_empty(), "{tenant}: {q}");
    }
    let nobody = s.get("nobody", "/api/search", &[("q", "{}")]).await;
    assert!(
        nobody.status() == 200 || nobody.status() == 403,
        "{}",
        nobody.status()
    );
    if nobody.status() == 200 {
        assert!(ids(&nobody.json().await.unwrap()).is_empty());
    }

    // Outside the subset, and malformed: 400 naming the problem.
    for (q, named) in [
        (r#"{ name = "a" } | count() > 1"#, "pipeline"),
        (r#"{ name = "a" } >> { name = "b" }"#, "structural"),
        (r#"{ name = "a" } && { name = "b" }"#, "spanset operators"),
        ("{ name = ", "invalid TraceQL"),
    ] {
        let r = s.get("alice", "/api/search", &[("q", q)]).await;
        assert_eq!(r.status(), 400, "{q}");
        let text = r.text().await.unwrap();
        assert!(text.contains(named), "{q}: {text}");
    }
    let r = s
        .get("alice", "/api/search", &[("q", "{}"), ("tags", "a=b")])
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_names_and_values_come_from_the_tenants_own_spans() {
    let s = setup().await;
    let v2 = s.json("alice", "/api/v2/search/tags", &[]).await;
    let scope = |name: &str| -> BTreeSet<String> {
        v2["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|sc| sc["name"] == name)
            .map(|sc| strings(&sc["tags"]))
            .unwrap_or_default()
    };
    assert!(scope("span").contains("db.system"), "{v2}");
    assert!(scope("span").contains("peer.service"), "{v2}");
    assert!(
        !scope("span").contains("span.kind"),
        "derived tags are intrinsics: {v2}"
    );
    assert!(scope("resource").contains("k8s.namespace.name"), "{v2}");
    assert!(scope("intrinsic").contains("rootServiceName"), "{v2}");
    let v1 = s
        .json("alice", "/api/search/tags", &[("scope", "span")])
        .await;
    assert!(strings(&v1["tagNames"]).contains("server.address"));
    let bob_tags = s.json("bob", "/api/v2/search/tags", &[]).await;
    assert!(!bob_tags.to_string().contains("db.system"), "{bob_tags}");

    let values = |body: &Value| -> BTreeSet<String> {
        body["tagValues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value"].as_str().unwrap().to_string())
            .collect()
    };
    let alice = s
        .json(
            "alice",
            "/api/v2/search/tag/resource.service.name/values",
            &[],
        )
        .await;
    assert_eq!(
        values(&alice),
        ["api", "frontend", "mailer", "orders"]
            .map(String::from)
            .into()
    );
    assert_eq!(alice["tagValues"][0]["type"], "string");
    // Grafana encodes the tag twice.
    let twice = s
        .json(
            "alice",
            "/api/v2/search/tag/resource%252Eservice%252Ename/values",
            &[],
        )
        .await;
    assert_eq!(values(&twice), values(&alice));
    let bob = s
        .json(
            "bob",
            "/api/v2/search/tag/resource.service.name/values",
            &[],
        )
        .await;
    assert_eq!(values(&bob), ["ledger".to_string()].into());
    let filtered = s
        .json(
            "alice",
            "/api/v2/search/tag/name/values",
            &[("q", r#"{ resource.service.name = "api" }"#)],
        )
        .await;
    assert_eq!(
        values(&filtered),
        ["GET /api", "POST /charge", "POST /send", "SELECT orders"]
            .map(String::from)
            .into()
    );
    let status = s
        .json("alice", "/api/v2/search/tag/status/values", &[])
        .await;
    assert_eq!(status["tagValues"][0]["type"], "keyword");
    let v1_values = s
        .json("alice", "/api/search/tag/service.name/values", &[])
        .await;
    assert_eq!(
        strings(&v1_values["tagValues"]),
        ["api", "frontend", "mailer", "orders"]
            .map(String::from)
            .into()
    );
    let r = s
        .get("alice", "/api/v2/search/tag/event.name/values", &[])
        .await;
    assert_eq!(r.status(), 400);
}
