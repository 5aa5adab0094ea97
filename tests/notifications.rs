//! Periscope's own notification pipeline against a real Alertmanager: the
//! same alerts, routed with the same configuration, give webhook messages
//! equal field by field; tenants' receivers get their namespaces' alerts;
//! the outbox delivers through a receiver outage and a restart, once; the
//! history tells each tenant what was sent about it.

mod common;

use common::{
    alertmanager, eventually, hook, periscope_with, prometheus, token, webhook_routing, Hook,
    Periscope,
};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

const RULES: &str = r#"
groups:
  - name: notify-test
    interval: 1s
    rules:
      - alert: TeamAGoroutines
        expr: go_goroutines{namespace="team-a"} > 0
        for: 1s
        labels: {severity: info}
        annotations:
          summary: "{{ $labels.namespace }} runs goroutines"
      - alert: TeamBAlways
        expr: vector(1)
        labels: {severity: warning, namespace: team-b}
        annotations: {summary: always}
"#;

/// Route and receiver, the same for Alertmanager and Periscope.
/// Alertmanager and Periscope routing the same alerts with the same
/// configuration, each to its own webhook.
struct SideBySide {
    from_alertmanager: Hook,
    from_periscope: Hook,
    _alertmanager: periscope_sandbox::AlertmanagerProcess,
    _periscope: Periscope,
}

async fn side_by_side(dir: &std::path::Path, rules: &str) -> SideBySide {
    let (from_alertmanager, from_periscope) = (hook().await, hook().await);
    let am = alertmanager(webhook_routing(&from_alertmanager.url)).await;
    let notifications = dir.join("notifications.yaml");
    std::fs::write(&notifications, webhook_routing(&from_periscope.url)).unwrap();
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let periscope = periscope_with(&config_with_rules(
        dir,
        Some(am.url()),
        &notifications,
        rules,
    ))
    .await;
    SideBySide {
        from_alertmanager,
        from_periscope,
        _alertmanager: am,
        _periscope: periscope,
    }
}

fn config(
    dir: &std::path::Path,
    alertmanager: Option<&str>,
    notifications: &std::path::Path,
) -> String {
    config_with_rules(dir, alertmanager, notifications, RULES)
}

fn config_with_rules(
    dir: &std::path::Path,
    alertmanager: Option<&str>,
    notifications: &std::path::Path,
    rule_text: &str,
) -> String {
    let rules = dir.join("rules.yaml");
    std::fs::write(&rules, rule_text).unwrap();
    let ams = alertmanager.map_or(String::new(), |a| format!("alertmanagers = [{a:?}]\n"));
    format!(
        "\n[alerting]\nbuiltin_rules = false\nbuiltin_event_rules = false\nbuiltin_audit_rules = false\nrule_files = [{:?}]\n{ams}external_url = \"http://periscope.example:9480\"\ndata_dir = {:?}\nnotifications = {:?}\n",
        rules.display().to_string(),
        dir.join("data").display().to_string(),
        notifications.display().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_messages_equal_alertmanagers_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let both = side_by_side(dir.path(), RULES).await;
    let (from_am, from_periscope) = (&both.from_alertmanager, &both.from_periscope);

    let (theirs, ours) = eventually(
        Duration::from_secs(30),
        "both webhook messages",
        async || {
            Some((
                from_am.message_for("TeamAGoroutines")?,
                from_periscope.message_for("TeamAGoroutines")?,
            ))
        },
    )
    .await;
    for field in [
        "version",
        "status",
        "receiver",
        "groupKey",
        "truncatedAlerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
    ] {
        assert_eq!(
            ours[field], theirs[field],
            "{field}: ours {ours}\ntheirs {theirs}"
        );
    }
    let (ours_alerts, theirs_alerts) = (
        ours["alerts"].as_array().unwrap(),
        theirs["alerts"].as_array().unwrap(),
    );
    assert_eq!(ours_alerts.len(), theirs_alerts.len());
    for (o, t) in ours_alerts.iter().zip(theirs_alerts) {
        for field in [
            "status",
            "labels",
            "annotations",
            "startsAt",
            "endsAt",
            "generatorURL",
            "fingerprint",
        ] {
            assert_eq!(o[field], t[field], "alerts[].{field}");
        }
    }
    assert_eq!(ours["externalURL"], "http://periscope.example:9480");
    assert_ne!(
        theirs["externalURL"], ours["externalURL"],
        "each names itself"
    );
}

async fn put_receiver(p: &Periscope, tenant: &str, namespace: &str, name: &str, url: &str) -> u16 {
    p.http
        .put(format!(
            "{}/api/v1/alerting/namespaces/{namespace}/receivers/{name}",
            p.base
        ))
        .bearer_auth(token(tenant))
        .body(serde_json::json!({ "url": url }).to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn history(p: &Periscope, tenant: &str) -> Value {
    let a = p
        .get(Some(tenant), "/api/v1/alerting/notifications", &[])
        .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    a.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_receivers_get_their_alerts_through_an_outage_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (ops, team_a) = (hook().await, hook().await);
    let notifications = dir.path().join("notifications.yaml");
    std::fs::write(&notifications, webhook_routing(&ops.url)).unwrap();
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let periscope_config = config(dir.path(), None, &notifications);
    let p = periscope_with(&periscope_config).await;

    // Scope checks on receivers.
    assert_eq!(
        put_receiver(&p, "alice", "team-b", "chat", &team_a.url).await,
        403
    );
    assert_eq!(
        put_receiver(&p, "alice", "team-a", "chat", "ftp://x").await,
        400
    );
    // team-a's receiver is down when its alert comes.
    team_a.status.store(503, Ordering::SeqCst);
    assert_eq!(
        put_receiver(&p, "alice", "team-a", "chat", &team_a.url).await,
        201
    );

    let retrying = eventually(Duration::from_secs(30), "a retried delivery", async || {
        let h = history(&p, "alice").await;
        h["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["result"] == "retrying" && a["owner"] == "team-a")
            .then_some(h)
    })
    .await;
    assert!(!retrying["pending"].as_array().unwrap().is_empty());
    // alice's history is about team-a only; bob's never mentions it.
    for attempt in retrying["notifications"].as_array().unwrap() {
        let namespaces = attempt["namespaces"].as_array().unwrap();
        assert!(namespaces.iter().all(|n| n == "team-a"), "{attempt}");
    }
    let bob = history(&p, "bob").await;
    assert!(bob["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n == "team-b")));
    // The operator's receiver got both alerts meanwhile.
    eventually(
        Duration::from_secs(10),
        "the operator's messages",
        async || {
            (ops.message_for("TeamAGoroutines").is_some()
                && ops.message_for("TeamBAlways").is_some())
            .then_some(())
        },
    )
    .await;

    // Periscope restarts with the notification still undelivered...
    drop(p);
    let journal = std::fs::read_to_string(dir.path().join("data/outbox/journal.jsonl")).unwrap();
    assert!(
        journal.contains("team-a/chat"),
        "the undelivered notification is on disk"
    );
    let p = periscope_with(&periscope_config).await;
    // ...and the receiver comes back: delivered, once.
    team_a.status.store(200, Ordering::SeqCst);
    let message = eventually(Duration::from_secs(30), "the delivery", async || {
        team_a.message_for("TeamAGoroutines")
    })
    .await;
    assert_eq!(message["receiver"], "team-a/chat");
    assert!(message["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["labels"]["namespace"] == "team-a"));
    eventually(
        Duration::from_secs(10),
        "delivered in the history",
        async || {
            history(&p, "alice").await["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["result"] == "delivered" && a["owner"] == "team-a")
                .then_some(())
        },
    )
    .await;
    // Give the pipeline a few flushes: nothing is sent twice (repeat_interval is 1h).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let copies = team_a
        .accepted
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["groupLabels"]["alertname"] == "TeamAGoroutines")
        .count();
    assert_eq!(copies, 1);
    assert!(
        team_a.message_for("TeamBAlways").is_none(),
        "team-b's alert never reaches team-a"
    );
}

async fn post_silence(p: &Periscope, tenant: &str, matchers: Value) -> common::Answer {
    let now = std::time::SystemTime::now();
    let iso = |t: std::time::SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let body = serde_json::json!({
        "matchers": matchers,
        "startsAt": iso(now - Duration::from_secs(60)),
        "endsAt": iso(now + Duration::from_secs(3600)),
        "createdBy": tenant,
        "comment": "test",
    });
    let r = p
        .http
        .post(format!("{}/alertmanager/api/v2/silences", p.base))
        .bearer_auth(token(tenant))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    common::answer(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_silence_only_their_namespaces() {
    let dir = tempfile::tempdir().unwrap();
    let ops = hook().await;
    let notifications = dir.path().join("notifications.yaml");
    std::fs::write(&notifications, webhook_routing(&ops.url)).unwrap();
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let p = periscope_with(&config(dir.path(), None, &notifications)).await;

    let team_a = serde_json::json!([{"name": "namespace", "value": "team-a", "isRegex": false, "isEqual": true}]);
    let created = post_silence(&p, "alice", team_a.clone()).await;
    assert_eq!(created.status, 200, "{}", created.raw);
    let id = created.body["silenceID"].as_str().unwrap().to_string();
    assert_eq!(post_silence(&p, "bob", team_a).await.status, 403);
    let everything =
        serde_json::json!([{"name": "alertname", "value": ".+", "isRegex": true, "isEqual": true}]);
    assert_eq!(post_silence(&p, "alice", everything).await.status, 403);
    let regex_ns = serde_json::json!([{"name": "namespace", "value": "team-.*", "isRegex": true, "isEqual": true}]);
    assert_eq!(post_silence(&p, "alice", regex_ns).await.status, 403);

    // team-b's alert is notified; team-a's is silenced.
    eventually(
        Duration::from_secs(30),
        "team-b's notification",
        async || ops.message_for("TeamBAlways"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(ops.message_for("TeamAGoroutines").is_none(), "silenced");

    // Only alice sees (and may expire) her silence.
    let listed = |tenant: &'static str| {
        let p = &p;
        async move {
            let a = p
                .get(Some(tenant), "/alertmanager/api/v2/silences", &[])
                .await;
            a.body.as_array().unwrap().len()
        }
    };
    assert_eq!(listed("alice").await, 1);
    assert_eq!(listed("bob").await, 0);
    let path = format!("/alertmanager/api/v2/silence/{id}");
    let got = p.get(Some("alice"), &path, &[]).await;
    assert_eq!(got.body["status"]["state"], "active");
    assert_eq!(p.get(Some("bob"), &path, &[]).await.status, 404);
    let expire = |tenant: &str| {
        p.http
            .delete(format!("{}{path}", p.base))
            .bearer_auth(token(tenant))
            .send()
    };
    assert_eq!(expire("bob").await.unwrap().status(), 404);
    assert_eq!(expire("alice").await.unwrap().status(), 200);
    assert_eq!(
        p.get(Some("alice"), &path, &[]).await.body["status"]["state"],
        "expired"
    );
    // Once expired, the alert is notified.
    eventually(
        Duration::from_secs(30),
        "team-a's notification",
        async || ops.message_for("TeamAGoroutines"),
    )
    .await;
}

/// Fires for six seconds, then is resolved for six, and so on.
const FLAPPING: &str = r#"
groups:
  - name: flapping
    interval: 1s
    rules:
      - alert: Flapping
        expr: vector(1) and on () (vector(time()) % 12 < 6)
        labels: {severity: warning, namespace: team-a}
        annotations: {summary: flaps}
"#;

fn messages(hook: &Hook) -> Vec<Value> {
    hook.accepted.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_is_notified_as_alertmanager_notifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let both = side_by_side(dir.path(), FLAPPING).await;
    let (from_am, from_periscope) = (&both.from_alertmanager, &both.from_periscope);

    // The first resolved message from each, after a firing one.
    let resolved = |hook: &Hook| {
        let all = messages(hook);
        let first_firing = all.iter().position(|m| m["status"] == "firing")?;
        all[first_firing..]
            .iter()
            .find(|m| m["status"] == "resolved")
            .cloned()
    };
    let (theirs, ours) = eventually(
        Duration::from_secs(40),
        "both resolved messages",
        async || Some((resolved(from_am)?, resolved(from_periscope)?)),
    )
    .await;
    for field in [
        "status",
        "groupKey",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    let (o, t) = (&ours["alerts"][0], &theirs["alerts"][0]);
    for field in ["status", "labels", "startsAt", "endsAt", "fingerprint"] {
        assert_eq!(
            o[field], t[field],
            "alerts[0].{field}: ours {o}\ntheirs {t}"
        );
    }
    assert_ne!(
        o["endsAt"], "0001-01-01T00:00:00Z",
        "a resolved alert carries its end"
    );
    // Each told the receiver about the occurrence once while firing, once resolved
    // (repeat_interval is 1h): the same sequence of statuses.
    let statuses = |hook: &Hook| -> Vec<String> {
        messages(hook)
            .iter()
            .map(|m| m["status"].as_str().unwrap().to_string())
            .collect()
    };
    let (ours, theirs) = (statuses(from_periscope), statuses(from_am));
    let common = ours.len().min(theirs.len());
    assert!(common >= 2, "{ours:?} {theirs:?}");
    assert_eq!(ours[..common], theirs[..common]);
}
