//! Crash safety of the audit store: `periscope serve --target audit` is
//! killed with SIGKILL while apiserver-like senders post 400-event batches,
//! several times; like the apiserver's webhook, a sender retries the batch it
//! got no answer for once the server is back. Every acknowledged record is
//! then found exactly once (per audit id and stage), retried ones included.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ROUNDS: usize = 4;
const SENDERS: usize = 4;
const BATCH: usize = 400;

fn config(dir: &std::path::Path) -> String {
    format!(
        r#"
[[clusters]]
name = "default"
prometheus = {{ url = "http://127.0.0.1:9" }}
audit = {{ embedded = {{ dir = {:?}, flush_interval = "1s", max_buffered_bytes = 1048576 }} }}

[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9" }}

[[principals]]
name = "admin"
token_sha256 = "{}"
role = "cluster-admin"
{}"#,
        dir.join("audit").display().to_string(),
        periscope_tenancy::auth::token_sha256("admin-token"),
        logs_config(dir)
    )
}

fn batch(ids: &[String]) -> String {
    let items: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": id, "stage": "ResponseComplete", "verb": "get",
                "requestURI": "/api/v1/namespaces/team-a/pods/web-1",
                "user": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "objectRef": {"resource": "pods", "namespace": "team-a", "name": "web-1", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": 200},
                "requestReceivedTimestamp": "2026-11-30T10:00:00.000001Z",
                "stageTimestamp": "2026-11-30T10:00:00.000900Z"
            })
        })
        .collect();
    json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}).to_string()
}

/// Posts batches until one goes unanswered (the server died), first retrying
/// the batch the last round left unanswered; records what was acknowledged.
async fn send(
    http: String,
    sender: usize,
    round: usize,
    pending: Arc<Mutex<BTreeMap<usize, Vec<String>>>>,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let client = reqwest::Client::new();
    let mut next = pending.lock().unwrap().remove(&sender);
    for request in 0.. {
        let ids = next.take().unwrap_or_else(|| {
            (0..BATCH)
                .map(|e| format!("r{round}-s{sender}-q{request}-e{e}"))
                .collect()
        });
        let sent = client
            .post(format!("http://{http}/api/v1/audit/webhook"))
            .bearer_auth(SHIPPER_TOKEN)
            .body(batch(&ids))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await;
        let answered = match sent {
            Ok(r) if r.status() == 200 => r.json::<Value>().await.ok(),
            Ok(r) if r.status() == 429 => {
                next = Some(ids);
                continue;
            }
            _ => None,
        };
        let Some(body) = answered else {
            pending.lock().unwrap().insert(sender, ids);
            return;
        };
        assert_eq!(body["errors"], false, "{body}");
        acked.lock().unwrap().extend(ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_audit_record_survives_repeated_kills_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("periscope.toml");
    std::fs::write(&path, config(dir.path())).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let pending = Arc::new(Mutex::new(BTreeMap::new()));
    for round in 0..ROUNDS {
        let mut server = serve_child_with(&path, &["--target", "audit"]);
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                tokio::spawn(send(
                    server.http.clone(),
                    s,
                    round,
                    Arc::clone(&pending),
                    Arc::clone(&acked),
                ))
            })
            .collect();
        let target = (round + 1) * 3 * BATCH * SENDERS;
        eventually(
            std::time::Duration::from_secs(60),
            "acknowledgements before the kill",
            async || (acked.lock().unwrap().len() >= target).then_some(()),
        )
        .await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for s in senders {
            s.await.unwrap();
        }
    }
    // The last round's unanswered batches are retried too.
    let server = serve_child_with(&path, &["--target", "audit"]);
    let unanswered: Vec<Vec<String>> = std::mem::take(&mut *pending.lock().unwrap())
        .into_values()
        .collect();
    for ids in unanswered {
        // Back-pressure (429) while the restarted store catches up: retry.
        let body = batch(&ids);
        eventually(
            std::time::Duration::from_secs(60),
            "the retried batch accepted",
            async || {
                let response = reqwest::Client::new()
                    .post(format!("http://{}/api/v1/audit/webhook", server.http))
                    .bearer_auth(SHIPPER_TOKEN)
                    .body(body.clone())
                    .send()
                    .await
                    .ok()?;
                (response.status() == 200).then_some(())
            },
        )
        .await;
        acked.lock().unwrap().extend(ids);
    }
    let export = reqwest::Client::new()
        .get(format!("http://{}/api/v1/auditing/events", server.http))
        .bearer_auth("admin-token")
        .query(&[
            ("operation", "export"),
            ("start_time", "1796000000"),
            ("end_time", "1796100000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(record["AuditID"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "records answered more than once: {twice:?}"
    );
    let acked = acked.lock().unwrap();
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged records, some missing: {missing:?}",
        acked.len()
    );
    assert!(acked.len() >= ROUNDS * 3 * BATCH * SENDERS);
}
