//! Event and audit rules end to end: records shipped to a real Periscope
//! raise alerts through a real Alertmanager and Periscope's own
//! notification pipeline (a webhook receiver stands behind each), with
//! exact labels and annotations; tenants' groups see only their namespaces'
//! records whatever their conditions say; silences and tenant receivers
//! apply as to metric alerts; the alerts are listed in the Prometheus rules
//! and alerts APIs.
//!
//! No Kubernetes runs here: events are core/v1 Events as kube-events'
//! webhook sink sends them, audit records an `audit.k8s.io/v1` `EventList`
//! as the apiserver's audit webhook sends it (k8s.io/apiserver
//! `pkg/apis/audit/v1/types.go`).

mod common;

use common::*;
use periscope_proto::v1::alerting_client::AlertingClient;
use periscope_proto::v1::{ListAlertsRequest, ListRulesRequest};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// RFC 3339 of `minutes` before now.
fn ago(minutes: u64) -> String {
    humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(minutes * 60))
        .to_string()
}

/// A crash-looping container's BackOff event object as of `count` reports.
fn backoff(namespace: &str, pod: &str, count: u64, minutes_ago: u64) -> Value {
    json!({
        "metadata": {"name": format!("{pod}.backoff"), "namespace": namespace, "uid": format!("{namespace}-{pod}-backoff")},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": format!("{pod}-uid"),
                           "apiVersion": "v1", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "message": "Back-off restarting failed container app",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(30), "lastTimestamp": ago(minutes_ago),
        "count": count, "type": "Warning", "cluster": "default"
    })
}

/// An exec into a pod over a websocket, as the apiserver audits it: verb
/// `get`, stages RequestReceived then ResponseStarted (101).
fn exec_audit(user: &str, namespace: &str, pod: &str, container: &str) -> String {
    let stage = |stage: &str, code: Option<i64>| {
        let mut item = json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("exec-{pod}"), "stage": stage,
            "requestURI": format!("/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=sh&container={container}&stdin=true&tty=true"),
            "verb": "get", "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": ["10.0.0.7"], "userAgent": "kubectl/v1.31.0",
            "objectRef": {"resource": "pods", "namespace": namespace, "name": pod, "apiVersion": "v1", "subresource": "exec"},
            "requestReceivedTimestamp": ago(1), "stageTimestamp": ago(1),
            "annotations": {"authorization.k8s.io/decision": "allow"}
        });
        if let Some(code) = code {
            item["responseStatus"] = json!({"metadata": {}, "code": code});
        }
        item
    };
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {},
           "items": [stage("RequestReceived", None), stage("ResponseStarted", Some(101))]})
    .to_string()
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| l.to_string() + "\n").collect()
}

async fn ship(p: &Periscope, path: &str, body: String) {
    let r = p
        .http
        .post(format!("{}{path}", p.base))
        .bearer_auth(SHIPPER_TOKEN)
        .body(body)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{path}: {}", a.raw);
}

async fn put(p: &Periscope, tenant: &str, path: &str, body: &str) -> Answer {
    answer(
        p.http
            .put(format!("{}{path}", p.base))
            .bearer_auth(token(tenant))
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// alice's group for team-a: three BackOff reports of one pod in 10 minutes.
/// Its condition also names team-b, which its level never reaches.
const TEAM_A_GROUP: &str = r#"
type: event
interval: 1s
rules:
  - alert: PodKeepsBackingOff
    condition: (involvedObject.namespace = "team-b" or reason = "BackOff") and involvedObject.kind = "Pod"
    threshold: {count: 3, window: 10m}
    quiet: 30m
    labels: {team: web}
    annotations:
      summary: "{{ $labels.pod }} backed off {{ $value }} times in 10 minutes"
      message: "%message (%source.host)"
"#;

fn labels_of(alert: &Value) -> Vec<(String, String)> {
    alert["labels"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every alert of every accepted message of `hook` named `alertname`.
fn alerts_named(hook: &Hook, alertname: &str) -> Vec<Value> {
    hook.accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|m| m["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_and_audit_alerts_go_through_alertmanager_receivers_and_silences() {
    let dir = tempfile::tempdir().unwrap();
    let (from_alertmanager, ops, team_a) = (hook().await, hook().await, hook().await);
    let am = alertmanager(webhook_routing(&from_alertmanager.url)).await;
    let notifications = dir.path().join("notifications.yaml");
    std::fs::write(&notifications, webhook_routing(&ops.url)).unwrap();
    let _ = tokio::task::spawn_blocking(prometheus).await;
    let config = logs_config(dir.path())
        + &format!(
            "\n[alerting]\nbuiltin_rules = false\nalertmanagers = [{:?}]\nexternal_url = \"http://periscope.example:9480\"\ndata_dir = {:?}\nnotifications = {:?}\n\n[limits]\nmin_rule_interval = \"1s\"\n",
            am.url(),
            dir.path().join("alerting").display().to_string(),
            notifications.display().to_string(),
        );
    let p = periscope_with(&config).await;

    // Tenant groups are validated on write and kept to their levels.
    let bad = put(
        &p,
        "alice",
        "/api/v1/alerting/namespaces/team-a/groups/broken",
        "type: event\nrules:\n  - alert: X\n    condition: reason = \n",
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.raw);
    assert!(
        bad.raw.contains("rules[0].condition: condition, at"),
        "{}",
        bad.raw
    );
    let foreign = put(
        &p,
        "alice",
        "/api/v1/alerting/namespaces/team-b/groups/crashes",
        TEAM_A_GROUP,
    )
    .await;
    assert_eq!(foreign.status, 403, "{}", foreign.raw);
    let created = put(
        &p,
        "alice",
        "/api/v1/alerting/namespaces/team-a/groups/crashes",
        TEAM_A_GROUP,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(created.body["type"], "event");
    let receiver = put(
        &p,
        "alice",
        "/api/v1/alerting/namespaces/team-a/receivers/chat",
        &json!({"url": team_a.url}).to_string(),
    )
    .await;
    assert_eq!(receiver.status, 201, "{}", receiver.raw);
    // alice silences the built-in ContainerBackoff for team-a.
    let now = SystemTime::now();
    let iso = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let silence = json!({
        "matchers": [
            {"name": "alertname", "value": "ContainerBackoff", "isRegex": false, "isEqual": true},
            {"name": "namespace", "value": "team-a", "isRegex": false, "isEqual": true}
        ],
        "startsAt": iso(now - Duration::from_secs(60)), "endsAt": iso(now + Duration::from_secs(3600)),
        "createdBy": "alice", "comment": "known crash loop"
    });
    let silenced = answer(
        p.http
            .post(format!("{}/alertmanager/api/v2/silences", p.base))
            .bearer_auth(token("alice"))
            .body(silence.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(silenced.status, 200, "{}", silenced.raw);

    // team-a's and team-b's pods back off; each report is one update of
    // one event object. The last report is delivered twice.
    let reports: Vec<Value> = [(4, 6), (5, 4), (6, 2), (6, 2)]
        .iter()
        .flat_map(|&(count, minutes)| {
            [
                backoff("team-a", "web-1", count, minutes),
                backoff("team-b", "api-1", count, minutes),
            ]
        })
        .collect();
    ship(&p, "/api/v1/events/ingest", ndjson(&reports)).await;
    ship(
        &p,
        "/api/v1/audit/webhook",
        exec_audit("dave", "team-c", "db-0", "db"),
    )
    .await;

    // Alertmanager gets all three kinds of alert, with exact labels.
    let (team_rule, exec) = eventually(
        Duration::from_secs(30),
        "event and audit alerts at Alertmanager",
        async || {
            let team = alerts_named(&from_alertmanager, "PodKeepsBackingOff");
            let exec = alerts_named(&from_alertmanager, "AttachOrExecPod");
            let builtin = alerts_named(&from_alertmanager, "ContainerBackoff");
            (!team.is_empty() && !exec.is_empty() && builtin.len() >= 2).then_some((team, exec))
        },
    )
    .await;
    assert!(
        team_rule
            .iter()
            .all(|a| a["labels"]["namespace"] == "team-a"),
        "alice's rule never matches team-b's records: {team_rule:?}"
    );
    assert_eq!(
        labels_of(&team_rule[0]),
        pairs(&[
            ("alertname", "PodKeepsBackingOff"),
            ("alerttype", "event"),
            ("cluster", "default"),
            ("container", "app"),
            ("namespace", "team-a"),
            ("pod", "web-1"),
            ("severity", "warning"),
            ("team", "web"),
        ])
    );
    assert_eq!(
        team_rule[0]["annotations"],
        json!({
            "summary": "web-1 backed off 3 times in 10 minutes",
            "message": "Back-off restarting failed container app (node-1)"
        })
    );
    assert_eq!(
        labels_of(&exec[0]),
        pairs(&[
            ("alertname", "AttachOrExecPod"),
            ("alerttype", "audit"),
            ("cluster", "default"),
            ("container", "db"),
            ("namespace", "team-c"),
            ("pod", "db-0"),
            ("severity", "warning"),
            ("user", "dave"),
        ])
    );
    assert_eq!(
        exec[0]["annotations"]["description"],
        "dave ran exec in pod team-c/db-0 (/api/v1/namespaces/team-c/pods/db-0/exec?command=sh&container=db&stdin=true&tty=true)."
    );

    // Periscope's pipeline: the operator's receiver gets them too, but not
    // the silenced team-a ContainerBackoff; team-a's receiver only team-a's.
    let builtin = eventually(
        Duration::from_secs(30),
        "the operator's ContainerBackoff message",
        async || {
            ops.message_for("AttachOrExecPod")?;
            ops.message_for("PodKeepsBackingOff")?;
            ops.message_for("ContainerBackoff")
        },
    )
    .await;
    let namespaces: Vec<&str> = builtin["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["team-b"], "team-a's is silenced: {builtin}");
    let tenant = eventually(
        Duration::from_secs(30),
        "team-a's receiver's message",
        async || team_a.message_for("PodKeepsBackingOff"),
    )
    .await;
    assert_eq!(tenant["alerts"][0]["labels"]["namespace"], "team-a");
    for message in team_a.accepted.lock().unwrap().iter() {
        for alert in message["alerts"].as_array().unwrap() {
            assert_eq!(alert["labels"]["namespace"], "team-a", "{message}");
        }
    }

    // The rules and alerts APIs list them, scoped as metric alerts are.
    let alerts = p.get(Some("alice"), "/prometheus/api/v1/alerts", &[]).await;
    assert_eq!(alerts.status, 200, "{}", alerts.raw);
    let listed: Vec<(String, String)> = alerts.body["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_string(),
                a["labels"]["namespace"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        listed.contains(&("PodKeepsBackingOff".into(), "team-a".into())),
        "{listed:?}"
    );
    assert!(
        listed.contains(&("ContainerBackoff".into(), "team-a".into())),
        "{listed:?}"
    );
    assert!(listed.iter().all(|(_, ns)| ns == "team-a"), "{listed:?}");
    let admin = p.get(Some("admin"), "/prometheus/api/v1/alerts", &[]).await;
    assert!(admin.raw.contains("AttachOrExecPod"), "{}", admin.raw);
    let rules = p.get(Some("alice"), "/prometheus/api/v1/rules", &[]).await;
    let groups = rules.body["data"]["groups"].as_array().unwrap();
    let crashes = groups
        .iter()
        .find(|g| g["name"] == "crashes")
        .expect("alice's group is listed");
    assert_eq!(crashes["type"], "event");
    assert_eq!(crashes["file"], "tenant:namespace/team-a");
    assert_eq!(crashes["rules"][0]["state"], "firing");
    assert_eq!(
        crashes["rules"][0]["query"],
        TEAM_A_GROUP
            .lines()
            .find(|l| l.contains("condition:"))
            .unwrap()
            .split_once(": ")
            .unwrap()
            .1
    );
    assert!(groups
        .iter()
        .any(|g| g["name"] == "kube-events-default" && g["type"] == "event"));
    assert!(groups
        .iter()
        .any(|g| g["name"] == "periscope-audit" && g["type"] == "audit"));
    let bob = p.get(Some("bob"), "/prometheus/api/v1/rules", &[]).await;
    assert!(
        !bob.raw.contains("\"crashes\""),
        "bob does not see alice's group"
    );

    // The same over gRPC.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = AlertingClient::new(channel);
    let groups = client
        .list_rules(authorized(
            ListRulesRequest {
                r#type: String::new(),
            },
            "alice",
        ))
        .await
        .unwrap()
        .into_inner()
        .groups;
    let crashes = groups.iter().find(|g| g.name == "crashes").unwrap();
    assert_eq!(
        (crashes.records.as_str(), crashes.rules[0].state.as_str()),
        ("event", "firing")
    );
    let grpc_alerts = client
        .list_alerts(authorized(ListAlertsRequest {}, "alice"))
        .await
        .unwrap()
        .into_inner()
        .alerts;
    assert!(grpc_alerts
        .iter()
        .any(|a| a.labels["alertname"] == "PodKeepsBackingOff" && a.value == 3.0));
}
