//! The events and audit services end to end, over HTTP against a real
//! Periscope with embedded stores: every accepted payload shape, dedup and
//! occurrence counting, bad input, tenant scoping of every operation, the
//! KubeSphere response shapes, redaction, and Periscope's own writes as
//! audit records.
//!
//! No Kubernetes runs here, so payloads are built in the shapes their
//! senders' sources define: kube-events' stdout and webhook sinks
//! (kubesphere/kube-events `pkg/exporter/sinks`: the core/v1 Event plus a
//! top-level `cluster`, or `{"Event": ..., "cluster": ...}` from 0.9),
//! events.k8s.io/v1 (kubernetes/api `events/v1/types.go`), resmoio
//! kubernetes-event-exporter's `EnhancedEvent` (`clusterName`, enriched
//! `involvedObject`), the apiserver's audit webhook (an `audit.k8s.io/v1`
//! `EventList`, k8s.io/apiserver `pkg/apis/audit/v1/types.go`) and
//! KubeSphere's `{"Items": [...]}` with Go field names.

mod common;

use common::*;
use serde_json::{json, Value};

async fn periscope_with_stores(dir: &std::path::Path, extra: &str) -> Periscope {
    let alerting = format!(
        "\n[alerting]\nbuiltin_rules = false\ndata_dir = {:?}\n",
        dir.join("alerting").display().to_string()
    );
    periscope_with(&(logs_config(dir) + &alerting + extra)).await
}

/// POSTs a body with the shipper's ingest token.
async fn ship(p: &Periscope, path: &str, body: impl Into<reqwest::Body>) -> Answer {
    answer(
        p.http
            .post(format!("{}{path}", p.base))
            .bearer_auth(SHIPPER_TOKEN)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A core/v1 event, as the apiserver serves it.
fn core_event(
    uid: &str,
    ns: &str,
    kind: &str,
    name: &str,
    reason: &str,
    count: u64,
    last: &str,
) -> Value {
    let mut involved =
        json!({"kind": kind, "name": name, "uid": format!("obj-{ns}-{name}"), "apiVersion": "v1"});
    if !ns.is_empty() {
        involved["namespace"] = json!(ns);
        involved["fieldPath"] = json!("spec.containers{app}");
    }
    json!({
        "metadata": {"name": format!("{name}.{uid}"), "namespace": if ns.is_empty() { "default" } else { ns }, "uid": uid, "resourceVersion": "1"},
        "involvedObject": involved,
        "reason": reason,
        "message": format!("{reason} for {name}"),
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-30T10:00:00Z",
        "lastTimestamp": last,
        "count": count,
        "type": if reason == "BackOff" || reason == "FailedScheduling" { "Warning" } else { "Normal" },
        "eventTime": null,
        "reportingComponent": "",
        "reportingInstance": ""
    })
}

fn ndjson(lines: &[Value]) -> String {
    lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn records(a: &Answer) -> Vec<Value> {
    a.body["query"]["records"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

const WINDOW: [(&str, &str); 2] = [("start_time", "1796000000"), ("end_time", "1796100000")];

fn with_window<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    WINDOW
        .iter()
        .copied()
        .chain(extra.iter().copied())
        .collect()
}

#[tokio::test]
async fn every_exporter_shape_is_one_record_per_event_object() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    let backoff = |count, last| {
        core_event(
            "e-backoff",
            "team-a",
            "Pod",
            "web-1",
            "BackOff",
            count,
            last,
        )
    };
    // kube-events ≤ 0.8 stdout: the event with a top-level cluster.
    let mut flat = backoff(3, "2026-11-30T10:03:00Z");
    flat["cluster"] = json!("default");
    // kube-events ≥ 0.9: the wrapper; the same event, later and more often.
    let wrapped = json!({"Event": backoff(5, "2026-11-30T10:05:00Z"), "cluster": "default"});
    // resmoio kubernetes-event-exporter: clusterName, enriched involvedObject.
    let mut enhanced = core_event(
        "e-pulled",
        "team-a",
        "Pod",
        "web-1",
        "Pulled",
        1,
        "2026-11-30T10:01:00Z",
    );
    enhanced["clusterName"] = json!("default");
    enhanced["involvedObject"]["labels"] = json!({"app": "web"});
    // events.k8s.io/v1 with a series: last seen is series.lastObservedTime.
    let events_v1 = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web-2.x", "namespace": "team-a", "uid": "e-v1"},
        "eventTime": "2026-11-30T10:00:00.000000Z",
        "series": {"count": 9, "lastObservedTime": "2026-11-30T10:09:00.000000Z"},
        "reportingController": "kubelet", "reportingInstance": "node-2", "action": "Pulling",
        "reason": "Pulling", "regarding": {"kind": "Pod", "namespace": "team-a", "name": "web-2", "uid": "obj-web-2"},
        "note": "Pulling image", "type": "Normal"
    });
    let body = ndjson(&[flat, wrapped, enhanced, events_v1]);
    let a = ship(&p, "/api/v1/events/ingest", body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["stored"].as_u64()),
        (Some(4), Some(3)),
        "{}",
        a.raw
    );
    // A single object and a list are accepted too; repeats add nothing.
    let single = ship(
        &p,
        "/api/v1/events/ingest",
        backoff(5, "2026-11-30T10:05:00Z").to_string(),
    )
    .await;
    assert_eq!(
        (single.status, single.body["duplicates"].as_u64()),
        (200, Some(1)),
        "{}",
        single.raw
    );
    let list = json!([
        backoff(7, "2026-11-30T10:07:00Z"),
        core_event(
            "e-sched",
            "team-b",
            "Pod",
            "db-0",
            "FailedScheduling",
            1,
            "2026-11-30T10:02:00Z"
        )
    ]);
    let listed = ship(&p, "/api/v1/events/ingest", list.to_string()).await;
    assert_eq!(
        (listed.status, listed.body["stored"].as_u64()),
        (200, Some(2)),
        "{}",
        listed.raw
    );

    let page = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &with_window(&[("size", "10")]),
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.raw);
    assert_eq!(page.body["query"]["total"], 4, "{}", page.raw);
    let all = records(&page);
    let uids: Vec<&str> = all
        .iter()
        .map(|r| r["metadata"]["uid"].as_str().unwrap())
        .collect();
    // Newest last sighting first: e-v1 (10:09), e-backoff (10:07), e-sched, e-pulled.
    assert_eq!(uids, ["e-v1", "e-backoff", "e-sched", "e-pulled"]);
    assert_eq!(all[1]["count"], 7);
    assert_eq!(all[1]["cluster"], "default");
    assert_eq!(
        all[0]["note"], "Pulling image",
        "records are the stored event JSON"
    );
    // The time filter works on last seen: the BackOff event is seen until
    // 10:07, so a window ending at 10:04 finds its older report, and one
    // starting at 10:08 only the events.k8s.io event.
    let late = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &[("start_time", "1796033280"), ("end_time", "1796040000")],
        )
        .await;
    let uids: Vec<Value> = records(&late)
        .iter()
        .map(|r| r["metadata"]["uid"].clone())
        .collect();
    assert_eq!(uids, [json!("e-v1")], "{}", late.raw);
    let stats = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &with_window(&[("operation", "statistics")]),
        )
        .await;
    assert_eq!(
        stats.body,
        json!({"statistics": {"resources": 3, "events": 4}}),
        "{}",
        stats.raw
    );
    let histogram = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &with_window(&[("operation", "histogram"), ("interval", "5m")]),
        )
        .await;
    assert_eq!(
        histogram.body,
        json!({"histogram": {"total": 4, "buckets": [{"time": 1796032800000_i64, "count": 2}, {"time": 1796033100000_i64, "count": 2}]}}),
        "{}",
        histogram.raw
    );
}

#[tokio::test]
async fn bad_event_input_gets_precise_errors_and_the_good_lines_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "\n").await;
    let good = core_event(
        "g1",
        "team-a",
        "Pod",
        "web-1",
        "Started",
        1,
        "2026-11-30T10:00:00Z",
    );
    let oversized = core_event(
        "big",
        "team-a",
        "Pod",
        "web-1",
        &"x".repeat(300 << 10),
        1,
        "2026-11-30T10:00:00Z",
    );
    let body = [
        good.to_string(),
        "{broken".into(),
        json!({"kind": "Pod"}).to_string(),
        oversized.to_string(),
    ]
    .join("\n");
    let a = ship(&p, "/api/v1/events/ingest", body).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert_eq!(a.body["stored"], 1);
    let rejected = a.body["rejected"].as_array().unwrap();
    let lines: Vec<u64> = rejected
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4], "{}", a.raw);
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .contains("involvedObject"));
    assert!(rejected[2]["reason"]
        .as_str()
        .unwrap()
        .contains("more than the limit of 262144"));
    // Nothing usable: 400 naming the first problem.
    let none = ship(&p, "/api/v1/events/ingest", "{broken\n{\"kind\":\"Pod\"}\n").await;
    assert_eq!(none.status, 400, "{}", none.raw);
    assert!(
        none.body["error"]
            .as_str()
            .unwrap()
            .contains("none of the 2 lines"),
        "{}",
        none.raw
    );
    for body in ["", "[1,", "not json at all"] {
        let a = ship(&p, "/api/v1/events/ingest", body).await;
        assert_eq!(a.status, 400, "{body:?}: {}", a.raw);
    }
    // No token, a tenant's token: 401.
    let anonymous = answer(
        p.http
            .post(format!("{}/api/v1/events/ingest", p.base))
            .body(good.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let tenant = answer(
        p.http
            .post(format!("{}/api/v1/events/ingest", p.base))
            .bearer_auth(token("alice"))
            .body(good.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tenant.status, 401);
    // The body bound: 413.
    let huge = ndjson(&vec![good.clone(); (33 << 20) / good.to_string().len() + 1]);
    assert_eq!(ship(&p, "/api/v1/events/ingest", huge).await.status, 413);
    let total = p
        .get(Some("admin"), "/api/v1/events", &with_window(&[]))
        .await;
    assert_eq!(total.body["query"]["total"], 1, "{}", total.raw);
    // Bad search parameters are named.
    for (param, value) in [
        ("operation", "delete"),
        ("sort", "sideways"),
        ("size", "20000"),
        ("start_time", "soon"),
        ("interval", "1ms"),
        ("namespace", "team-a"),
    ] {
        let a = p
            .get(Some("admin"), "/api/v1/events", &[(param, value)])
            .await;
        assert!(a.status == 400 || a.status == 422, "{param}: {}", a.raw);
        assert!(
            a.body["error"].as_str().unwrap().contains(param),
            "{param}: {}",
            a.raw
        );
    }
}

/// Events of three tenants' namespaces, a cluster-scoped node and a namespace.
async fn ship_tenant_events(p: &Periscope) {
    let mut lines = Vec::new();
    for (i, ns) in ["team-a", "team-a-dev", "team-b", "team-c"]
        .iter()
        .enumerate()
    {
        for (j, reason) in ["BackOff", "Pulled", "Started"].iter().enumerate() {
            // Names written to lure fuzzy filters of other tenants.
            let name = format!("{}-team-a-web", ns);
            let last = format!("2026-11-30T10:{:02}:00Z", i * 10 + j);
            lines.push(core_event(
                &format!("{ns}-{reason}"),
                ns,
                "Pod",
                &name,
                reason,
                1,
                &last,
            ));
        }
    }
    lines.push(core_event(
        "node-pressure",
        "",
        "Node",
        "node-1",
        "NodeHasDiskPressure",
        2,
        "2026-11-30T10:30:00Z",
    ));
    lines.push(core_event(
        "ns-deleted",
        "",
        "Namespace",
        "team-a",
        "NamespaceDeleted",
        1,
        "2026-11-30T10:31:00Z",
    ));
    let a = ship(p, "/api/v1/events/ingest", ndjson(&lines)).await;
    assert_eq!(
        (a.status, a.body["stored"].as_u64()),
        (200, Some(14)),
        "{}",
        a.raw
    );
}

#[tokio::test]
async fn a_tenant_sees_only_its_namespaces_events_in_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    ship_tenant_events(&p).await;
    let adversarial: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("involved_object_name_search", "team-a")],
        vec![("involved_object_name_filter", "team-b-team-a-web")],
        vec![("involved_object_namespace_search", "team")],
        vec![("workspace_filter", "ws-b")],
        vec![("workspace_search", "ws")],
        vec![("message_search", "team-b")],
        vec![("involved_object_kind_filter", "Node,Namespace")],
        vec![("reason_search", "pressure")],
        vec![("cluster", "default"), ("size", "10000")],
    ];
    for tenant in ["alice", "bob", "carol"] {
        let scope = scope_of(tenant);
        for query in &adversarial {
            for operation in ["query", "export"] {
                let mut q = with_window(query);
                q.push(("operation", operation));
                let a = p.get(Some(tenant), "/api/v1/events", &q).await;
                assert_eq!(a.status, 200, "{tenant} {query:?}: {}", a.raw);
                let found: Vec<Value> = if operation == "export" {
                    a.raw
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect()
                } else {
                    records(&a)
                };
                for r in &found {
                    let ns = r["involvedObject"]["namespace"].as_str().unwrap_or("");
                    assert!(
                        scope.contains(ns),
                        "{tenant} {operation} {query:?} leaked {r}"
                    );
                }
            }
            let mut stats_query = with_window(query);
            stats_query.push(("operation", "statistics"));
            let stats = p.get(Some(tenant), "/api/v1/events", &stats_query).await;
            let mut hist_query = with_window(query);
            hist_query.push(("operation", "histogram"));
            let histogram = p.get(Some(tenant), "/api/v1/events", &hist_query).await;
            let mut page_query = with_window(query);
            if !query.iter().any(|(k, _)| *k == "size") {
                page_query.push(("size", "10000"));
            }
            let page = p.get(Some(tenant), "/api/v1/events", &page_query).await;
            assert_eq!(
                stats.body["statistics"]["events"], page.body["query"]["total"],
                "{tenant} {query:?}"
            );
            assert_eq!(
                histogram.body["histogram"]["total"], page.body["query"]["total"],
                "{tenant} {query:?}"
            );
        }
        // Three events per namespace of the scope, nothing cluster-scoped.
        let all = p
            .get(
                Some(tenant),
                "/api/v1/events",
                &with_window(&[("operation", "statistics")]),
            )
            .await;
        assert_eq!(
            all.body["statistics"]["events"],
            3 * scope.len(),
            "{tenant}: {}",
            all.raw
        );
        // Naming a foreign namespace is refused.
        let foreign = p
            .get(
                Some(tenant),
                "/api/v1/events",
                &with_window(&[("involved_object_namespace_filter", "team-c,team-b")]),
            )
            .await;
        if !scope.contains("team-b") || !scope.contains("team-c") {
            assert_eq!(foreign.status, 403, "{tenant}: {}", foreign.raw);
        }
    }
    // Nobody sees nothing, in KubeSphere's shape (records null).
    let nothing = p
        .get(Some("nobody"), "/api/v1/events", &with_window(&[]))
        .await;
    assert_eq!(
        nothing.body,
        json!({"query": {"total": 0, "records": null}}),
        "{}",
        nothing.raw
    );
    // Cluster admins see cluster-scoped objects' events.
    let admin = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &with_window(&[("involved_object_kind_filter", "Node,Namespace")]),
        )
        .await;
    assert_eq!(admin.body["query"]["total"], 2, "{}", admin.raw);
    // The kubectl-like shortcut, scoped the same way.
    let shortcut = p
        .get(
            Some("alice"),
            "/api/v1/namespaces/team-a/events",
            &with_window(&[("for", "pod/team-a-team-a-web"), ("types", "Warning")]),
        )
        .await;
    assert_eq!(shortcut.status, 200, "{}", shortcut.raw);
    let found = records(&shortcut);
    assert_eq!(found.len(), 1, "{}", shortcut.raw);
    assert_eq!(found[0]["reason"], "BackOff");
    let foreign = p
        .get(Some("alice"), "/api/v1/namespaces/team-b/events", &[])
        .await;
    assert_eq!(foreign.status, 403, "{}", foreign.raw);
    assert_eq!(p.get(None, "/api/v1/events", &[]).await.status, 401);
}

#[tokio::test]
async fn a_five_thousand_namespace_workspace_is_one_scope() {
    let dir = tempfile::tempdir().unwrap();
    let namespaces: Vec<String> = (0..5000).map(|i| format!("\"big-{i}\"")).collect();
    let extra = format!(
        "\n[[workspaces]]\nname = \"ws-big\"\nnamespaces = [{}]\n\n[[principals]]\nname = \"big\"\ntoken_sha256 = \"{}\"\nrole = \"workspace-viewer\"\nworkspaces = [\"ws-big\"]\n",
        namespaces.join(", "),
        periscope_tenancy::auth::token_sha256("big-token"),
    );
    let p = periscope_with_stores(dir.path(), &extra).await;
    let lines: Vec<Value> = [0, 2500, 4999, 5000, 7000]
        .iter()
        .map(|i| {
            core_event(
                &format!("u{i}"),
                &format!("big-{i}"),
                "Pod",
                "web",
                "Started",
                1,
                "2026-11-30T10:00:00Z",
            )
        })
        .collect();
    assert_eq!(
        ship(&p, "/api/v1/events/ingest", ndjson(&lines))
            .await
            .status,
        200
    );
    let a = answer(
        p.http
            .get(format!("{}/api/v1/events", p.base))
            .query(&with_window(&[]))
            .bearer_auth("big-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let mut found: Vec<String> = records(&a)
        .iter()
        .map(|r| {
            r["involvedObject"]["namespace"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    found.sort();
    assert_eq!(found, ["big-0", "big-2500", "big-4999"]);
}

fn audit_event(id: &str, stage: &str, verb: &str, user: &str, object: Value, code: i64) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
        "auditID": id, "stage": stage, "requestURI": "/api/v1/namespaces/x", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.31.0", "objectRef": object,
        "responseStatus": {"metadata": {}, "code": code},
        "requestObject": {"kind": "Secret", "data": {"token": "c2VjcmV0LXZhbHVl"}},
        "responseObject": {"kind": "Status", "data": {"token": "c2VjcmV0LXZhbHVl"}},
        "requestReceivedTimestamp": "2026-11-30T10:00:00.000001Z",
        "stageTimestamp": "2026-11-30T10:00:00.000900Z",
        "annotations": {"authorization.k8s.io/decision": "allow"}
    })
}

fn event_list(items: Vec<Value>) -> String {
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})
        .to_string()
}

#[tokio::test]
async fn audit_batches_are_stored_once_redacted_and_scoped() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "\n[audit]\ntenant_bodies = \"request\"\n").await;
    let pod = |ns: &str| json!({"resource": "pods", "subresource": "exec", "namespace": ns, "name": "web-1", "apiVersion": "v1"});
    let batch = event_list(vec![
        audit_event(
            "exec-a",
            "RequestReceived",
            "create",
            "alice",
            pod("team-a"),
            0,
        ),
        audit_event(
            "exec-a",
            "ResponseStarted",
            "create",
            "alice",
            pod("team-a"),
            101,
        ),
        audit_event(
            "secret-b",
            "ResponseComplete",
            "get",
            "system:serviceaccount:team-b:ci",
            json!({"resource": "secrets", "namespace": "team-b", "name": "team-a-creds"}),
            200,
        ),
        audit_event(
            "cm-a",
            "ResponseComplete",
            "update",
            "alice",
            json!({"resource": "configmaps", "namespace": "team-a", "name": "settings"}),
            200,
        ),
        audit_event(
            "ns-del",
            "ResponseComplete",
            "delete",
            "admin",
            json!({"resource": "namespaces", "namespace": "team-a", "name": "team-a"}),
            200,
        ),
        audit_event(
            "healthz",
            "ResponseComplete",
            "get",
            "system:anonymous",
            Value::Null,
            200,
        ),
    ]);
    let a = ship(&p, "/api/v1/audit/webhook", batch.clone()).await;
    assert_eq!(
        (a.status, a.body["stored"].as_u64()),
        (200, Some(6)),
        "{}",
        a.raw
    );
    // The apiserver retries a batch whose answer it lost.
    let again = ship(&p, "/api/v1/audit/webhook", batch).await;
    assert_eq!(
        (again.status, again.body["duplicates"].as_u64()),
        (200, Some(6)),
        "{}",
        again.raw
    );
    // KubeSphere's own events, PascalCase.
    let kubesphere = json!({"Items": [{
        "Workspace": "ws-a", "Cluster": "default", "Level": "Metadata", "AuditID": "ks-1", "Stage": "ResponseComplete",
        "Verb": "create", "User": {"username": "alice"}, "SourceIPs": ["10.0.0.9"],
        "ObjectRef": {"Resource": "deployments", "Namespace": "team-a", "Name": "web", "APIGroup": "apps"},
        "ResponseStatus": {"code": 201}, "RequestReceivedTimestamp": "2026-11-30T10:01:00Z", "StageTimestamp": "2026-11-30T10:01:00Z"
    }]});
    assert_eq!(
        ship(&p, "/api/v1/audit/webhook", kubesphere.to_string())
            .await
            .status,
        200
    );

    let admin = p
        .get(
            Some("admin"),
            "/api/v1/auditing/events",
            &with_window(&[("size", "100")]),
        )
        .await;
    assert_eq!(admin.body["query"]["total"], 7, "{}", admin.raw);
    let secret = p
        .get(
            Some("admin"),
            "/api/v1/auditing/events",
            &with_window(&[("objectref_resource_filter", "secrets")]),
        )
        .await;
    let secret = &records(&secret)[0];
    assert!(!secret.to_string().contains("c2VjcmV0LXZhbHVl"), "{secret}");
    assert!(
        secret.get("RequestObject").is_none() && secret.get("ResponseObject").is_none(),
        "{secret}"
    );
    assert!(secret["Annotations"]["periscope.io/redacted"].is_string());
    // Admins see the bodies of other resources; tenants only the request's.
    let cm_query = with_window(&[("objectref_name_filter", "settings")]);
    let cm_admin = &records(
        &p.get(Some("admin"), "/api/v1/auditing/events", &cm_query)
            .await,
    )[0];
    assert!(cm_admin.get("ResponseObject").is_some());
    let cm_alice = &records(
        &p.get(Some("alice"), "/api/v1/auditing/events", &cm_query)
            .await,
    )[0];
    assert!(
        cm_alice.get("RequestObject").is_some() && cm_alice.get("ResponseObject").is_none(),
        "{cm_alice}"
    );

    // Scoping, whatever the filters say.
    for query in [
        vec![],
        vec![("objectref_name_search", "team-a")],
        vec![("objectref_resource_filter", "namespaces,secrets")],
        vec![("user_search", "team-b")],
        vec![("workspace_search", "ws")],
        vec![("objectref_namespace_search", "team")],
    ] {
        let a = p
            .get(
                Some("alice"),
                "/api/v1/auditing/events",
                &with_window(&query),
            )
            .await;
        assert_eq!(a.status, 200, "{query:?}: {}", a.raw);
        for r in records(&a) {
            let ns = r["ObjectRef"]["Namespace"].as_str().unwrap_or("");
            assert!(
                scope_of("alice").contains(ns) && r["ObjectRef"]["Resource"] != "namespaces",
                "{query:?} leaked {r}"
            );
        }
    }
    let alice = p
        .get(
            Some("alice"),
            "/api/v1/auditing/events",
            &with_window(&[("operation", "statistics")]),
        )
        .await;
    assert_eq!(
        alice.body,
        json!({"statistics": {"resources": 3, "events": 4}}),
        "{}",
        alice.raw
    );
    let exec = p
        .get(
            Some("alice"),
            "/api/v1/auditing/events",
            &with_window(&[
                ("objectref_subresource_filter", "exec"),
                ("response_code_filter", "101"),
            ]),
        )
        .await;
    assert_eq!(exec.body["query"]["total"], 1, "{}", exec.raw);
    let bob = p
        .get(Some("bob"), "/api/v1/auditing/events", &with_window(&[]))
        .await;
    let bob_ids: Vec<Value> = records(&bob).iter().map(|r| r["AuditID"].clone()).collect();
    assert_eq!(bob_ids, [json!("secret-b")], "{}", bob.raw);
    let foreign = p
        .get(
            Some("bob"),
            "/api/v1/auditing/events",
            &[("objectref_namespace_filter", "team-a")],
        )
        .await;
    assert_eq!(foreign.status, 403);
    let histogram = p
        .get(
            Some("admin"),
            "/api/v1/auditing/events",
            &with_window(&[("operation", "histogram"), ("interval", "1m")]),
        )
        .await;
    assert_eq!(
        histogram.body,
        json!({"histogram": {"total": 7, "buckets": [{"time": 1796032800000_i64, "count": 6}, {"time": 1796032860000_i64, "count": 1}]}}),
        "{}",
        histogram.raw
    );
}

#[tokio::test]
async fn bad_audit_batches_are_refused_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    let good = audit_event(
        "ok",
        "ResponseComplete",
        "get",
        "alice",
        json!({"resource": "pods", "namespace": "team-a"}),
        200,
    );
    let mut no_stage = good.clone();
    no_stage.as_object_mut().unwrap().remove("stage");
    let a = ship(
        &p,
        "/api/v1/audit/webhook",
        event_list(vec![good.clone(), no_stage, json!(7)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let items: Vec<u64> = a.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_u64().unwrap())
        .collect();
    assert_eq!(
        (a.body["stored"].as_u64(), items),
        (Some(1), vec![1, 2]),
        "{}",
        a.raw
    );
    for (body, expected) in [
        ("{", "not JSON"),
        (r#"{"kind":"PodList","items":[]}"#, "PodList"),
        (
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v2","items":[]}"#,
            "apiVersion",
        ),
        (r#"{"kind":"EventList","items":[7]}"#, "none of the 1 items"),
    ] {
        let a = ship(&p, "/api/v1/audit/webhook", body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.raw);
        assert!(
            a.body["error"].as_str().unwrap().contains(expected),
            "{body}: {}",
            a.raw
        );
    }
    // A 12 MiB batch (the apiserver's largest is 10 MB truncated, ~1 MB by default).
    let mut big = good.clone();
    big["requestObject"] = json!({"data": "y".repeat(30_000)});
    let items: Vec<Value> = (0..420)
        .map(|i| {
            let mut e = big.clone();
            e["auditID"] = json!(format!("big-{i}"));
            e
        })
        .collect();
    let body = event_list(items);
    assert!(body.len() > 12 << 20, "{}", body.len());
    let a = ship(&p, "/api/v1/audit/webhook", body).await;
    assert_eq!(
        (a.status, a.body["stored"].as_u64()),
        (200, Some(420)),
        "{}",
        &a.raw[..a.raw.len().min(300)]
    );
}

#[tokio::test]
async fn periscope_s_own_writes_are_audit_records() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    let silence = json!({
        "matchers": [{"name": "namespace", "value": "team-a", "isRegex": false, "isEqual": true}],
        "startsAt": "2026-11-30T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "alice", "comment": "maintenance"
    });
    let posted = answer(
        p.http
            .post(format!("{}/alertmanager/api/v2/silences", p.base))
            .bearer_auth(token("alice"))
            .header("user-agent", "amtool/0.27")
            .json(&silence)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(posted.status, 200, "{}", posted.raw);
    let id = posted.body["silenceID"].as_str().unwrap().to_string();
    // A refused write is recorded too, with its status.
    let refused = answer(
        p.http
            .put(format!(
                "{}/api/v1/alerting/namespaces/team-b/groups/sneaky",
                p.base
            ))
            .bearer_auth(token("alice"))
            .body("interval: 1m\nrules: []\n")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.raw);
    // "Who silenced this alert?"
    let now = (periscope_store::unix_now_ns() / 1_000_000_000 + 60).to_string();
    let who = p
        .get(
            Some("admin"),
            "/api/v1/auditing/events",
            &[
                ("objectref_resource_filter", "silences"),
                ("end_time", &now),
            ],
        )
        .await;
    let found = records(&who);
    assert_eq!(found.len(), 1, "{}", who.raw);
    let r = &found[0];
    assert_eq!(
        (r["User"]["username"].as_str(), r["Verb"].as_str()),
        (Some("alice"), Some("create"))
    );
    assert_eq!(
        (
            r["ObjectRef"]["Namespace"].as_str(),
            r["ObjectRef"]["Name"].as_str()
        ),
        (Some("team-a"), Some(id.as_str()))
    );
    assert_eq!(
        (
            r["ObjectRef"]["APIGroup"].as_str(),
            r["ResponseStatus"]["code"].as_i64()
        ),
        (Some("periscope.io"), Some(200))
    );
    assert_eq!(r["UserAgent"], "amtool/0.27");
    // Alice sees her namespace's record; Bob the refused write in his namespace.
    let alice = p
        .get(
            Some("alice"),
            "/api/v1/auditing/events",
            &[("end_time", &now)],
        )
        .await;
    assert_eq!(alice.body["query"]["total"], 1, "{}", alice.raw);
    let bob = p
        .get(
            Some("bob"),
            "/api/v1/auditing/events",
            &[("end_time", &now), ("response_code_filter", "403")],
        )
        .await;
    let refused = &records(&bob)[0];
    assert_eq!(
        (
            refused["ObjectRef"]["Resource"].as_str(),
            refused["ObjectRef"]["Name"].as_str()
        ),
        (Some("rulegroups"), Some("sneaky"))
    );
    assert_eq!(refused["User"]["username"], "alice");
}

#[tokio::test]
async fn grpc_searches_are_scoped_exactly_like_http() {
    use periscope_proto::v1::audit_client::AuditClient;
    use periscope_proto::v1::events_client::EventsClient;
    use periscope_proto::v1::{AuditSearch, EventSearch, RecordWindow};
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    ship_tenant_events(&p).await;
    let pod = |ns: &str| json!({"resource": "pods", "namespace": ns, "name": "web-1"});
    let batch = event_list(vec![
        audit_event("a", "ResponseComplete", "get", "alice", pod("team-a"), 200),
        audit_event("b", "ResponseComplete", "get", "bob", pod("team-b"), 200),
    ]);
    assert_eq!(ship(&p, "/api/v1/audit/webhook", batch).await.status, 200);
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut events = EventsClient::new(channel.clone());
    let mut audit = AuditClient::new(channel);
    let window = Some(RecordWindow {
        start_time_unix_nano: 1_796_000_000_000_000_000,
        end_time_unix_nano: 1_796_100_000_000_000_000,
        size: 100,
        ..Default::default()
    });
    for tenant in ["alice", "bob", "admin"] {
        let lure = EventSearch {
            window: window.clone(),
            name_search: vec!["team-a".into()],
            ..Default::default()
        };
        let page = events
            .query(authorized(lure.clone(), tenant))
            .await
            .unwrap()
            .into_inner();
        let http = p
            .get(
                Some(tenant),
                "/api/v1/events",
                &with_window(&[("involved_object_name_search", "team-a"), ("size", "100")]),
            )
            .await;
        assert_eq!(
            page.total,
            http.body["query"]["total"].as_u64().unwrap(),
            "{tenant}"
        );
        let http_records: Vec<Value> = records(&http);
        let grpc_records: Vec<Value> = page
            .records_json
            .iter()
            .map(|r| serde_json::from_str(r).unwrap())
            .collect();
        assert_eq!(grpc_records, http_records, "{tenant}");
        if tenant != "admin" {
            let scope = scope_of(tenant);
            assert!(grpc_records
                .iter()
                .all(|r| scope.contains(r["involvedObject"]["namespace"].as_str().unwrap_or(""))));
        }
        let mut export = events
            .export(authorized(lure, tenant))
            .await
            .unwrap()
            .into_inner();
        let mut exported = 0;
        while let Some(chunk) = export.message().await.unwrap() {
            exported += chunk.records_json.len() as u64;
        }
        assert_eq!(exported, page.total, "{tenant}");
        let stats = audit
            .statistics(authorized(
                AuditSearch {
                    window: window.clone(),
                    ..Default::default()
                },
                tenant,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            stats.events,
            if tenant == "admin" { 2 } else { 1 },
            "{tenant}"
        );
    }
    let foreign = events
        .query(authorized(
            EventSearch {
                namespaces: vec!["team-b".into()],
                ..Default::default()
            },
            "alice",
        ))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), tonic::Code::PermissionDenied);
    let anonymous = events
        .query(tonic::Request::new(EventSearch::default()))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated);
}

/// Records as the Collector's `k8s_events` receiver emits them (current and
/// older attribute names: receiver/k8seventsreceiver k8s_event_to_logdata.go)
/// and as `k8sobjects` does watching `events` (watch and pull modes:
/// receiver/k8sobjectsreceiver unstructured_to_logdata.go), sent by the real
/// OpenTelemetry Python SDK's OTLP log exporters over HTTP and gRPC.
#[tokio::test]
async fn otlp_logs_from_the_collector_s_kubernetes_receivers_become_events() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    let t = |minute: i64| (1_796_032_800 + minute * 60) * 1_000_000_000;
    let k8s_events = json!({"records": [
        {
            "resource": {"k8s.node.name": "node-1", "k8s.object.kind": "Pod", "k8s.object.name": "web-1", "k8s.object.uid": "pod-uid-1", "k8s.object.fieldpath": "spec.containers{web}", "k8s.object.api_version": "v1"},
            "attributes": {"k8s.event.reason": "BackOff", "k8s.event.name": "web-1.abc", "k8s.event.uid": "otel-1", "k8s.namespace.name": "team-a", "k8s.event.count": 4, "k8s.event.action": ""},
            "body": "Back-off restarting failed container web", "severity_text": "Warning", "time_ns": t(4)
        },
        {
            "resource": {"k8s.cluster.name": "default", "k8s.object.kind": "Pod", "k8s.pod.name": "db-0", "k8s.pod.uid": "pod-uid-2"},
            "attributes": {"k8s.event.reason": "Started", "k8s.event.name": "db-0.def", "k8s.event.uid": "otel-old", "k8s.namespace.name": "team-b"},
            "body": "Started container db", "severity_text": "Normal", "time_ns": t(5)
        }
    ]});
    let out = tokio::task::spawn_blocking({
        let endpoint = format!("{}/v1/logs", p.base);
        let spec = k8s_events.to_string();
        move || client("otlp_logs.py", &["http", &endpoint, SHIPPER_TOKEN], &spec)
    })
    .await
    .unwrap();
    assert_eq!(out["ok"], true, "{out}");
    let watched = core_event(
        "obj-watch",
        "team-a",
        "Pod",
        "web-2",
        "Pulled",
        1,
        "2026-11-30T10:06:00Z",
    );
    let pulled = core_event(
        "obj-pull",
        "team-c",
        "Pod",
        "cache-0",
        "Killing",
        1,
        "2026-11-30T10:07:00Z",
    );
    let k8sobjects = json!({"records": [
        {"resource": {}, "attributes": {"k8s.resource.name": "events", "event.domain": "k8s", "event.name": "web-2.x"}, "body": {"type": "MODIFIED", "object": watched}, "time_ns": t(6)},
        {"resource": {"k8s.namespace.name": "team-c"}, "attributes": {"k8s.resource.name": "events"}, "body": pulled, "time_ns": t(7)}
    ]});
    let out = tokio::task::spawn_blocking({
        let endpoint = format!("http://{}", p.grpc);
        let spec = k8sobjects.to_string();
        move || client("otlp_logs.py", &["grpc", &endpoint, SHIPPER_TOKEN], &spec)
    })
    .await
    .unwrap();
    assert_eq!(out["ok"], true, "{out}");
    let page = p
        .get(
            Some("admin"),
            "/api/v1/events",
            &with_window(&[("size", "10")]),
        )
        .await;
    let found = records(&page);
    let uids: Vec<&str> = found
        .iter()
        .map(|r| r["metadata"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        uids,
        ["obj-pull", "obj-watch", "otel-old", "otel-1"],
        "{}",
        page.raw
    );
    let backoff = &found[3];
    assert_eq!(
        (
            backoff["reason"].as_str(),
            backoff["count"].as_i64(),
            backoff["type"].as_str()
        ),
        (Some("BackOff"), Some(4), Some("Warning"))
    );
    assert_eq!(backoff["involvedObject"]["name"], "web-1");
    assert_eq!(backoff["involvedObject"]["namespace"], "team-a");
    assert_eq!(
        found[2]["involvedObject"]["name"], "db-0",
        "the older receiver's k8s.pod.name"
    );
    // Scoped like every event: bob sees only team-b's.
    let bob = p
        .get(Some("bob"), "/api/v1/events", &with_window(&[]))
        .await;
    assert_eq!(bob.body["query"]["total"], 1, "{}", bob.raw);
    // A record that is not an event is a log line, for the log store.
    let other = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1796032800000000000", "body": {"stringValue": "GET / 200"}, "attributes": []}
    ]}]}]});
    let a = answer(
        p.http
            .post(format!("{}/v1/logs", p.base))
            .bearer_auth(SHIPPER_TOKEN)
            .header("content-type", "application/json")
            .body(other.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    assert!(a.body.get("partialSuccess").is_none(), "{}", a.raw);
    let line = p
        .get(Some("admin"), "/api/v1/logs", &[("log_query", "GET")])
        .await;
    assert_eq!(line.body["query"]["total"], 1, "{}", line.raw);
}

/// An application's log lines through the real OpenTelemetry Python SDK's
/// OTLP log exporters (HTTP and gRPC), mixed with a `k8s_events` record in
/// one export: the lines go to the log store with their pod fields (trace
/// ids and attributes are kept as fields: `periscope_logs::otlp`'s tests),
/// the event to the events service, nothing rejected.
#[tokio::test]
async fn otlp_log_lines_go_to_the_log_store_and_events_to_the_events_service() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with_stores(dir.path(), "").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let pod = json!({"k8s.namespace.name": "team-a", "k8s.pod.name": "web-1", "k8s.container.name": "web",
                     "container.image.name": "web", "container.image.tag": "1.2", "service.name": "web"});
    for (protocol, endpoint) in [
        ("http", format!("{}/v1/logs", p.base)),
        ("grpc", format!("http://{}", p.grpc)),
    ] {
        let spec = json!({"records": [
            {"resource": pod, "attributes": {"http.route": "/checkout"}, "body": format!("{protocol} checkout failed"),
             "severity_text": "ERROR", "time_ns": now,
             "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331"},
            {"resource": pod, "attributes": {}, "body": format!("{protocol} checkout retried"), "severity_text": "INFO", "time_ns": now + 1},
            {"resource": {"k8s.object.kind": "Pod", "k8s.object.name": "web-1"},
             "attributes": {"k8s.event.reason": "BackOff", "k8s.event.uid": format!("{protocol}-event"), "k8s.namespace.name": "team-a"},
             "body": "Back-off restarting failed container", "severity_text": "Warning", "time_ns": now}
        ]});
        let out = tokio::task::spawn_blocking(move || {
            client(
                "otlp_logs.py",
                &[protocol, &endpoint, SHIPPER_TOKEN],
                &spec.to_string(),
            )
        })
        .await
        .unwrap();
        assert_eq!(out["ok"], true, "{protocol}: {out}");
        let lines = p
            .get(
                Some("alice"),
                "/api/v1/logs",
                &[
                    ("log_query", &format!("{protocol} checkout")),
                    ("size", "10"),
                ],
            )
            .await;
        assert_eq!(lines.status, 200, "{}", lines.raw);
        let found = lines.body["query"]["records"].as_array().unwrap();
        assert_eq!(found.len(), 2, "{}", lines.raw);
        let failed = found
            .iter()
            .find(|r| r["log"].as_str().unwrap().contains("failed"))
            .unwrap();
        for (field, value) in [
            ("namespace", "team-a"),
            ("pod", "web-1"),
            ("container", "web"),
        ] {
            assert_eq!(failed[field], value, "{failed}");
        }
        let events = p
            .get(
                Some("alice"),
                "/api/v1/events",
                &[("reason_filter", "BackOff")],
            )
            .await;
        assert!(
            events.raw.contains(&format!("{protocol}-event")),
            "{}",
            events.raw
        );
        let bob = p
            .get(Some("bob"), "/api/v1/logs", &[("log_query", "checkout")])
            .await;
        assert_eq!(bob.body["query"]["total"], 0, "{}", bob.raw);
    }
}
