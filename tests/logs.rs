//! The log pipeline end to end: Fluent Bit-shaped `_bulk` ingest into the
//! embedded store, and the tenant-scoped log API over HTTP and gRPC, with real
//! HTTP and gRPC clients against Periscope in process (workspace discovery
//! from a real Prometheus).

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;

/// Lines for every demo namespace: 3 pods each, 10 lines per pod one second
/// apart; every 5th line an error. Foreign names look alike on purpose.
fn sample_lines(base: i64) -> Vec<(i64, String, String, String, String)> {
    let mut lines = Vec::new();
    for namespace in ["team-a", "team-a-dev", "team-b", "team-c", "kube-system"] {
        for (p, pod) in ["web-7d9c8b6f5d-x2k4q", "db-0", "agent-q2x8z"]
            .iter()
            .enumerate()
        {
            for i in 0..10 {
                let log = if i % 5 == 0 {
                    format!("ERROR {namespace}/{pod} request {i} failed")
                } else {
                    format!("GET /{namespace}/{pod}/{i} 200")
                };
                lines.push((
                    base + i + p as i64 * 10,
                    namespace.to_string(),
                    pod.to_string(),
                    pod.split('-').next().unwrap().to_string(),
                    log,
                ));
            }
        }
    }
    lines
}

fn as_refs(lines: &[(i64, String, String, String, String)]) -> Vec<(i64, &str, &str, &str, &str)> {
    lines
        .iter()
        .map(|(t, n, p, c, l)| (*t, n.as_str(), p.as_str(), c.as_str(), l.as_str()))
        .collect()
}

async fn bulk(p: &Periscope, token: &str, body: String, gzip: bool) -> Answer {
    let mut request = p
        .http
        .post(format!("{}/_bulk", p.base))
        .basic_auth("fluent-bit", Some(token));
    request = request.header("content-type", "application/x-ndjson");
    let request = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(body.as_bytes()).unwrap();
        request
            .header("content-encoding", "gzip")
            .body(encoder.finish().unwrap())
    } else {
        request.body(body)
    };
    answer(request.send().await.unwrap()).await
}

async fn logs(p: &Periscope, tenant: &str, path: &str, query: &[(&str, &str)]) -> Answer {
    p.get(Some(tenant), path, query).await
}

fn namespaces_of(body: &Value) -> BTreeSet<String> {
    body["query"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["namespace"].as_str().unwrap().to_string())
        .collect()
}

const BASE: i64 = 1_795_680_000;

async fn with_sample() -> (tempfile::TempDir, Periscope) {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&logs_config(dir.path())).await;
    let lines = sample_lines(BASE);
    let (first, second) = lines.split_at(lines.len() / 2);
    let a = bulk(&p, SHIPPER_TOKEN, fluent_bit_bulk(&as_refs(first)), false).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["errors"], false, "{}", a.raw);
    assert_eq!(a.body["items"].as_array().unwrap().len(), first.len());
    assert_eq!(a.body["items"][0]["index"]["status"], 201);
    let b = bulk(&p, SHIPPER_TOKEN, fluent_bit_bulk(&as_refs(second)), true).await;
    assert_eq!(
        (b.status, &b.body["errors"]),
        (200, &Value::Bool(false)),
        "{}",
        b.raw
    );
    (dir, p)
}

#[tokio::test]
async fn shipped_lines_are_searchable_at_once_and_only_within_scope() {
    let (_dir, p) = with_sample().await;
    // Cluster admin: everything.
    let all = logs(&p, "admin", "/api/v1/logs", &[("size", "1000")]).await;
    assert_eq!(all.status, 200, "{}", all.raw);
    assert_eq!(all.body["query"]["total"], 150);
    // Tenants: their namespaces only, in every operation, even with filters
    // written to reach further.
    for (tenant, expected) in [
        ("alice", 60),
        ("bob", 30),
        ("nina", 30),
        ("carol", 30),
        ("nobody", 0),
    ] {
        let scope = scope_of(tenant);
        let page = logs(&p, tenant, "/api/v1/logs", &[("size", "1000")]).await;
        assert_eq!(page.status, 200, "{tenant}: {}", page.raw);
        assert_eq!(page.body["query"]["total"], expected, "{tenant}");
        assert!(namespaces_of(&page.body).is_subset(&scope), "{tenant}");
        let fuzzy = logs(
            &p,
            tenant,
            "/api/v1/logs",
            &[
                ("namespace_query", "team,kube"),
                ("pod_query", "web"),
                ("size", "1000"),
            ],
        )
        .await;
        assert!(
            namespaces_of(&fuzzy.body).is_subset(&scope),
            "{tenant}: {}",
            fuzzy.raw
        );
        assert_eq!(fuzzy.body["query"]["total"], expected / 3, "{tenant}");
        let stats = logs(&p, tenant, "/api/v1/logs", &[("operation", "statistics")]).await;
        assert_eq!(
            stats.body["statistics"]["logs"], expected,
            "{tenant}: {}",
            stats.raw
        );
        assert_eq!(
            stats.body["statistics"]["containers"],
            if expected == 0 { 0 } else { 3 },
            "{tenant}"
        );
        let histogram = logs(
            &p,
            tenant,
            "/api/v1/logs",
            &[("operation", "histogram"), ("interval", "10s")],
        )
        .await;
        assert_eq!(
            histogram.body["histogram"]["total"], expected,
            "{tenant}: {}",
            histogram.raw
        );
        let export = p
            .http
            .get(format!("{}/api/v1/logs", p.base))
            .bearer_auth(token(tenant))
            .query(&[("operation", "export")])
            .send()
            .await
            .unwrap();
        assert_eq!(export.status(), 200);
        assert!(export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment"));
        let text = export.text().await.unwrap();
        assert_eq!(text.lines().count(), expected as usize, "{tenant}");
        for line in text.lines() {
            let namespace = line
                .split(['/', ' '])
                .find(|w| w.starts_with("team") || w.starts_with("kube"))
                .unwrap();
            assert!(scope.contains(namespace), "{tenant} exported {line}");
        }
    }
    // Asking for another tenant's namespace is refused, not silently emptied.
    let foreign = logs(
        &p,
        "alice",
        "/api/v1/logs",
        &[("namespaces", "team-a,team-b")],
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.raw);
    assert!(foreign.raw.contains("team-b"));
}

#[tokio::test]
async fn filters_sort_and_the_cursor_work_over_http() {
    let (_dir, p) = with_sample().await;
    let errors = logs(
        &p,
        "alice",
        "/api/v1/logs",
        &[("log_query", "error"), ("size", "100")],
    )
    .await;
    assert_eq!(errors.body["query"]["total"], 12, "{}", errors.raw);
    let web = logs(
        &p,
        "alice",
        "/api/v1/logs",
        &[("workloads", "web"), ("namespaces", "team-a")],
    )
    .await;
    assert_eq!(web.body["query"]["total"], 10, "{}", web.raw);
    let window = logs(
        &p,
        "admin",
        "/api/v1/logs",
        &[
            ("start_time", &(BASE + 5).to_string()),
            ("end_time", &(BASE + 9).to_string()),
        ],
    )
    .await;
    assert_eq!(window.body["query"]["total"], 25, "{}", window.raw);
    // Newest first by default; a record has KubeSphere's fields.
    let first = &logs(&p, "admin", "/api/v1/logs", &[("size", "1")])
        .await
        .body["query"]["records"][0];
    assert_eq!(
        first["time"],
        periscope_logs::format_time((BASE + 29) * 1_000_000_000)
    );
    for field in ["log", "namespace", "pod", "container"] {
        assert!(first[field].is_string(), "{field} in {first}");
    }
    // Pages through the cursor: every line once.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("size", "40".to_string()), ("sort", "asc".to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = logs(&p, "admin", "/api/v1/logs", &query).await;
        assert_eq!(page.status, 200, "{}", page.raw);
        for r in page.body["query"]["records"].as_array().unwrap() {
            assert!(
                seen.insert(r["log"].as_str().unwrap().to_string()),
                "repeated {r}"
            );
        }
        pages += 1;
        match page.body["query"]["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (150, 4));
    // The named cluster has its own store.
    let east = logs(&p, "admin", "/api/v1/clusters/east/logs", &[]).await;
    assert_eq!(east.body["query"]["total"], 0, "{}", east.raw);
    let shipped = bulk(
        &p,
        EAST_SHIPPER_TOKEN,
        fluent_bit_bulk(&[(BASE, "team-a", "x-0", "x", "east line")]),
        false,
    )
    .await;
    assert_eq!(shipped.status, 200);
    let east = logs(&p, "alice", "/api/v1/clusters/east/logs", &[]).await;
    assert_eq!(
        east.body["query"]["records"][0]["log"], "east line\n",
        "{}",
        east.raw
    );
}

#[tokio::test]
async fn bad_requests_get_precise_errors() {
    let (_dir, p) = with_sample().await;
    for (query, status, needle) in [
        (vec![("operation", "drop")], 400, "operation"),
        (vec![("size", "20000")], 422, "size"),
        (vec![("sort_type", "desc")], 400, "sort_type"),
        (vec![("cursor", "forged")], 400, "cursor"),
        (
            vec![("start_time", "20"), ("end_time", "10")],
            400,
            "start_time",
        ),
    ] {
        let a = logs(&p, "alice", "/api/v1/logs", &query).await;
        assert_eq!(a.status, status, "{query:?}: {}", a.raw);
        assert!(
            a.body["error"].as_str().unwrap().contains(needle),
            "{query:?}: {}",
            a.raw
        );
    }
    let anonymous = p.get(None, "/api/v1/logs", &[]).await;
    assert_eq!(anonymous.status, 401);
    let unknown = logs(&p, "admin", "/api/v1/clusters/west/logs", &[]).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn an_unreachable_elasticsearch_is_a_clear_bad_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let extra = format!(
        "{}\n[[clusters]]\nname = \"search\"\nprometheus = {{ url = \"{url}\" }}\nlogs = {{ elasticsearch = {{ url = \"{url}\", timeout = \"2s\" }} }}\n",
        logs_config(dir.path())
    );
    let p = periscope_with(&extra).await;
    let a = logs(&p, "alice", "/api/v1/clusters/search/logs", &[]).await;
    assert_eq!(a.status, 502, "{}", a.raw);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach Elasticsearch"),
        "{}",
        a.raw
    );
    // A tenant's foreign namespace is refused before anything is sent.
    let foreign = logs(
        &p,
        "alice",
        "/api/v1/clusters/search/logs",
        &[("namespaces", "team-b")],
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.raw);
}

#[tokio::test]
async fn ingest_is_authenticated_bounded_and_item_by_item() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&format!(
        "\n[ingest]\nmax_body_bytes = 4096\n{}",
        logs_config(dir.path())
    ))
    .await;
    let body = fluent_bit_bulk(&[(BASE, "team-a", "web-0", "web", "hello")]);
    // Without a token, with a reader's token: refused in Elasticsearch's shape.
    let anonymous = answer(
        p.http
            .post(format!("{}/_bulk", p.base))
            .body(body.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.body["error"]["type"], "security_exception");
    let reader = bulk(&p, token("admin"), body.clone(), false).await;
    assert_eq!(reader.status, 401);
    // Too large, plainly or once inflated.
    let big = fluent_bit_bulk(&vec![
        (
            BASE,
            "team-a",
            "web-0",
            "web",
            "x".repeat(100).as_str()
        );
        60
    ]);
    assert_eq!(
        bulk(&p, SHIPPER_TOKEN, big.clone(), false).await.status,
        413
    );
    let inflated = bulk(&p, SHIPPER_TOKEN, big.replace('x', "y"), true).await;
    assert_eq!(inflated.status, 413, "{}", inflated.raw);
    // A malformed action line refuses the request; nothing of it is stored.
    let broken = format!("{body}garbage\n{{}}\n");
    let refused = bulk(&p, SHIPPER_TOKEN, broken, false).await;
    assert_eq!(refused.status, 400, "{}", refused.raw);
    assert!(
        refused.body["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("line [3]"),
        "{}",
        refused.raw
    );
    // A malformed document fails that item only.
    let mixed = format!(
        "{body}{{\"index\":{{}}}}\n{{\"log\": 5}}\n{}",
        fluent_bit_bulk(&[(BASE + 1, "team-a", "web-0", "web", "world")])
    );
    let partial = bulk(&p, SHIPPER_TOKEN, mixed, false).await;
    assert_eq!(partial.status, 200, "{}", partial.raw);
    assert_eq!(partial.body["errors"], true);
    let statuses: Vec<u64> = partial.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 201]);
    assert!(partial.body["items"][1]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("[log]"));
    let stored = logs(&p, "alice", "/api/v1/logs", &[]).await;
    assert_eq!(stored.body["query"]["total"], 2, "{}", stored.raw);
    // The node answers like Elasticsearch; the plain NDJSON endpoint takes documents.
    let node = answer(p.http.get(format!("{}/", p.base)).send().await.unwrap()).await;
    assert_eq!(node.body["tagline"], "You Know, for Search");
    assert!(node.body["version"]["number"]
        .as_str()
        .unwrap()
        .starts_with('8'));
    let ndjson = "{\"time\":\"2026-11-26T10:00:00Z\",\"log\":\"plain\",\"kubernetes\":{\"namespace_name\":\"team-a-dev\"}}\nnot json\n";
    let plain = answer(
        p.http
            .post(format!("{}/api/v1/logs/ingest", p.base))
            .bearer_auth(SHIPPER_TOKEN)
            .body(ndjson)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(plain.status, 200, "{}", plain.raw);
    assert_eq!(
        (
            plain.body["accepted"].as_u64(),
            plain.body["rejected"][0]["line"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let found = logs(&p, "alice", "/api/v1/logs", &[("log_query", "PLAIN")]).await;
    assert_eq!(found.body["query"]["total"], 1, "{}", found.raw);
}

#[tokio::test]
async fn a_workspace_of_five_thousand_namespaces_is_one_filter() {
    let dir = tempfile::tempdir().unwrap();
    let namespaces: Vec<String> = (0..5000).map(|i| format!("big-{i}")).collect();
    let extra = format!(
        // The namespaces exist in no Prometheus: the check of shipped
        // namespaces is off (it is tested on its own).
        "{}\n[[workspaces]]\nname = \"ws-big\"\nnamespaces = {:?}\n\n[[principals]]\nname = \"big\"\ntoken_sha256 = \"{}\"\nrole = \"workspace-viewer\"\nworkspaces = [\"ws-big\"]\n\n[ingest.namespace_check]\nenabled = false\n",
        logs_config(dir.path()),
        namespaces,
        periscope_tenancy::auth::token_sha256("big-token")
    );
    let p = periscope_with(&extra).await;
    // One line in every 10th namespace of the workspace, and lines outside it.
    let inside: Vec<(i64, String)> = (0..5000)
        .step_by(10)
        .map(|i| (BASE + i as i64, format!("big-{i}")))
        .collect();
    let mut lines: Vec<(i64, &str, &str, &str, &str)> = inside
        .iter()
        .map(|(t, n)| (*t, n.as_str(), "p-0", "c", "inside"))
        .collect();
    lines.push((BASE, "big-5000", "p-0", "c", "outside"));
    lines.push((BASE, "team-a", "p-0", "c", "outside"));
    assert_eq!(
        bulk(&p, SHIPPER_TOKEN, fluent_bit_bulk(&lines), false)
            .await
            .status,
        200
    );
    let page = answer(
        p.http
            .get(format!("{}/api/v1/logs", p.base))
            .bearer_auth("big-token")
            .query(&[("size", "1000")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert_eq!(page.body["query"]["total"], 500);
    assert!(page.body["query"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["log"] == "inside\n"));
}

#[tokio::test]
async fn the_grpc_logs_service_scopes_and_streams_exports() {
    use periscope_proto::v1::logs_client::LogsClient;
    use periscope_proto::v1::LogRequest;
    let (_dir, p) = with_sample().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = LogsClient::new(channel);
    let as_tenant = |tenant: &str, r: LogRequest| {
        let mut request = tonic::Request::new(r);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", token(tenant)).parse().unwrap(),
        );
        request
    };
    let page = client
        .query(as_tenant(
            "bob",
            LogRequest {
                size: 100,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.total, 30);
    assert!(page.lines.iter().all(|l| l.namespace == "team-b"));
    let mut export = client
        .export(as_tenant(
            "alice",
            LogRequest {
                log_query: vec!["error".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut lines = Vec::new();
    while let Some(chunk) = export.message().await.unwrap() {
        lines.extend(chunk.lines);
    }
    assert_eq!(lines.len(), 12);
    assert!(lines
        .iter()
        .all(|l| l.namespace.starts_with("team-a") && l.log.starts_with("ERROR")));
    assert!(
        lines
            .windows(2)
            .all(|w| w[0].time_unix_nano >= w[1].time_unix_nano),
        "newest first"
    );
    let stats = client
        .statistics(as_tenant("carol", LogRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((stats.logs, stats.containers), (30, 3));
    let histogram = client
        .histogram(as_tenant(
            "alice",
            LogRequest {
                interval: "10s".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(histogram.total, 60);
    let denied = client
        .query(as_tenant(
            "bob",
            LogRequest {
                namespaces: vec!["team-a".into()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let invalid = client
        .query(as_tenant(
            "bob",
            LogRequest {
                size: 50_000,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::ResourceExhausted);
}

#[tokio::test]
async fn ingest_requests_in_flight_are_bounded_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&format!(
        "\n[ingest]\nmax_concurrent_requests = 1\n{}",
        logs_config(dir.path())
    ))
    .await;
    // A shipper whose body arrives slowly holds the only slot...
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = p
        .http
        .post(format!("{}/_bulk", p.base))
        .basic_auth("fluent-bit", Some(SHIPPER_TOKEN))
        .body(reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .send();
    let slow = tokio::spawn(slow);
    tx.send(Ok(b"{\"index\":{}}\n".to_vec())).await.unwrap();
    // ...so another is refused with 429 and Retry-After, in Elasticsearch's shape.
    let refused = eventually(
        std::time::Duration::from_secs(10),
        "a refused ingest request",
        async || {
            let body = fluent_bit_bulk(&[(BASE, "team-a", "web-0", "web", "second")]);
            let r = p
                .http
                .post(format!("{}/_bulk", p.base))
                .bearer_auth(SHIPPER_TOKEN)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status() == 429).then_some(r)
        },
    )
    .await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        answer(refused).await.body["error"]["type"],
        "es_rejected_execution_exception"
    );
    tx.send(Ok(fluent_bit_bulk(&[(
        BASE, "team-a", "web-0", "web", "first",
    )])
    .split_once('\n')
    .unwrap()
    .1
    .as_bytes()
    .to_vec()))
        .await
        .unwrap();
    drop(tx);
    let first = slow.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    let stored = logs(&p, "alice", "/api/v1/logs", &[("log_query", "first")]).await;
    assert_eq!(stored.body["query"]["total"], 1, "{}", stored.raw);
}

/// Loki's push API as the shippers send it (grafana/loki
/// `pkg/loghttp/push/push.go`): Fluent Bit's `loki` output's JSON (here
/// gzipped), Alloy's and Vector's snappy protobuf `logproto.PushRequest`
/// (`pkg/push/push.proto`, encoded with Periscope's copy of its messages).
/// 204 once stored; each tenant finds only its namespace's lines.
#[tokio::test]
async fn loki_push_bodies_are_stored_and_scoped() {
    use periscope_logs::loki_push::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&logs_config(dir.path())).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let json = serde_json::json!({"streams": [{
        "stream": {"namespace": "team-a", "pod": "web-1", "container": "web", "job": "fluent-bit"},
        "values": [[now.as_nanos().to_string(), "loki json line", {"trace_id": "0af7651916cd43dd8448eb211c80319c"}]]
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(json.to_string().as_bytes()).unwrap();
    let push = |body: Vec<u8>, content_type: &'static str, encoding: Option<&'static str>| {
        let mut request = p
            .http
            .post(format!("{}/loki/api/v1/push", p.base))
            .bearer_auth(SHIPPER_TOKEN)
            .header("content-type", content_type)
            .body(body);
        if let Some(e) = encoding {
            request = request.header("content-encoding", e);
        }
        request.send()
    };
    let r = push(gz.finish().unwrap(), "application/json", Some("gzip"))
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let proto = PushRequest {
        streams: vec![StreamAdapter {
            labels:
                r#"{k8s_namespace_name="team-b", k8s_pod_name="db-0", k8s_container_name="db"}"#
                    .into(),
            entries: vec![EntryAdapter {
                timestamp: Some(Timestamp {
                    seconds: now.as_secs() as i64,
                    nanos: 0,
                }),
                line: "loki protobuf line".into(),
                structured_metadata: vec![],
            }],
            hash: 0,
        }],
    };
    let body = snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(&proto))
        .unwrap();
    let r = push(body, "application/x-protobuf", None).await.unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    // Bad data is a 400 with Loki's plain-text reason; no token is a 401.
    let r = push(b"{\"streams\": 7}".to_vec(), "application/json", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not a Loki push request"));
    let r = push(b"not snappy".to_vec(), "application/x-protobuf", None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let anonymous = p
        .http
        .post(format!("{}/loki/api/v1/push", p.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    for (tenant, line, namespace) in [
        ("alice", "loki json line", "team-a"),
        ("bob", "loki protobuf line", "team-b"),
    ] {
        let found = logs(&p, tenant, "/api/v1/logs", &[("log_query", "loki")]).await;
        assert_eq!(found.status, 200, "{}", found.raw);
        let records = found.body["query"]["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{tenant}: {}", found.raw);
        assert_eq!(records[0]["log"], line);
        assert_eq!(records[0]["namespace"], namespace);
    }
}

/// A real Prometheus standing for a second cluster, `west`, whose
/// kube-state-metrics knows one namespace, `west-only`.
fn west_prometheus() -> periscope_sandbox::PrometheusProcess {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let history = format!(
        "# TYPE kube_namespace_labels gauge\nkube_namespace_labels{{job=\"kube-state-metrics\",namespace=\"west-only\"}} 1 {}\n# EOF\n",
        now - 120
    );
    periscope_sandbox::PrometheusProcess::start_with(&history, "")
        .unwrap_or_else(|e| panic!("cannot start the west Prometheus: {e}"))
}

const WEST_TOKEN: &str = "west-shipper-token";

/// The demo configuration plus cluster `west` (its own Prometheus) and its
/// shipper's token, with the namespace check's `settings`.
fn west_config(dir: &std::path::Path, west_url: &str, settings: &str) -> String {
    format!(
        "{}\n[[clusters]]\nname = \"west\"\nprometheus = {{ url = \"{west_url}\", timeout = \"10s\" }}\n\n[[ingest.tokens]]\nname = \"west-shipper\"\ntoken_sha256 = \"{}\"\ncluster = \"west\"\n\n[ingest.namespace_check]\n{settings}\n",
        logs_config(dir),
        periscope_tenancy::auth::token_sha256(WEST_TOKEN)
    )
}

async fn loki_push(p: &Periscope, token: &str, streams: &[(&str, &str)]) -> (u16, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let streams: Vec<Value> = streams
        .iter()
        .map(|(namespace, line)| {
            serde_json::json!({"stream": {"namespace": namespace, "pod": "web-0", "container": "web"},
                "values": [[now.to_string(), line]]})
        })
        .collect();
    let r = p
        .http
        .post(format!("{}/loki/api/v1/push", p.base))
        .bearer_auth(token)
        .json(&serde_json::json!({ "streams": streams }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The lines stored for cluster `cluster`, as the admin sees them.
async fn stored_lines(p: &Periscope, cluster: &str) -> BTreeSet<String> {
    let found = logs(p, "admin", &format!("/api/v1/clusters/{cluster}/logs"), &[]).await;
    assert_eq!(found.status, 200, "{}", found.raw);
    found.body["query"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["namespace"].as_str().unwrap(),
                r["log"].as_str().unwrap()
            )
        })
        .collect()
}

/// A shipped line may only claim a namespace of its token's cluster, as
/// kube-state-metrics lists them in that cluster's (real) Prometheus: a
/// namespace unknown there is a 502 to retry for the grace period (nothing
/// of the request stored, so a retry duplicates nothing), admitted once it
/// appears, and refused (400 for Loki push, a failed item for `_bulk`, a
/// rejected line for NDJSON, `partial_success` for OTLP) after the grace.
#[tokio::test]
async fn shipped_namespaces_must_be_namespaces_of_the_tokens_cluster() {
    let west = tokio::task::spawn_blocking(west_prometheus).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let retrying = periscope_with(&west_config(
        dir.path(),
        west.url(),
        "requery_interval = \"0s\"",
    ))
    .await;

    // team-a is a namespace of the default cluster, not of west.
    let (status, text) = loki_push(
        &retrying,
        WEST_TOKEN,
        &[("west-only", "kept?"), ("team-a", "spoofed")],
    )
    .await;
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains("namespace \"team-a\" not (yet) known in cluster \"west\""),
        "{text}"
    );
    assert!(stored_lines(&retrying, "west").await.is_empty());
    let (status, text) = loki_push(&retrying, SHIPPER_TOKEN, &[("team-a", "default line")]).await;
    assert_eq!(status, 204, "{text}");

    // A namespace created a moment ago: refused until kube-state-metrics
    // reports it, then admitted (written into the real Prometheus here).
    let (status, _) = loki_push(&retrying, WEST_TOKEN, &[("fresh-ns", "first line")]).await;
    assert_eq!(status, 502);
    let writer = periscope_backend_prometheus::remote_write::RemoteWriter::new(&format!(
        "{}/api/v1/write",
        west.url()
    ))
    .unwrap();
    let labels = [
        ("__name__", "kube_namespace_labels"),
        ("job", "kube-state-metrics"),
        ("namespace", "fresh-ns"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    writer.write(vec![(labels, 1.0)], now_ms).await.unwrap();
    let (status, text) = loki_push(
        &retrying,
        WEST_TOKEN,
        &[("fresh-ns", "first line"), ("west-only", "second line")],
    )
    .await;
    assert_eq!(status, 204, "{text}");
    assert_eq!(
        stored_lines(&retrying, "west").await,
        BTreeSet::from([
            "fresh-ns first line".to_string(),
            "west-only second line".to_string()
        ])
    );
    assert_eq!(
        stored_lines(&retrying, "default").await,
        BTreeSet::from(["team-a default line".to_string()])
    );

    // After the grace (zero here) an unknown namespace is refused and the
    // rest of the request is stored, on every log ingest path.
    let dir = tempfile::tempdir().unwrap();
    let strict = periscope_with(&west_config(dir.path(), west.url(), "grace = \"0s\"")).await;
    let (status, text) = loki_push(
        &strict,
        WEST_TOKEN,
        &[("west-only", "loki kept"), ("team-a", "loki spoofed")],
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        text.trim(),
        "1 of 2 lines refused: namespace \"team-a\" is not a namespace of cluster \"west\", the cluster of this ingest token (kube-state-metrics' namespaces in its Prometheus); the other lines were stored"
    );

    let bulk_answer = bulk(
        &strict,
        WEST_TOKEN,
        fluent_bit_bulk(&[
            (BASE, "team-b", "db-0", "db", "bulk spoofed"),
            (BASE, "west-only", "web-0", "web", "bulk kept"),
        ]),
        false,
    )
    .await;
    assert_eq!(bulk_answer.status, 200, "{}", bulk_answer.raw);
    assert_eq!(bulk_answer.body["errors"], true);
    let items = bulk_answer.body["items"].as_array().unwrap();
    assert_eq!(items[0]["index"]["status"], 400, "{}", bulk_answer.raw);
    assert!(items[0]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("namespace \"team-b\" is not a namespace of cluster \"west\""));
    assert_eq!(items[1]["index"]["status"], 201);

    let ndjson = format!(
        "{}\n{}\n",
        serde_json::json!({"time": "2026-11-26T10:00:00Z", "log": "ndjson spoofed", "kubernetes": {"namespace_name": "team-a"}}),
        serde_json::json!({"time": "2026-11-26T10:00:01Z", "log": "ndjson kept", "kubernetes": {"namespace_name": "west-only"}}),
    );
    let r = strict
        .http
        .post(format!("{}/api/v1/logs/ingest", strict.base))
        .bearer_auth(WEST_TOKEN)
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["rejected"][0]["line"], 1, "{answer}");

    let otlp = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "k8s.namespace.name", "value": {"stringValue": "team-a"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1795680000000000000", "body": {"stringValue": "otlp spoofed"}}]}]
    }, {
        "resource": {"attributes": [{"key": "k8s.namespace.name", "value": {"stringValue": "west-only"}}]},
        "scopeLogs": [{"logRecords": [{"timeUnixNano": "1795680000000000000", "body": {"stringValue": "otlp kept"}}]}]
    }]});
    let r = strict
        .http
        .post(format!("{}/v1/logs", strict.base))
        .bearer_auth(WEST_TOKEN)
        .json(&otlp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["partialSuccess"]["rejectedLogRecords"], 1,
        "{answer}"
    );
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("\"team-a\""),
        "{answer}"
    );

    let west_lines = stored_lines(&strict, "west").await;
    assert_eq!(west_lines.len(), 4, "{west_lines:?}");
    assert!(
        west_lines
            .iter()
            .all(|l| l.starts_with("west-only ") && l.contains("kept")),
        "{west_lines:?}"
    );

    // An unreachable Prometheus decides nothing: a retry, never a refusal.
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = periscope_with(&west_config(
        dir.path(),
        &format!("http://{closed}"),
        "grace = \"0s\"",
    ))
    .await;
    let (status, text) = loki_push(&down, WEST_TOKEN, &[("west-only", "line")]).await;
    assert_eq!(status, 502, "{text}");
    assert!(
        text.contains("cluster \"west\"'s namespaces could not be loaded from its Prometheus"),
        "{text}"
    );

    // Turned off, any namespace is accepted.
    let dir = tempfile::tempdir().unwrap();
    let off = periscope_with(&west_config(
        dir.path(),
        &format!("http://{closed}"),
        "enabled = false",
    ))
    .await;
    let (status, text) = loki_push(&off, WEST_TOKEN, &[("team-a", "line")]).await;
    assert_eq!(status, 204, "{text}");
}
