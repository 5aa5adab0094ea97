//! Log search over a 10-million-line data set (24 hours, 200 namespaces,
//! 1,000 pods), the embedded store against `rg` over the same lines as NDJSON,
//! in the same run:
//! - a tenant's search: one namespace and a keyword (case-insensitive), the
//!   total and the newest 10 lines — vs `rg -c -i '"namespace":"ns-7",.*timeout'`;
//! - a 24-hour histogram (1-hour buckets) of every line — vs `rg -o` of the
//!   hour of every line (the counting, done here, is not timed for rg).
//!
//! The data set is built once under `target/bench-data/` and reused. The
//! NDJSON file is read from the page cache after the first `rg` run, as the
//! store's files are. `rg` must be installed (`apt-get install ripgrep`).
//!
//! Run: `cargo bench --bench log_query`.

mod common;

use common::{data_dir, Rng};
use criterion::{criterion_group, criterion_main, Criterion};
use periscope_log_store::LogStore;
use periscope_logs::{format_time, LogRecord, LogRequest};
use periscope_model::Scope;
use periscope_store::StoreOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LINES: u64 = 10_000_000;
const NAMESPACES: u64 = 200;
const PODS_PER_NAMESPACE: u64 = 5;
/// 2026-11-25T00:00:00Z.
const START: i64 = 1_795_564_800_000_000_000;
const DAY: i64 = 86_400_000_000_000;
const CHUNK: u64 = 50_000;

/// Line `i`: time-ordered over the day; about 1 % mention a timeout.
fn record(i: u64, rng: &mut Rng) -> LogRecord {
    let ns = rng.next() % NAMESPACES;
    let pod = rng.next() % PODS_PER_NAMESPACE;
    let roll = rng.next() % 1000;
    let log = match roll {
        0..=9 => format!(
            "ERROR upstream Timeout after 30000 ms calling payments-{}",
            rng.next() % 50
        ),
        10..=99 => format!(
            "WARN slow request id={} took {} ms",
            rng.next() % 1_000_000,
            rng.next() % 5000
        ),
        _ => format!(
            "10.244.{}.{} - - \"GET /api/v1/items/{} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0\"",
            rng.next() % 8,
            rng.next() % 250,
            rng.next() % 100_000,
            rng.next() % 20_000
        ),
    };
    LogRecord {
        time: START + (i as i128 * DAY as i128 / LINES as i128) as i64,
        namespace: format!("ns-{ns}"),
        pod: format!("ns-{ns}-web-5d8f7c9b6d-p{pod:04}"),
        container: "app".into(),
        docker_id: format!("{ns:08x}{pod:08x}"),
        image: "registry.example/web:1".into(),
        log,
        fields: None,
    }
}

fn store_options(dir: &Path) -> StoreOptions {
    let mut options = StoreOptions::new(dir.join("store"));
    options.max_buffered_bytes = 2 << 30;
    options
}

/// Builds (once) the store and the NDJSON file with the same lines.
fn data_set(runtime: &tokio::runtime::Runtime) -> (LogStore, PathBuf) {
    let dir = data_dir("logs-10m");
    let ndjson = dir.join("lines.ndjson");
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = LogStore::open(store_options(&dir)).unwrap();
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&ndjson).unwrap());
        let mut rng = Rng(7);
        let started = std::time::Instant::now();
        for chunk in 0..LINES / CHUNK {
            let records: Vec<LogRecord> = (chunk * CHUNK..(chunk + 1) * CHUNK)
                .map(|i| record(i, &mut rng))
                .collect();
            for r in &records {
                // Fields in a fixed order, as a shipper writes them.
                let q = |s: &str| serde_json::to_string(s).unwrap();
                writeln!(
                    out,
                    "{{\"time\":\"{}\",\"namespace\":{},\"pod\":{},\"container\":{},\"log\":{}}}",
                    format_time(r.time),
                    q(&r.namespace),
                    q(&r.pod),
                    q(&r.container),
                    q(&r.log)
                )
                .unwrap();
            }
            runtime.block_on(store.ingest(&records)).unwrap();
            if (chunk + 1) % 20 == 0 {
                runtime.block_on(store.store().flush()).unwrap();
            }
        }
        runtime.block_on(store.store().flush()).unwrap();
        out.flush().unwrap();
        println!(
            "built the 10M-line data set in {:?}: {:?}",
            started.elapsed(),
            store.store().stats()
        );
        drop(store);
        std::fs::write(dir.join("complete"), b"").unwrap();
    }
    (LogStore::open(store_options(&dir)).unwrap(), ndjson)
}

fn request(pairs: &[(&str, &str)], scope: &Scope) -> LogRequest {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogRequest::parse(&pairs, scope, START + DAY).unwrap()
}

fn rg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("rg")
        .args(args)
        .output()
        .expect("rg is installed (apt-get install ripgrep)");
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "rg failed: {out:?}"
    );
    out.stdout
}

fn search(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, ndjson) = data_set(&runtime);
    let ndjson = ndjson.to_str().unwrap().to_string();
    let tenant = Scope::namespaces(["ns-7"]);
    let keyword = request(&[("log_query", "timeout"), ("size", "10")], &tenant);
    let histogram = request(
        &[("operation", "histogram"), ("interval", "1h")],
        &Scope::ClusterWide,
    );

    // Both sides find the same lines.
    let page = runtime.block_on(store.query(&keyword)).unwrap();
    let rg_count: u64 = String::from_utf8(rg(&[
        "-c",
        "-i",
        "\"namespace\":\"ns-7\",.*timeout",
        &ndjson,
    ]))
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert_eq!(page.total, rg_count);
    let buckets = runtime
        .block_on(store.histogram(&histogram.filter, histogram.interval))
        .unwrap();
    assert_eq!((buckets.histograms.len(), buckets.total), (24, LINES));

    let mut group = c.benchmark_group("log_query_10m");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("namespace_keyword/periscope", |b| {
        b.iter(|| runtime.block_on(store.query(&keyword)).unwrap())
    });
    group.bench_function("namespace_keyword/rg", |b| {
        b.iter(|| rg(&["-c", "-i", "\"namespace\":\"ns-7\",.*timeout", &ndjson]))
    });
    group.bench_function("histogram_24h/periscope", |b| {
        b.iter(|| {
            runtime
                .block_on(store.histogram(&histogram.filter, histogram.interval))
                .unwrap()
        })
    });
    group.bench_function("histogram_24h/rg", |b| {
        b.iter(|| rg(&["-o", "-N", "\"time\":\"2026-11-25T[0-9][0-9]", &ndjson]).len())
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
