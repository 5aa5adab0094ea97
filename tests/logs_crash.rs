//! Crash safety of the embedded log store: `periscope serve` is killed with
//! SIGKILL while shippers are sending, several times; after each restart every
//! acknowledged line is there exactly once (and no line twice).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const ROUNDS: usize = 4;
const WRITERS: usize = 6;
const LINES_PER_REQUEST: usize = 200;

fn config(dir: &std::path::Path) -> String {
    format!(
        r#"
[[clusters]]
name = "default"
prometheus = {{ url = "http://127.0.0.1:9" }}
# Small memory bounds and a short interval: flushes (and so crashes during
# them) happen often.
logs = {{ embedded = {{ dir = {:?}, flush_interval = "1s", max_buffered_bytes = 1048576 }} }}

[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9" }}

[[principals]]
name = "admin"
token_sha256 = "{}"
role = "cluster-admin"
{}
# No Prometheus here to list namespaces: shipped namespaces are not checked.
[ingest.namespace_check]
enabled = false
"#,
        dir.join("logs").display().to_string(),
        periscope_tenancy::auth::token_sha256("admin-token"),
        logs_config(dir)
    )
}

/// Sends requests until one fails (the server died); records what was acknowledged.
async fn ship(http: String, writer: usize, round: usize, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    for request in 0.. {
        let ids: Vec<String> = (0..LINES_PER_REQUEST)
            .map(|l| format!("r{round}-w{writer}-q{request}-l{l}"))
            .collect();
        let lines: Vec<(i64, &str, &str, &str, &str)> = ids
            .iter()
            .map(|id| (1_795_680_000, "team-a", "web-0", "web", id.as_str()))
            .collect();
        let sent = client
            .post(format!("http://{http}/_bulk"))
            .bearer_auth(SHIPPER_TOKEN)
            .body(fluent_bit_bulk(&lines))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await;
        let Ok(response) = sent else { return };
        if response.status() != 200 {
            // Back-pressure (429) is not an acknowledgement; try again.
            if response.status() == 429 {
                continue;
            }
            return;
        }
        let Ok(body) = response.json::<serde_json::Value>().await else {
            return;
        };
        assert_eq!(body["errors"], false, "{body}");
        acked.lock().unwrap().extend(ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_line_survives_repeated_kills_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("periscope.toml");
    std::fs::write(&path, config(dir.path())).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let mut server = serve_child(&path);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(ship(server.http.clone(), w, round, Arc::clone(&acked))))
            .collect();
        // Kill once this round has had some acknowledgements.
        let target = (round + 1) * 3 * LINES_PER_REQUEST * WRITERS;
        eventually(
            std::time::Duration::from_secs(60),
            "acknowledgements before the kill",
            async || (acked.lock().unwrap().len() >= target).then_some(()),
        )
        .await;
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        for w in writers {
            w.await.unwrap();
        }
    }
    let server = serve_child(&path);
    let export = reqwest::Client::new()
        .get(format!("http://{}/api/v1/logs", server.http))
        .bearer_auth("admin-token")
        .query(&[("operation", "export")])
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for line in text.lines() {
        *counts.entry(line).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "lines stored more than once: {twice:?}");
    let acked = acked.lock().unwrap();
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged lines, some missing: {missing:?}",
        acked.len()
    );
    assert!(acked.len() >= ROUNDS * 3 * LINES_PER_REQUEST * WRITERS);
}
