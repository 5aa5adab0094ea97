//! Crash safety of the embedded span store: `periscope serve` is killed with
//! SIGKILL while OTLP/HTTP exporters are sending, several times; after each
//! restart every acknowledged span is there exactly once.

mod common;

use common::*;
use serde_json::json;
use std::sync::{Arc, Mutex};

const ROUNDS: usize = 4;
const WRITERS: usize = 6;
const SPANS_PER_REQUEST: usize = 200;

fn config(dir: &std::path::Path) -> String {
    format!(
        r#"
[[clusters]]
name = "default"
prometheus = {{ url = "http://127.0.0.1:9" }}
# Small memory bounds and a short interval: flushes (and so crashes during
# them) happen often.
traces = {{ embedded = {{ dir = {:?}, flush_interval = "1s", max_buffered_bytes = 1048576 }} }}

[[clusters]]
name = "east"
prometheus = {{ url = "http://127.0.0.1:9" }}

[[principals]]
name = "admin"
token_sha256 = "{}"
role = "cluster-admin"
{}"#,
        dir.join("traces").display().to_string(),
        periscope_tenancy::auth::token_sha256("admin-token"),
        logs_config(dir)
    )
}

/// The trace id of one request: its round, writer and number.
fn trace_id(round: usize, writer: usize, request: usize) -> String {
    format!("{:08x}{:08x}{:016x}", round + 1, writer + 1, request + 1)
}

/// One OTLP/JSON request: one trace of `SPANS_PER_REQUEST` spans, now.
fn request_body(trace: &str) -> String {
    let now = periscope_store::unix_now_ns() as u64;
    let spans: Vec<_> = (0..SPANS_PER_REQUEST)
        .map(|s| {
            json!({"traceId": trace, "spanId": format!("{:016x}", s + 1), "name": "work",
                   "startTimeUnixNano": (now + s as u64).to_string(),
                   "endTimeUnixNano": (now + 1_000_000 + s as u64).to_string()})
        })
        .collect();
    json!({"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "crash"}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "team-a"}}]},
        "scopeSpans": [{"spans": spans}]}]})
    .to_string()
}

/// Sends requests until one fails (the server died); records acknowledged traces.
async fn export(http: String, writer: usize, round: usize, acked: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    for request in 0.. {
        let trace = trace_id(round, writer, request);
        let sent = client
            .post(format!("http://{http}/v1/traces"))
            .header("content-type", "application/json")
            .bearer_auth(SHIPPER_TOKEN)
            .body(request_body(&trace))
            .timeout(std::time::Duration::from_secs(30))
            .send()
            .await;
        let Ok(response) = sent else { return };
        match response.status().as_u16() {
            200 => acked.lock().unwrap().push(trace),
            // Back-pressure is not an acknowledgement; try again.
            429 | 503 => continue,
            _ => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_span_survives_repeated_kills_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("periscope.toml");
    std::fs::write(&path, config(dir.path())).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let mut server = serve_child(&path);
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(export(server.http.clone(), w, round, Arc::clone(&acked))))
            .collect();
        let target = (round + 1) * 3 * WRITERS;
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
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ROUNDS * 3 * WRITERS);
    let client = reqwest::Client::new();
    // 200 traces of 200 spans a request: well under what one read returns.
    for chunk in acked.chunks(200) {
        let query: Vec<(&str, &str)> = chunk.iter().map(|t| ("traceID", t.as_str())).collect();
        let found = client
            .get(format!("http://{}/jaeger/api/traces", server.http))
            .bearer_auth("admin-token")
            .query(&query)
            .send()
            .await
            .unwrap();
        let found = answer(found).await;
        assert_eq!(found.status, 200, "{}", found.raw);
        let traces = found.body["data"].as_array().unwrap();
        assert_eq!(
            traces.len(),
            chunk.len(),
            "an acknowledged trace is missing"
        );
        for t in traces {
            let spans = t["spans"].as_array().unwrap();
            let mut ids: Vec<&str> = spans
                .iter()
                .map(|s| s["spanID"].as_str().unwrap())
                .collect();
            ids.sort();
            ids.dedup();
            assert_eq!(
                (spans.len(), ids.len()),
                (SPANS_PER_REQUEST, SPANS_PER_REQUEST),
                "trace {} is not stored exactly once",
                t["traceID"]
            );
        }
    }
}
