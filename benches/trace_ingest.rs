//! OTLP/HTTP protobuf trace ingest, end to end: HTTP, authentication, OTLP
//! decoding, spans to Arrow batches, the write-ahead log with durable
//! acknowledgements (fsync, group commit) and the background flush to Parquet.
//!
//! Periscope runs on a single-threaded runtime (one core for its request
//! handling, decoding and flushing; fsyncs on its blocking pool); the client
//! sends four 5,000-span requests at a time from another thread. Baselines in
//! the same run: decoding the same bodies into spans only (no HTTP, no
//! storage), and ingest with span-metrics generation switched off (the
//! generator's cost is the difference; it is also measured alone). The peak
//! resident set of the whole process is printed at the end.
//!
//! Run: `cargo bench --bench trace_ingest` (pin to one core with
//! `taskset -c 0 cargo bench --bench trace_ingest`).

mod common;

use common::{peak_rss_mib, start_periscope_with};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use periscope_simulator::{otlp_json, spans, Cluster, ClusterSpec};
use periscope_span_metrics::{SpanFactBatch, SpanMetrics, SpanMetricsOptions};
use periscope_tenancy::PeerKey;
use periscope_traces::otlp::{decode_json, decode_protobuf, spans as to_spans, PlaceAttributes};
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

fn ingest(c: &mut Criterion) {
    let (with_dir, without_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let with_metrics = start_periscope_with(with_dir.path(), TOKEN, "");
    let without_metrics = start_periscope_with(
        without_dir.path(),
        TOKEN,
        "\n[span_metrics]\nenabled = false\n",
    );
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
    let attributes = PlaceAttributes::default();
    let decoded = to_spans(decode_protobuf(&body).unwrap(), &attributes).spans;
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
    group.bench_function("span_metrics_generation_only", |b| {
        let generator = SpanMetrics::new(SpanMetricsOptions::default(), PeerKey::random());
        let mut now = 1_795_687_200_000;
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                generator.record(SpanFactBatch::of(&decoded), now);
            }
            now += 1;
        })
    });
    for (name, base) in [
        (
            "otlp_http_protobuf_durable_without_span_metrics",
            &without_metrics,
        ),
        (
            "otlp_http_protobuf_durable_with_span_metrics",
            &with_metrics,
        ),
    ] {
        let url = format!("{base}/v1/traces");
        group.bench_function(name, |b| {
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
    }
    group.finish();
    if let Some(mib) = peak_rss_mib() {
        println!("trace_ingest: peak resident set of the process (client included): {mib} MiB");
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
