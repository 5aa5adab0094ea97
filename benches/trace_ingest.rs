//! OTLP/HTTP protobuf trace ingest, end to end: HTTP, authentication, OTLP
//! decoding, spans to Arrow batches, the write-ahead log with durable
//! acknowledgements (fsync, group commit) and the background flush to Parquet.
//!
//! Periscope runs on a single-threaded runtime (one core for its request
//! handling, decoding and flushing; fsyncs on its blocking pool); the client
//! sends four 5,000-span requests at a time from another thread. Baseline in
//! the same run: decoding the same bodies into spans only (no HTTP, no
//! storage). The peak resident set of the whole process is printed at the end.
//!
//! Run: `cargo bench --bench trace_ingest` (pin to one core with
//! `taskset -c 0 cargo bench --bench trace_ingest`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use periscope_api::Server;
use periscope_config::Config;
use periscope_simulator::{otlp_json, spans, Cluster, ClusterSpec};
use periscope_traces::otlp::{decode_json, decode_protobuf, spans as to_spans, PlaceAttributes};
use std::collections::HashMap;
use std::time::Duration;

const SPANS_PER_REQUEST: usize = 5_000;
const CONCURRENT_REQUESTS: usize = 4;
const TOKEN: &str = "bench-exporter-token";

/// An OTLP protobuf body of simulated spans, as an SDK's exporter sends it.
fn body() -> Vec<u8> {
    let cluster = Cluster::generate(&ClusterSpec::default());
    let mut all = Vec::new();
    let mut t = 1_795_687_200;
    while all.len() < SPANS_PER_REQUEST {
        all.extend(spans(&cluster, t, t + 60));
        t += 60;
    }
    all.truncate(SPANS_PER_REQUEST);
    let request = decode_json(otlp_json(&cluster, &all).as_bytes()).unwrap();
    prost::Message::encode_to_vec(&request)
}

/// Periscope on a one-thread runtime of its own thread; returns its base URL.
fn start_periscope(data_dir: &std::path::Path) -> String {
    let hash = periscope_tenancy::auth::token_sha256(TOKEN);
    let text = format!(
        "[server]\nhttp_listen = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\n\n[[clusters]]\nname = \"default\"\nprometheus = {{ url = \"http://127.0.0.1:9\" }}\n\n[storage]\ndata_dir = {:?}\n\n[[ingest.tokens]]\nname = \"bench\"\ntoken_sha256 = \"{hash}\"\n",
        data_dir.display().to_string()
    );
    let config = Config::from_toml(&text, "bench", &HashMap::new()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = Server::bind(config).await.unwrap();
            tx.send(format!("http://{}", server.http_addr())).unwrap();
            server.run(std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kib| kib / 1024)
}

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let base = start_periscope(dir.path());
    let body = body();
    println!(
        "trace_ingest: {} bytes per {SPANS_PER_REQUEST}-span request",
        body.len()
    );
    let shared = bytes::Bytes::from(body.clone());
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/traces");
    let attributes = PlaceAttributes::default();
    let mut group = c.benchmark_group("trace_ingest");
    group.throughput(Throughput::Elements(
        (SPANS_PER_REQUEST * CONCURRENT_REQUESTS) as u64,
    ));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("decode_only_baseline", |b| {
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                let decoded = to_spans(decode_protobuf(&body).unwrap(), &attributes);
                assert_eq!(decoded.spans.len(), SPANS_PER_REQUEST);
            }
        })
    });
    group.bench_function("otlp_http_protobuf_durable", |b| {
        b.iter(|| {
            client_runtime.block_on(async {
                let requests = (0..CONCURRENT_REQUESTS).map(|_| {
                    client
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/x-protobuf")
                        .body(shared.clone())
                        .send()
                });
                for response in futures::future::join_all(requests).await {
                    let response = response.unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
    });
    group.finish();
    if let Some(mib) = peak_rss_mib() {
        println!("trace_ingest: peak resident set of the process (client included): {mib} MiB");
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
