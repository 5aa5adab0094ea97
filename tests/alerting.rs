//! The alerting service against a real Prometheus and a real Alertmanager:
//! rules evaluated by Periscope, alerts posted to Alertmanager's v2 API and
//! delivered by it to a webhook, the Prometheus-shaped rules and alerts APIs
//! filtered per tenant, and alert state that survives a restart.

mod common;

use axum::routing::post;
use common::{periscope_with, prometheus, token, Periscope};
use periscope_sandbox::AlertmanagerProcess;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A webhook receiver recording every payload Alertmanager posts.
async fn webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::Json<Value>| {
            let store = Arc::clone(&store);
            async move {
                store.lock().unwrap().push(body.0);
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

async fn start_alertmanager(hook: &str) -> AlertmanagerProcess {
    let config = format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {hook}\n"
    );
    tokio::task::spawn_blocking(move || AlertmanagerProcess::start(&config))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot start Alertmanager: {e}"))
}

fn alerting_config(rules: &std::path::Path, alertmanager: &str, data: &std::path::Path) -> String {
    format!(
        "\n[alerting]\nbuiltin_rules = false\nrule_files = [{:?}]\nalertmanagers = [{alertmanager:?}]\nexternal_url = \"http://periscope.example:9480\"\nexternal_labels = {{ cluster = \"default\" }}\ndata_dir = {:?}\n",
        rules.display().to_string(),
        data.display().to_string()
    )
}

/// Polls `check` every 100 ms until it gives a value (at most `within`).
async fn eventually<T>(
    within: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let (hook, received) = webhook().await;
    let am = start_alertmanager(&hook).await;
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let data = dir.path().join("data");
    let p = periscope_with(&alerting_config(&rule_file, am.url(), &data)).await;

    // Alertmanager delivers what Periscope sent, in its webhook format.
    let payload = eventually(Duration::from_secs(30), "the webhook call", async || {
        received
            .lock()
            .unwrap()
            .iter()
            .find(|m| m["groupLabels"]["alertname"] == "TeamAGoroutines")
            .cloned()
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
    assert_eq!(held["startsAt"], alert["startsAt"]);

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

    // A restart keeps the alert's active time (and so its `for`).
    let active_at = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "TeamAGoroutines")
        .unwrap()["activeAt"]
        .clone();
    drop(p);
    assert!(data.join("alert-state.json").exists());
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
