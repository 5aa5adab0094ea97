//! Input that used to panic a parser or go unbounded, on every surface that
//! takes it: each gets its precise 4xx (or gRPC code) and the server keeps
//! answering. Periscope in process, a real Prometheus behind it.

mod common;

use common::*;
use periscope_proto::v1::metrics_client::MetricsClient;
use periscope_proto::v1::{QueryRangeRequest, QueryRequest};
use tonic::transport::Channel;

/// Queries that made the PromQL parser panic (float seconds out of
/// `Duration`'s range), from mutations of the PromQL compliance tester's set.
const PANICKING_QUERIES: &[&str] = &[
    "up offset +Inf",
    "up offset -Inf",
    "up offset NaN",
    "up offset 1e400",
    "rate(up[1e400])",
];

fn bearer<T>(tenant: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(tenant)).parse().unwrap(),
    );
    request
}

async fn send(
    p: &Periscope,
    method: reqwest::Method,
    tenant: &str,
    path: &str,
    body: String,
) -> Answer {
    let r = p
        .http
        .request(method, format!("{}{path}", p.base))
        .bearer_auth(token(tenant))
        .body(body)
        .send()
        .await
        .expect("request sent");
    answer(r).await
}

fn assert_refused(a: &Answer, status: u16, says: &str, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.raw);
    let message = a.body["error"].as_str().unwrap_or(&a.raw);
    assert!(message.contains(says), "{what}: {message:?} lacks {says:?}");
}

#[tokio::test]
async fn queries_that_panic_the_parser_are_400s_on_every_prometheus_surface() {
    let p = periscope().await;
    let time = eval_time();
    for tenant in ["alice", "admin"] {
        for query in PANICKING_QUERIES {
            let selector_forms = [
                ("/prometheus/api/v1/series", "match[]"),
                ("/prometheus/api/v1/labels", "match[]"),
                ("/prometheus/api/v1/label/job/values", "match[]"),
            ];
            let what = format!("{tenant} {query}");
            let a = p.query(tenant, query).await;
            assert_refused(&a, 400, "invalid PromQL", &format!("{what} query POST"));
            let a = p
                .get(
                    Some(tenant),
                    "/prometheus/api/v1/query",
                    &[("query", query), ("time", &time)],
                )
                .await;
            assert_refused(&a, 400, "invalid PromQL", &format!("{what} query GET"));
            let a = p
                .post(
                    Some(tenant),
                    "/prometheus/api/v1/query_range",
                    &[
                        ("query", query),
                        ("start", &time),
                        ("end", &time),
                        ("step", "15"),
                    ],
                )
                .await;
            assert_refused(&a, 400, "invalid PromQL", &format!("{what} query_range"));
            if tenant == "alice" {
                // Selectors: enforced for tenants (admins' are forwarded as they are).
                for (path, param) in selector_forms {
                    let a = p.get(Some(tenant), path, &[(param, query)]).await;
                    assert_eq!(a.status, 400, "{what} {path}: {}", a.raw);
                }
            }
        }
    }
    // The server still answers.
    assert_eq!(p.query("alice", "up").await.status, 200);
}

#[tokio::test]
async fn queries_that_panic_the_parser_are_invalid_argument_over_grpc() {
    let p = periscope().await;
    let channel = Channel::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = MetricsClient::new(channel);
    let t = prometheus().sample().eval_time() as f64;
    for query in PANICKING_QUERIES {
        let instant = QueryRequest {
            query: query.to_string(),
            time: Some(t),
            ..Default::default()
        };
        let e = c.query(bearer("alice", instant)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{query}: {e:?}");
        assert!(e.message().contains("invalid PromQL"), "{query}: {e:?}");
        let range = QueryRangeRequest {
            query: query.to_string(),
            start: t - 60.0,
            end: t,
            step_seconds: 15.0,
            ..Default::default()
        };
        let e = c.query_range(bearer("admin", range)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{query}: {e:?}");
    }
    let ok = QueryRequest {
        query: "up".into(),
        time: Some(t),
        ..Default::default()
    };
    assert!(c.query(bearer("alice", ok)).await.is_ok());
}

#[tokio::test]
async fn durations_out_of_range_are_400s() {
    let p = periscope().await;
    let time = eval_time();
    for step in ["1e300", "-1", "NaN", "inf", "1e-12"] {
        let a = p
            .post(
                Some("alice"),
                "/prometheus/api/v1/query_range",
                &[
                    ("query", "up"),
                    ("start", &time),
                    ("end", &time),
                    ("step", step),
                ],
            )
            .await;
        assert_refused(&a, 400, "step", &format!("step={step}"));
    }
}

async fn put(p: &Periscope, path: &str, body: String) -> Answer {
    send(p, reqwest::Method::PUT, "alice", path, body).await
}

fn alerting_config(data: &std::path::Path, limits: &str) -> String {
    format!(
        "\n[alerting]\nbuiltin_rules = false\nbuiltin_event_rules = false\nbuiltin_audit_rules = false\ndata_dir = {:?}\n\n[limits]\n{limits}\n",
        data.display().to_string()
    )
}

const GROUP: &str = "interval: 1m\nrules:\n- alert: A\n  expr: up == 0\n";

#[tokio::test]
async fn tenant_rule_groups_refuse_what_panics_or_cannot_be_reserialised() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&alerting_config(dir.path(), "")).await;
    let path = "/api/v1/alerting/namespaces/team-a/groups/g";
    for query in PANICKING_QUERIES {
        let body = format!("rules:\n- alert: A\n  expr: {query:?}\n");
        let a = send(&p, reqwest::Method::PUT, "alice", path, body).await;
        assert_refused(&a, 400, "rules[0].expr", query);
    }
    // An anchor reused three times and an empty label key: valid YAML whose
    // re-serialisation failed with a 500 before.
    let anchors = "interval: 1m\nname: g\nrules:\n- &id001\n  alert: ''\n  expr: time() bool time()\n  labels:\n    '': x\n- *id001\n";
    let a = send(&p, reqwest::Method::PUT, "alice", path, anchors.into()).await;
    assert_refused(&a, 400, "is not a valid label name", "anchors");
    for bad_duration in ["1e400", "-1", "NaN"] {
        let body = format!("rules:\n- alert: A\n  expr: up\n  for: {bad_duration:?}\n");
        let a = send(&p, reqwest::Method::PUT, "alice", path, body).await;
        assert_refused(&a, 400, "rules[0].for", bad_duration);
    }
    let a = send(&p, reqwest::Method::PUT, "alice", path, GROUP.into()).await;
    assert_eq!(a.status, 201, "{}", a.raw);
}

#[tokio::test]
async fn tenant_writes_are_held_to_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let limits = "max_rule_groups = 2\nmax_receivers = 1\nmax_silences = 1";
    let p = periscope_with(&alerting_config(dir.path(), limits)).await;
    let group = |name: &str| format!("/api/v1/alerting/namespaces/team-a/groups/{name}");

    // An evaluation every millisecond, ten thousand rules, a hundred and one.
    let a = put(&p, &group("fast"), "interval: 1ms\nrules: []\n".into()).await;
    assert_refused(&a, 400, "limit min_rule_interval", "1ms interval");
    let rule = "- record: r\n  expr: up\n";
    let a = put(
        &p,
        &group("huge"),
        format!("rules:\n{}", rule.repeat(10_000)),
    )
    .await;
    assert_refused(&a, 413, "limit max_rule_group_bytes", "10,000 rules");
    let a = put(&p, &group("many"), format!("rules:\n{}", rule.repeat(101))).await;
    assert_refused(
        &a,
        400,
        "has 101 rules, more than the 100 allowed (limit max_rules_per_group)",
        "101 rules",
    );

    // Groups per namespace: replacing is free, a third is refused.
    assert_eq!(put(&p, &group("g1"), GROUP.into()).await.status, 201);
    assert_eq!(put(&p, &group("g2"), GROUP.into()).await.status, 201);
    assert_eq!(put(&p, &group("g2"), GROUP.into()).await.status, 200);
    let a = put(&p, &group("g3"), GROUP.into()).await;
    assert_refused(&a, 429, "limit max_rule_groups", "third group");
    assert!(a.body["error"]
        .as_str()
        .unwrap()
        .contains("namespace \"team-a\""));
    // Another namespace of the same tenant has its own quota.
    let other = "/api/v1/alerting/namespaces/team-a-dev/groups/g3";
    assert_eq!(put(&p, other, GROUP.into()).await.status, 201);

    // Receivers per namespace and their size.
    let receiver = |name: &str| format!("/api/v1/alerting/namespaces/team-a/receivers/{name}");
    let hook = r#"{"url":"http://127.0.0.1:1/hook"}"#;
    assert_eq!(put(&p, &receiver("r1"), hook.into()).await.status, 201);
    let a = put(&p, &receiver("r2"), hook.into()).await;
    assert_refused(&a, 429, "limit max_receivers", "second receiver");
    let big = format!(r#"{{"url":"http://127.0.0.1:1/{}"}}"#, "x".repeat(5000));
    let a = put(&p, &receiver("r1"), big).await;
    assert_refused(&a, 413, "limit max_receiver_bytes", "big receiver");

    // Silences not yet expired per namespace, and their size.
    let silence = |comment: &str| {
        format!(
            r#"{{"matchers":[{{"name":"namespace","value":"team-a","isRegex":false}}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2100-01-01T00:00:00Z","createdBy":"alice","comment":"{comment}"}}"#
        )
    };
    let silences = "/alertmanager/api/v2/silences";
    let a = send(&p, reqwest::Method::POST, "alice", silences, silence("one")).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let a = send(&p, reqwest::Method::POST, "alice", silences, silence("two")).await;
    assert_refused(&a, 429, "limit max_silences", "second silence");
    let a = send(
        &p,
        reqwest::Method::POST,
        "alice",
        silences,
        silence(&"x".repeat(5000)),
    )
    .await;
    assert_refused(&a, 413, "limit max_silence_bytes", "big silence");
    drop(p);

    // Tighter limits later: what is stored is kept (and reported), not dropped.
    let p = periscope_with(&alerting_config(
        dir.path(),
        "max_rule_groups = 1\nmin_rule_interval = \"5m\"",
    ))
    .await;
    let listed = p.get(Some("alice"), "/api/v1/alerting/groups", &[]).await;
    assert_eq!(
        listed.body["groups"].as_array().unwrap().len(),
        3,
        "{}",
        listed.raw
    );
    assert_eq!(p.get(Some("alice"), &group("g1"), &[]).await.status, 200);
}
