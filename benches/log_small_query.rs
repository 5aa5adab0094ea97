//! Small searches: a store of 35,000 lines over an hour in 6 namespaces
//! (about what the demo holds after a few minutes), asked as the KubeSphere
//! log API asks: a tenant's newest 20 lines with the total, and its keyword
//! search; the lines still in memory, or flushed to one Parquet file. What
//! is measured is the fixed cost of a query (planning, session, scanning).
//!
//! Run: `cargo bench --bench log_small_query`.

mod common;

use common::log_lines::{record, store_options, LINES, START};
use common::Rng;
use criterion::{criterion_group, criterion_main, Criterion};
use periscope_log_store::LogStore;
use periscope_logs::{LogRecord, LogRequest};
use periscope_model::Scope;
use std::time::Duration;

/// Lines of the small store: about what the demo holds after a few minutes.
const SMALL_LINES: u64 = 35_000;

/// A store of 35k lines over the last hour, flushed to Parquet (`flushed`) or
/// still in memory, with the fixed-cost queries of a small deployment.
fn small_store(runtime: &tokio::runtime::Runtime, flushed: bool) -> (tempfile::TempDir, LogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(store_options(dir.path())).unwrap();
    let mut rng = Rng(11);
    let records: Vec<LogRecord> = (0..SMALL_LINES)
        .map(|i| {
            let mut r = record(i * (LINES / SMALL_LINES), &mut rng);
            r.time = START + i as i64 * 100_000_000;
            let ns = i % 6;
            r.namespace = format!("ns-{ns}");
            r.pod = format!("ns-{ns}-web-5d8f7c9b6d-p{:04}", i % 5);
            r
        })
        .collect();
    for chunk in records.chunks(5000) {
        runtime.block_on(store.ingest(chunk)).unwrap();
    }
    if flushed {
        runtime.block_on(store.store().flush()).unwrap();
    }
    (dir, store)
}

fn small_searches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tenant = Scope::namespaces(["ns-1"]);
    let at = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogRequest::parse(&pairs, &tenant, START + 3_600_000_000_000).unwrap()
    };
    let newest = at(&[("size", "20")]);
    let keyword = at(&[("log_query", "timeout"), ("size", "20")]);
    let mut group = c.benchmark_group("log_query_35k");
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    for flushed in [false, true] {
        let (_dir, store) = small_store(&runtime, flushed);
        let page = runtime.block_on(store.query(&newest)).unwrap();
        assert_eq!((page.total, page.records.len()), (SMALL_LINES / 6 + 1, 20));
        let where_ = if flushed { "parquet" } else { "memory" };
        group.bench_function(format!("newest_20/{where_}"), |b| {
            b.iter(|| runtime.block_on(store.query(&newest)).unwrap())
        });
        group.bench_function(format!("keyword/{where_}"), |b| {
            b.iter(|| runtime.block_on(store.query(&keyword)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, small_searches);
criterion_main!(benches);
