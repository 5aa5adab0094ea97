//! The alerting service against a real Prometheus and a real Alertmanager:
//! rules evaluated by Periscope, alerts posted to Alertmanager's v2 API and
//! delivered by it to a webhook, the Prometheus-shaped rules and alerts APIs
//! filtered per tenant, and alert state that survives a restart.

mod common;

use common::{
    alertmanager, authorized, eventually, hook, periscope_with, prometheus, token, webhook_routing,
    Periscope,
};
use periscope_proto::v1::alerting_client::AlertingClient;
use periscope_proto::v1::{ListAlertsRequest, ListRulesRequest};
use serde_json::Value;
use std::time::Duration;

const RULES: &str = r#"
groups:
  - name: periscope-test
    interval: 1s
    rules:
      - alert: TeamAGoroutines
        expr: go_goroutines{namespace="team-a"} > 0
        for: 2s
        labels: {severity: info}
        annotations:
          summary: "{{ $labels.namespace }} runs goroutines"
          description: "{{ $value | humanize }} goroutines in {{ $labels.job }}"
      - alert: TeamBAlways
        expr: vector(1)
        labels: {severity: warning, namespace: team-b}
        annotations: {summary: always}
      - alert: NeverFires
        expr: up{job="prometheus"} == 0
        annotations: {summary: never}
      - record: job:up:sum
        expr: sum by (job) (up)
"#;

fn alerting_config(rules: &std::path::Path, alertmanager: &str, data: &std::path::Path) -> String {
    format!(
        "\n[alerting]\nbuiltin_rules = false\nbuiltin_event_rules = false\nbuiltin_audit_rules = false\nrule_files = [{:?}]\nalertmanagers = [{alertmanager:?}]\nexternal_url = \"http://periscope.example:9480\"\nexternal_labels = {{ cluster = \"default\" }}\ndata_dir = {:?}\nremote_write = true\n",
        rules.display().to_string(),
        data.display().to_string()
    )
}

async fn alerts(p: &Periscope, tenant: &str) -> Vec<Value> {
    let a = p.get(Some(tenant), "/prometheus/api/v1/alerts", &[]).await;
    assert_eq!(a.status, 200, "{}", a.raw);
    a.body["data"]["alerts"].as_array().unwrap().clone()
}

fn names(alerts: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = alerts
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_fire_through_alertmanager_and_apis_are_tenant_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let rule_file = dir.path().join("rules.yaml");
    std::fs::write(&rule_file, RULES).unwrap();
    let webhook = hook().await;
    let am = alertmanager(webhook_routing(&webhook.url)).await;
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let data = dir.path().join("data");
    let p = periscope_with(&alerting_config(&rule_file, am.url(), &data)).await;

    // Alertmanager delivers what Periscope sent, in its webhook format.
    let payload = eventually(Duration::from_secs(30), "the webhook call", async || {
        webhook.message_for("TeamAGoroutines")
    })
    .await;
    assert_eq!(payload["version"], "4");
    assert_eq!(payload["status"], "firing");
    assert_eq!(payload["receiver"], "hook");
    let alert = &payload["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["namespace"], "team-a");
    assert_eq!(alert["labels"]["severity"], "info");
    assert_eq!(alert["labels"]["cluster"], "default", "external label");
    assert_eq!(alert["annotations"]["summary"], "team-a runs goroutines");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.ends_with(" goroutines in prometheus"),
        "{description}"
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("http://periscope.example:9480/graph?g0.expr=go_goroutines%7B"));
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);

    // Alertmanager holds it with the startsAt Periscope gave it.
    let held: Value = reqwest::get(format!("{}/api/v2/alerts", am.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held = held
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "TeamAGoroutines")
        .expect("alertmanager has the alert");
    // The v2 API writes milliseconds in full ("…24.880Z"), the webhook trims
    // zeros ("…24.88Z"): compare the instants.
    let instant = |v: &Value| humantime::parse_rfc3339_weak(v.as_str().unwrap()).unwrap();
    assert_eq!(instant(&held["startsAt"]), instant(&alert["startsAt"]));

    // The alerts API, per tenant.
    let firing = eventually(Duration::from_secs(10), "both alerts firing", async || {
        let all = alerts(&p, "admin").await;
        (names(&all) == ["TeamAGoroutines", "TeamBAlways"]
            && all.iter().all(|a| a["state"] == "firing"))
        .then_some(all)
    })
    .await;
    assert_eq!(names(&alerts(&p, "alice").await), ["TeamAGoroutines"]);
    assert_eq!(names(&alerts(&p, "bob").await), ["TeamBAlways"]);
    assert!(alerts(&p, "nobody").await.is_empty());
    let value = firing[0]["value"].as_str().unwrap();
    assert!(value.contains("e+"), "Go's %e format: {value}");

    // The rules API: Prometheus' shape; tenants see the rules with only their alerts.
    let r = p.get(Some("admin"), "/prometheus/api/v1/rules", &[]).await;
    let group = &r.body["data"]["groups"][0];
    assert_eq!(group["name"], "periscope-test");
    assert_eq!(group["interval"], 1.0);
    let rules = group["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    assert_eq!(rules[0]["name"], "TeamAGoroutines");
    assert_eq!(rules[0]["type"], "alerting");
    assert_eq!(rules[0]["state"], "firing");
    assert_eq!(rules[0]["health"], "ok");
    assert_eq!(rules[0]["duration"], 2.0);
    assert_eq!(rules[2]["state"], "inactive");
    assert_eq!(rules[3]["type"], "recording");
    assert_eq!(rules[3]["health"], "ok");
    let alice = p.get(Some("alice"), "/prometheus/api/v1/rules", &[]).await;
    let alice_rules = alice.body["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(alice_rules[1]["name"], "TeamBAlways");
    assert_eq!(alice_rules[1]["state"], "inactive");
    assert!(alice_rules[1]["alerts"].as_array().unwrap().is_empty());
    let record = p
        .get(
            Some("admin"),
            "/prometheus/api/v1/rules",
            &[("type", "record")],
        )
        .await;
    let only = record.body["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["name"], "job:up:sum");
    let bad = p
        .get(
            Some("admin"),
            "/prometheus/api/v1/rules",
            &[("type", "bogus")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.raw);

    // The recording rule's results are written back to Prometheus.
    let prometheus_url = tokio::task::spawn_blocking(|| prometheus().url().to_string())
        .await
        .unwrap();
    let recorded = eventually(Duration::from_secs(15), "the recorded series", async || {
        let r: Value = reqwest::Client::new()
            .post(format!("{prometheus_url}/api/v1/query"))
            .form(&[("query", "job:up:sum{job=\"prometheus\"}")])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        r["data"]["result"].as_array()?.first().cloned()
    })
    .await;
    assert_eq!(recorded["value"][1], "1");

    // A restart keeps the alert's active time (and so its `for`).
    let active_at = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "TeamAGoroutines")
        .unwrap()["activeAt"]
        .clone();
    drop(p);
    assert!(std::fs::read_dir(data.join("alert-state")).unwrap().count() > 0);
    let p = periscope_with(&alerting_config(&rule_file, am.url(), &data)).await;
    let restored = eventually(
        Duration::from_secs(10),
        "the alert after restart",
        async || alerts(&p, "alice").await.into_iter().next(),
    )
    .await;
    assert_eq!(restored["activeAt"], active_at);
    assert_eq!(
        restored["state"], "firing",
        "fires at once: its `for` had passed"
    );
    assert!(token("alice").starts_with("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_rule_files_stop_startup_with_the_place_named() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("broken.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(\n",
    )
    .unwrap();
    let url = tokio::task::spawn_blocking(|| prometheus().url().to_string())
        .await
        .unwrap();
    let text = periscope_sandbox::demo_config(&url, "127.0.0.1:0", "127.0.0.1:0")
        + &alerting_config(&rules, "http://127.0.0.1:9", &dir.path().join("data"));
    let config = periscope_config::Config::from_toml(&text, "test", &Default::default()).unwrap();
    let error = periscope_api::Server::bind(config)
        .await
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(
        message.contains("broken.yaml: groups[0].rules[0].expr"),
        "{message}"
    );
}

async fn put(p: &Periscope, tenant: &str, path: &str, body: &str) -> common::Answer {
    let r = p
        .http
        .put(format!("{}{path}", p.base))
        .bearer_auth(token(tenant))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    common::answer(r).await
}

async fn delete(p: &Periscope, tenant: &str, path: &str) -> u16 {
    p.http
        .delete(format!("{}{path}", p.base))
        .bearer_auth(token(tenant))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A gRPC request as `tenant`.
/// `level/owner/name` of the tenant groups `tenant` lists.
async fn listed(p: &Periscope, tenant: &str) -> Vec<String> {
    let a = p.get(Some(tenant), "/api/v1/alerting/groups", &[]).await;
    let mut n: Vec<String> = a.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let field = |k: &str| g[k].as_str().unwrap().to_string();
            format!("{}/{}/{}", field("level"), field("owner"), field("name"))
        })
        .collect();
    n.sort();
    n
}

const GOROUTINES_GROUP: &str = r#"
interval: 1s
rules:
  - alert: AnyGoroutines
    expr: sum(go_goroutines) > 0
    labels: {severity: info}
    annotations: {summary: "{{ $value }} goroutines"}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_manage_their_own_rule_groups_confined_to_their_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "\n[alerting]\nbuiltin_rules = false\nbuiltin_event_rules = false\nbuiltin_audit_rules = false\ndata_dir = {:?}\n\n[limits]\nmin_rule_interval = \"1s\"\n",
        data.display().to_string()
    );
    let p = periscope_with(&config).await;
    let ns_a = "/api/v1/alerting/namespaces/team-a/groups/goroutines";

    // Writes are checked against the caller's scope and validated.
    assert_eq!(put(&p, "alice", ns_a, GOROUTINES_GROUP).await.status, 201);
    assert_eq!(
        put(&p, "alice", ns_a, GOROUTINES_GROUP).await.status,
        200,
        "replaced"
    );
    for (tenant, path, body, status, says) in [
        (
            "alice",
            "/api/v1/alerting/namespaces/team-b/groups/g",
            GOROUTINES_GROUP,
            403,
            "scope",
        ),
        (
            "alice",
            "/api/v1/alerting/cluster/groups/g",
            GOROUTINES_GROUP,
            403,
            "scope",
        ),
        (
            "alice",
            "/api/v1/alerting/workspaces/ws-b/groups/g",
            GOROUTINES_GROUP,
            403,
            "scope",
        ),
        (
            "nina",
            "/api/v1/alerting/workspaces/ws-a/groups/g",
            GOROUTINES_GROUP,
            403,
            "scope",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/spy",
            "rules:\n  - alert: Spy\n    expr: up{namespace=\"team-b\"}\n",
            403,
            "rule \"Spy\"",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/bad",
            "rules:\n  - alert: Bad\n    expr: sum(\n",
            400,
            "rules[0].expr",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/tmpl",
            "rules:\n  - alert: T\n    expr: up\n    annotations: {a: \"{{ nosuch }}\"}\n",
            400,
            "annotations.a",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/x",
            "name: y\nrules: []\n",
            400,
            "differs",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/bad%20name",
            GOROUTINES_GROUP,
            400,
            "invalid group name",
        ),
        (
            "alice",
            "/api/v1/alerting/namespaces/team-a/groups/notyaml",
            "rules: [",
            400,
            "YAML",
        ),
    ] {
        let a = put(&p, tenant, path, body).await;
        assert_eq!(a.status, status, "{tenant} {path}: {}", a.raw);
        let message = a.body["error"].as_str().unwrap_or(&a.raw);
        assert!(message.contains(says), "{tenant} {path}: {message}");
    }
    // bob's copy of the same rule sees only team-b, which has no goroutines.
    let ns_b = "/api/v1/alerting/namespaces/team-b/groups/goroutines";
    assert_eq!(put(&p, "bob", ns_b, GOROUTINES_GROUP).await.status, 201);
    // A workspace-level group, visible to the workspace's viewer.
    let ws_a = "/api/v1/alerting/workspaces/ws-a/groups/ws-goroutines";
    assert_eq!(
        put(
            &p,
            "alice",
            ws_a,
            &GOROUTINES_GROUP.replace("AnyGoroutines", "WorkspaceGoroutines")
        )
        .await
        .status,
        201
    );

    let firing = eventually(
        Duration::from_secs(15),
        "alice's alerts firing",
        async || {
            let a = alerts(&p, "alice").await;
            (names(&a) == ["AnyGoroutines", "WorkspaceGoroutines"]
                && a.iter().all(|x| x["state"] == "firing"))
            .then_some(a)
        },
    )
    .await;
    let namespaced = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "AnyGoroutines")
        .unwrap();
    assert_eq!(
        namespaced["labels"]["namespace"], "team-a",
        "forced on the alert"
    );
    let workspaced = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "WorkspaceGoroutines")
        .unwrap();
    assert_eq!(workspaced["labels"]["workspace"], "ws-a");
    assert!(
        alerts(&p, "bob").await.is_empty(),
        "bob sees neither alice's alerts nor data"
    );
    assert_eq!(
        names(&alerts(&p, "admin").await),
        ["AnyGoroutines", "WorkspaceGoroutines"]
    );

    // Listing: each tenant its own groups; the admin all.
    assert_eq!(
        listed(&p, "alice").await,
        [
            "namespace/team-a/goroutines",
            "workspace/ws-a/ws-goroutines"
        ]
    );
    assert_eq!(listed(&p, "bob").await, ["namespace/team-b/goroutines"]);
    assert_eq!(listed(&p, "admin").await.len(), 3);
    let rules = p.get(Some("bob"), "/prometheus/api/v1/rules", &[]).await;
    let groups: Vec<&str> = rules.body["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        ["tenant:namespace/team-b"],
        "bob sees only his group"
    );

    // The same over gRPC.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AlertingClient::new(channel);
    let grpc_alerts = client
        .list_alerts(authorized(ListAlertsRequest {}, "alice"))
        .await
        .unwrap()
        .into_inner()
        .alerts;
    let mut grpc_names: Vec<&str> = grpc_alerts
        .iter()
        .map(|a| a.labels["alertname"].as_str())
        .collect();
    grpc_names.sort();
    assert_eq!(grpc_names, ["AnyGoroutines", "WorkspaceGoroutines"]);
    assert!(grpc_alerts
        .iter()
        .all(|a| a.value > 0.0 && a.active_at > 0.0));
    let bob_alerts = client
        .list_alerts(authorized(ListAlertsRequest {}, "bob"))
        .await
        .unwrap()
        .into_inner();
    assert!(bob_alerts.alerts.is_empty());
    let bob_rules = client
        .list_rules(authorized(
            ListRulesRequest {
                r#type: String::new(),
            },
            "bob",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bob_rules.groups.len(), 1);
    assert_eq!(bob_rules.groups[0].rules[0].health, "ok");
    let bogus = client
        .list_rules(authorized(
            ListRulesRequest {
                r#type: "bogus".into(),
            },
            "bob",
        ))
        .await
        .unwrap_err();
    assert_eq!(bogus.code(), tonic::Code::InvalidArgument);

    // Reload is for admins.
    assert_eq!(p.post(Some("alice"), "/-/reload", &[]).await.status, 403);
    assert_eq!(p.post(Some("admin"), "/-/reload", &[]).await.status, 200);

    // Stored across a restart; deleting removes the group and its alerts.
    drop(p);
    let p = periscope_with(&config).await;
    assert_eq!(listed(&p, "alice").await.len(), 2);
    let text = p.get(Some("alice"), ns_a, &[]).await;
    assert!(text.raw.contains("AnyGoroutines"), "{}", text.raw);
    assert_eq!(delete(&p, "bob", ns_a).await, 403);
    assert_eq!(delete(&p, "alice", ns_a).await, 204);
    assert_eq!(delete(&p, "alice", ns_a).await, 404);
    assert_eq!(p.get(Some("alice"), ns_a, &[]).await.status, 404);
    eventually(
        Duration::from_secs(15),
        "only the workspace alert left",
        async || (names(&alerts(&p, "alice").await) == ["WorkspaceGoroutines"]).then_some(()),
    )
    .await;
}
