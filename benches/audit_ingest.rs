//! The audit webhook end to end: `POST /api/v1/audit/webhook` with
//! 400-event `EventList` batches (the apiserver's default batch size) of the
//! simulated cluster's audit records, parsed, redacted, deduplicated and
//! acknowledged once in the write-ahead log (fsync, group commit), with the
//! background flush to Parquet.
//!
//! Periscope runs on a single-threaded runtime (one core for its request
//! handling, parsing and flushing; fsyncs on its blocking pool); the client
//! sends four (and sixteen) batches at a time from another thread, each with fresh audit
//! ids (a repeat would be dropped as a re-delivery). Baseline in the same run:
//! only parsing the same batches (`periscope_audit::parse_body`, no storage).
//!
//! Run: `cargo bench --bench audit_ingest`.

mod common;

use common::{audit_batch, peak_rss_mib, start_periscope};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use periscope_audit::Redaction;
use serde_json::Value;
use std::time::Duration;

const BATCH: usize = 400;
const CONCURRENT_REQUESTS: usize = 4;
const TOKEN: &str = "bench-shipper-token";
/// Replaced per request, so every batch has new audit ids.
const MARK: &str = "BENCHMRK";

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let base = start_periscope(dir.path(), TOKEN);
    let template = audit_batch(BATCH, MARK);
    println!(
        "audit_ingest: {BATCH}-event batches of {} bytes",
        template.len()
    );
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/audit/webhook");
    let mut group = c.benchmark_group("audit_ingest");
    group.throughput(Throughput::Elements((BATCH * CONCURRENT_REQUESTS) as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("parse_only_baseline", |b| {
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                let parsed = periscope_audit::parse_body(
                    template.as_bytes(),
                    "default",
                    &Redaction::default(),
                )
                .unwrap();
                assert_eq!(parsed.records.len(), BATCH);
            }
        })
    });
    let mut sent = 0u64;
    // Four batches in flight, and sixteen: the acknowledgement waits for the
    // log's fsync, which concurrent batches share.
    for in_flight in [CONCURRENT_REQUESTS, 4 * CONCURRENT_REQUESTS] {
        group.throughput(Throughput::Elements((BATCH * in_flight) as u64));
        group.bench_function(format!("webhook_durable/{in_flight}_in_flight"), |b| {
            b.iter_custom(|iterations| {
                // Fresh ids for every batch, made before the clock starts.
                let bodies: Vec<Vec<bytes::Bytes>> = (0..iterations)
                    .map(|_| {
                        (0..in_flight)
                            .map(|_| {
                                sent += 1;
                                bytes::Bytes::from(template.replace(MARK, &format!("{sent:08x}")))
                            })
                            .collect()
                    })
                    .collect();
                let started = std::time::Instant::now();
                client_runtime.block_on(async {
                    for round in bodies {
                        let requests = round
                            .into_iter()
                            .map(|body| client.post(&url).bearer_auth(TOKEN).body(body).send());
                        for response in futures::future::join_all(requests).await {
                            let response = response.unwrap();
                            assert_eq!(response.status(), 200);
                            let answer: Value = response.json().await.unwrap();
                            assert_eq!(answer["stored"], BATCH, "{answer}");
                        }
                    }
                });
                started.elapsed()
            })
        });
    }
    group.finish();
    if let Some(mib) = peak_rss_mib() {
        println!("audit_ingest: peak resident set of the process (client included): {mib} MiB");
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
