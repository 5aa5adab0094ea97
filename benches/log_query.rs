//! Log search over a 10-million-line data set (24 hours, 200 namespaces,
//! 1,000 pods), the embedded store against `rg` over the same lines as NDJSON,
//! in the same run:
//! - a tenant's search: one namespace and a keyword (case-insensitive), the
//!   total and the newest 10 lines — vs `rg -c -i '"namespace":"ns-7",.*timeout'`;
//! - a 24-hour histogram (1-hour buckets) of every line — vs `rg -o` of the
//!   hour of every line (the counting, done here, is not timed for rg).
//!
//! - LogQL (as the Loki API evaluates it, scoped to the tenant): the metric
//!   query `sum by (pod) (count_over_time({namespace="ns-7"} |= "ERROR" [5m]))`
//!   over the 24 hours every 5 minutes — vs `rg -c '"namespace":"ns-7",.*ERROR'`
//!   (which only counts; the bucketing is not timed for rg); and the stream
//!   query `{namespace="ns-7"} |= "Timeout"`, newest 100 lines — vs `rg` of
//!   every matching line (the newest are its last).
//!
//! The data set is built once under `target/bench-data/` and reused. The
//! NDJSON file is read from the page cache after the first `rg` run, as the
//! store's files are. `rg` must be installed (`apt-get install ripgrep`).
//!
//! Run: `cargo bench --bench log_query`.

mod common;

use common::log_lines::{record, store_options, CHUNK, DAY, LINES, START};
use common::{data_dir, Rng};
use criterion::{criterion_group, criterion_main, Criterion};
use periscope_log_store::LogStore;
use periscope_logs::{format_time, LogRecord, LogRequest};
use periscope_model::Scope;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

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

/// A runtime, the 10M-line store and its NDJSON copy, and the tenant asking.
fn setup() -> (tokio::runtime::Runtime, LogStore, String, Scope) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, ndjson) = data_set(&runtime);
    let ndjson = ndjson.to_str().unwrap().to_string();
    (runtime, store, ndjson, Scope::namespaces(["ns-7"]))
}

fn search(c: &mut Criterion) {
    let (runtime, store, ndjson, tenant) = setup();
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

/// Streams the store's lines of one selection into `push` (what the Loki
/// API does for the embedded store: in time order for log queries, in any
/// order for metric queries), until `push` says stop.
async fn read(
    store: &LogStore,
    filter: periscope_logs::LogFilter,
    order: Option<periscope_logs::SortOrder>,
    mut push: impl FnMut(periscope_logql::eval::Entry<'_>) -> bool,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let reader = async {
        match order {
            Some(order) => store.export(&filter, order, tx).await.unwrap(),
            None => store.scan_lines(&filter, tx).await.unwrap(),
        }
    };
    let consumer = async {
        let mut streams = periscope_logql::streams::LineStreams::new("default");
        'chunks: while let Some(chunk) = rx.recv().await {
            for line in &chunk {
                let (id, labels) = streams.get(line);
                let entry = periscope_logql::eval::Entry {
                    time: line.time,
                    line: &line.log,
                    stream: labels,
                    stream_id: id,
                };
                if !push(entry) {
                    break 'chunks;
                }
            }
        }
        drop(rx);
    };
    tokio::join!(reader, consumer);
}

/// A tenant's LogQL query, parsed and scoped as the Loki API does.
fn scoped(text: &str, scope: &Scope) -> periscope_logql::Expr {
    let mut expr = periscope_logql::parse(text).unwrap();
    periscope_logql::streams::canonicalize(&mut expr);
    periscope_tenancy::logql::enforce_logql(&mut expr, scope).unwrap();
    expr
}

const LIMITS: periscope_logql::eval::Limits = periscope_logql::eval::Limits { max_series: 500 };

/// `sum by (pod) (count_over_time(... [5m]))` over the day: the sum of every
/// point (the 5-minute windows tile the day, so every line counts once).
fn metric_query(runtime: &tokio::runtime::Runtime, store: &LogStore, scope: &Scope) -> u64 {
    let expr = scoped(
        r#"sum by (pod) (count_over_time({namespace="ns-7"} |= "ERROR" [5m]))"#,
        scope,
    );
    let periscope_logql::Expr::Metric(m) = &expr else {
        unreachable!("a metric query")
    };
    let mut q = periscope_logql::eval::MetricQuery::new(
        m,
        START + 300_000_000_000,
        START + DAY,
        300_000_000_000,
        LIMITS,
    );
    let visible = match scope {
        Scope::Namespaces(n) => Some(n.clone()),
        Scope::ClusterWide => None,
    };
    for (i, s) in q.selections().into_iter().enumerate() {
        let filter = periscope_logql::streams::log_filter(
            s.selector,
            s.substrings.as_deref(),
            visible.as_ref(),
            s.from,
            s.to,
        );
        runtime.block_on(read(store, filter, None, |e| q.push(i, e).is_ok()));
    }
    match q.finish().unwrap() {
        periscope_logql::eval::QueryValue::Matrix(m) => m
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1 as u64))
            .sum(),
        periscope_logql::eval::QueryValue::Scalar(_) => unreachable!("a vector query"),
    }
}

/// `{namespace="ns-7"} |= "Timeout"`, newest 100: the lines returned.
fn stream_query(runtime: &tokio::runtime::Runtime, store: &LogStore, scope: &Scope) -> usize {
    let expr = scoped(r#"{namespace="ns-7"} |= "Timeout""#, scope);
    let periscope_logql::Expr::Log(log) = &expr else {
        unreachable!("a log query")
    };
    let mut q = periscope_logql::eval::LogQuery::new(log, 100);
    let visible = match scope {
        Scope::Namespaces(n) => Some(n.clone()),
        Scope::ClusterWide => None,
    };
    let filter = periscope_logql::streams::log_filter(
        &log.selector,
        q.required_substrings().as_deref(),
        visible.as_ref(),
        START,
        START + DAY,
    );
    runtime.block_on(read(
        store,
        filter,
        Some(periscope_logs::SortOrder::Desc),
        |e| q.push(e),
    ));
    q.finish().iter().map(|s| s.entries.len()).sum()
}

fn logql(c: &mut Criterion) {
    let (runtime, store, ndjson, tenant) = setup();
    // The evaluation finds what rg finds: every ERROR line of ns-7 is in
    // exactly one pod's series, and the newest 100 Timeout lines are returned.
    let errors: u64 = String::from_utf8(rg(&["-c", "\"namespace\":\"ns-7\",.*ERROR", &ndjson]))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(errors > 100, "{errors}");
    assert_eq!(metric_query(&runtime, &store, &tenant), errors);
    assert_eq!(stream_query(&runtime, &store, &tenant), 100);

    let mut group = c.benchmark_group("logql_10m");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("metric_count_over_time_24h/periscope", |b| {
        b.iter(|| metric_query(&runtime, &store, &tenant))
    });
    group.bench_function("metric_count_over_time_24h/rg", |b| {
        b.iter(|| rg(&["-c", "\"namespace\":\"ns-7\",.*ERROR", &ndjson]))
    });
    group.bench_function("stream_filtered_newest_100/periscope", |b| {
        b.iter(|| stream_query(&runtime, &store, &tenant))
    });
    group.bench_function("stream_filtered_newest_100/rg", |b| {
        b.iter(|| rg(&["\"namespace\":\"ns-7\",.*Timeout", &ndjson]).len())
    });
    group.finish();
}

criterion_group!(benches, search, logql);
criterion_main!(benches);
