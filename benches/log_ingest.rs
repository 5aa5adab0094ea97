//! Log ingest through Elasticsearch's `_bulk` API and Loki's push API (snappy
//! protobuf, as Grafana Alloy and Vector send it), end to end: HTTP,
//! parsing, Arrow batches, the write-ahead log with durable acknowledgements
//! (fsync, group commit) and the background flush to Parquet. Both carry the
//! same lines.
//!
//! Periscope runs on a single-threaded runtime (one core for its request
//! handling, parsing and flushing; fsyncs on its blocking pool); the client
//! sends four 5,000-line requests at a time from another thread. Baseline in
//! the same run: only parsing the same bodies (`parse_bulk`, no storage). The
//! peak resident set of the whole process is printed at the end.
//!
//! Run: `cargo bench --bench log_ingest`.

mod common;

use common::{peak_rss_mib, start_periscope_with};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use periscope_simulator::{bulk_body, log_lines, Cluster, ClusterSpec};
use std::time::Duration;

const LINES_PER_REQUEST: usize = 5_000;
const CONCURRENT_REQUESTS: usize = 4;
const TOKEN: &str = "bench-shipper-token";

/// The simulated container logs one request carries.
fn lines() -> Vec<periscope_simulator::LogLine> {
    let cluster = Cluster::generate(&ClusterSpec {
        deployments_per_namespace: 8,
        ..ClusterSpec::default()
    });
    let mut lines = Vec::new();
    let mut t = 1_795_687_200;
    while lines.len() < LINES_PER_REQUEST {
        lines.extend(log_lines(&cluster, t, t + 60));
        t += 60;
    }
    lines.truncate(LINES_PER_REQUEST);
    lines
}

/// The same lines as a Loki push: one stream per container and output
/// stream, snappy-compressed `logproto.PushRequest`.
fn loki_body(lines: &[periscope_simulator::LogLine]) -> Vec<u8> {
    use periscope_logs::loki_push::{EntryAdapter, PushRequest, StreamAdapter, Timestamp};
    let mut streams: std::collections::BTreeMap<String, Vec<EntryAdapter>> = Default::default();
    for l in lines {
        let labels = format!(
            "{{namespace=\"{}\", pod=\"{}\", container=\"{}\", stream=\"{}\"}}",
            l.namespace, l.pod, l.container, l.stream
        );
        streams.entry(labels).or_default().push(EntryAdapter {
            timestamp: Some(Timestamp {
                seconds: l.time / 1_000_000_000,
                nanos: (l.time % 1_000_000_000) as i32,
            }),
            line: l.log.clone(),
            structured_metadata: vec![],
        });
    }
    let push = PushRequest {
        streams: streams
            .into_iter()
            .map(|(labels, entries)| StreamAdapter {
                labels,
                entries,
                hash: 0,
            })
            .collect(),
    };
    snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(&push))
        .unwrap()
}

fn ingest(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // No Prometheus here to list namespaces; the check's own cost is the
    // `namespace_check` bench below.
    let base = start_periscope_with(
        dir.path(),
        TOKEN,
        "[ingest.namespace_check]\nenabled = false\n",
    );
    let lines = lines();
    let body = bulk_body(&lines);
    let loki = bytes::Bytes::from(loki_body(&lines));
    // Shared, so the client does not copy a body per request.
    let shared = bytes::Bytes::from(body.clone());
    let client_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{base}/_bulk");
    let mut group = c.benchmark_group("log_ingest");
    group.throughput(Throughput::Elements(
        (LINES_PER_REQUEST * CONCURRENT_REQUESTS) as u64,
    ));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("parse_only_baseline", |b| {
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                let bulk = periscope_logs::bulk::parse_bulk(body.as_bytes(), None, 0).unwrap();
                assert_eq!(bulk.records.len(), LINES_PER_REQUEST);
            }
        })
    });
    group.bench_function("bulk_durable", |b| {
        b.iter(|| {
            client_runtime.block_on(async {
                let requests = (0..CONCURRENT_REQUESTS).map(|_| {
                    client
                        .post(&url)
                        .basic_auth("fluent-bit", Some(TOKEN))
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
    group.bench_function("loki_push_parse_only", |b| {
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                let records = periscope_logs::loki_push::from_protobuf(&loki, 0, 64 << 20).unwrap();
                assert_eq!(records.len(), LINES_PER_REQUEST);
            }
        })
    });
    // What the check of shipped namespaces adds per request once the
    // cluster's namespaces are loaded (the durable runs above have it off).
    let records = periscope_logs::bulk::parse_bulk(body.as_bytes(), None, 0)
        .unwrap()
        .records;
    let inventory =
        periscope_tenancy::NamespaceInventory::new(periscope_tenancy::InventorySettings {
            refresh_interval: Duration::from_secs(3600),
            requery_interval: Duration::from_secs(10),
            grace: Duration::from_secs(300),
        });
    let namespaces: std::collections::HashSet<String> =
        records.iter().map(|r| r.namespace.clone()).collect();
    let check = || {
        inventory.check(
            "default",
            records.iter().map(|r| r.namespace.as_str()),
            || async { Ok(namespaces.clone()) },
        )
    };
    client_runtime.block_on(check()).unwrap();
    group.bench_function("namespace_check", |b| {
        b.iter(|| {
            for _ in 0..CONCURRENT_REQUESTS {
                let verdicts = client_runtime.block_on(check()).unwrap();
                assert!(verdicts.pending_error().is_none());
            }
        })
    });
    let loki_url = format!("{base}/loki/api/v1/push");
    group.bench_function("loki_push_protobuf_durable", |b| {
        b.iter(|| {
            client_runtime.block_on(async {
                let requests = (0..CONCURRENT_REQUESTS).map(|_| {
                    client
                        .post(&loki_url)
                        .bearer_auth(TOKEN)
                        .header("content-type", "application/x-protobuf")
                        .body(loki.clone())
                        .send()
                });
                for response in futures::future::join_all(requests).await {
                    let response = response.unwrap();
                    assert_eq!(response.status(), 204);
                }
            })
        })
    });
    group.finish();
    if let Some(mib) = peak_rss_mib() {
        println!("log_ingest: peak resident set of the process (client included): {mib} MiB");
    }
}

criterion_group!(benches, ingest);
criterion_main!(benches);
