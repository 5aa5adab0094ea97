//! Event and audit search over 10-million-record data sets (24 hours, 200
//! namespaces), the embedded stores against `rg` over the same records as
//! NDJSON, in the same run.
//!
//! Events: 5 million event objects each reported twice (the second report a
//! later, higher-count update):
//! - a tenant's search: one namespace and a reason, the total (distinct event
//!   objects) and the newest 10 — vs `rg -c` of the reports naming both (rg
//!   counts reports; it does not fold updates into one event);
//! - a 24-hour histogram (1-hour buckets) of every event object — vs `rg -o`
//!   of the hour of every report (the counting, done here, is not timed).
//!
//! Audit: 10 million apiserver records (`audit.k8s.io/v1`, as the webhook
//! sends them), one per request:
//! - a tenant's search: one namespace and a verb, the total and the newest 10
//!   — vs `rg -c`;
//! - a 24-hour histogram — vs `rg -o` of the hour of every record.
//!
//! The data sets are built once under `target/bench-data/` and reused.
//! `rg` must be installed (`apt-get install ripgrep`).
//!
//! Run: `cargo bench --bench record_query`.

mod common;

use common::{data_dir, Rng};
use criterion::{criterion_group, criterion_main, Criterion};
use periscope_audit::{AuditRequest, Redaction};
use periscope_audit_store::Audit;
use periscope_event_store::Events;
use periscope_events::{parse_body, EventRequest};
use periscope_model::Scope;
use periscope_record_search::{RecordBackend, Search};
use periscope_record_store::{Signal, SignalStore};
use periscope_store::StoreOptions;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const REPORTS: u64 = 10_000_000;
const NAMESPACES: u64 = 200;
const REASONS: [&str; 12] = [
    "Scheduled",
    "Pulling",
    "Pulled",
    "Created",
    "Started",
    "Killing",
    "BackOff",
    "Unhealthy",
    "FailedScheduling",
    "FailedMount",
    "SuccessfulCreate",
    "ScalingReplicaSet",
];
/// 2026-11-25T00:00:00Z, Unix seconds.
const START: i64 = 1_795_564_800;
const DAY: i64 = 86_400;
const CHUNK: u64 = 100_000;

fn time(seconds: i64) -> String {
    periscope_logs::format_time(seconds * 1_000_000_000)
}

/// Report `i`: object `i / 2` (the second report an update), time-ordered
/// over the day.
fn report(i: u64, rng: &mut Rng) -> String {
    let object = i / 2;
    let mut seed = Rng(object.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let ns = seed.next() % NAMESPACES;
    let reason = REASONS[(seed.next() % REASONS.len() as u64) as usize];
    let pod = seed.next() % 50;
    let first = START + (object as i128 * 2 * DAY as i128 / REPORTS as i128) as i64;
    let last = first
        + if i % 2 == 1 {
            (rng.next() % 300) as i64
        } else {
            0
        };
    let kind = if reason == "ScalingReplicaSet" {
        "Deployment"
    } else {
        "Pod"
    };
    format!(
        r#"{{"metadata":{{"name":"web-{pod}.{object:x}","namespace":"ns-{ns}","uid":"ev-{object:012x}"}},"involvedObject":{{"kind":"{kind}","namespace":"ns-{ns}","name":"web-{pod}","uid":"pod-{ns}-{pod}"}},"reason":"{reason}","message":"{reason} for web-{pod} in ns-{ns}","type":"{}","count":{},"firstTimestamp":"{}","lastTimestamp":"{}","source":{{"component":"kubelet","host":"node-{}"}}}}"#,
        if matches!(
            reason,
            "BackOff" | "Unhealthy" | "FailedScheduling" | "FailedMount"
        ) {
            "Warning"
        } else {
            "Normal"
        },
        1 + i % 2,
        time(first),
        time(last),
        pod % 8
    )
}

fn store_options(dir: &Path) -> StoreOptions {
    let mut options = StoreOptions::new(dir.join("store"));
    options.max_buffered_bytes = 2 << 30;
    options
}

/// Builds (once) a store of `REPORTS` records from `line(i)` and an NDJSON
/// file with the same lines; `records` reads a chunk of lines as the
/// signal's ingest does.
fn data_set<S: Signal>(
    runtime: &tokio::runtime::Runtime,
    name: &str,
    seed: u64,
    line: fn(u64, &mut Rng) -> String,
    records: fn(&[String]) -> Vec<S::Record>,
) -> (SignalStore<S>, PathBuf) {
    let dir = data_dir(name);
    let ndjson = dir.join("records.ndjson");
    if !dir.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SignalStore::<S>::open(store_options(&dir)).unwrap();
        let mut out =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&ndjson).unwrap());
        let mut rng = Rng(seed);
        let started = std::time::Instant::now();
        for chunk in 0..REPORTS / CHUNK {
            let lines: Vec<String> = (chunk * CHUNK..(chunk + 1) * CHUNK)
                .map(|i| line(i, &mut rng))
                .collect();
            for l in &lines {
                out.write_all(l.as_bytes()).unwrap();
                out.write_all(b"\n").unwrap();
            }
            runtime.block_on(store.ingest(records(&lines))).unwrap();
            if (chunk + 1) % 10 == 0 {
                runtime.block_on(store.store().flush()).unwrap();
            }
        }
        runtime.block_on(store.store().flush()).unwrap();
        out.flush().unwrap();
        println!(
            "built the {name} data set in {:?}: {:?}",
            started.elapsed(),
            store.store().stats()
        );
        drop(store);
        std::fs::write(dir.join("complete"), b"").unwrap();
    }
    (SignalStore::<S>::open(store_options(&dir)).unwrap(), ndjson)
}

/// Event reports as kube-events' webhook sink sends them (NDJSON).
fn event_records(lines: &[String]) -> Vec<periscope_events::EventRecord> {
    let parsed = parse_body(&lines.join("\n"), "default", 1 << 20).unwrap();
    assert!(parsed.errors.is_empty());
    parsed.records
}

/// Audit records as the apiserver's webhook sends them (an `EventList`).
fn audit_records(lines: &[String]) -> Vec<periscope_audit::AuditRecord> {
    let batch = format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{}]}}"#,
        lines.join(",")
    );
    let parsed =
        periscope_audit::parse_body(batch.as_bytes(), "default", &Redaction::default()).unwrap();
    assert!(parsed.errors.is_empty());
    parsed.records
}

/// The four timed searches of one signal: its filter and histogram in
/// Periscope, and `rg` with `pattern` (counting) and `hour` (each record's hour).
#[allow(clippy::too_many_arguments)]
fn bench_group<S: Signal>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    group: &str,
    store: &SignalStore<S>,
    filtered: (&S::Filter, &Search, &str),
    histogram: (&S::Filter, &Search),
    (pattern, hour): (&str, &str),
    ndjson: &str,
) {
    let mut group = c.benchmark_group(group);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let (filter, search, name) = filtered;
    group.bench_function(format!("{name}/periscope"), |b| {
        b.iter(|| runtime.block_on(store.query(filter, search)).unwrap())
    });
    group.bench_function(format!("{name}/rg"), |b| {
        b.iter(|| rg(&["-c", pattern, ndjson]))
    });
    group.bench_function("histogram_24h/periscope", |b| {
        b.iter(|| {
            runtime
                .block_on(store.histogram(histogram.0, histogram.1))
                .unwrap()
        })
    });
    group.bench_function("histogram_24h/rg", |b| {
        b.iter(|| rg(&["-o", "-N", hour, ndjson]).len())
    });
    group.finish();
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn request(pairs: &[(&str, &str)], scope: &Scope) -> EventRequest {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    EventRequest::parse(
        &pairs,
        scope,
        &BTreeMap::new(),
        (START + DAY + 3600) * 1_000_000_000,
    )
    .unwrap()
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

const PATTERN: &str = r#""namespace":"ns-7","uid".*"reason":"BackOff""#;

fn search(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, ndjson) = data_set::<Events>(&runtime, "events-10m", 11, report, event_records);
    let ndjson = ndjson.to_str().unwrap().to_string();
    let tenant = Scope::namespaces(["ns-7"]);
    let filtered = request(&[("reason_filter", "BackOff"), ("size", "10")], &tenant);
    let histogram = request(
        &[("operation", "histogram"), ("interval", "1h")],
        &Scope::ClusterWide,
    );

    // Both sides find the same events: rg's matching reports, folded by uid.
    let page = runtime
        .block_on(store.query(&filtered.filter, &filtered.search))
        .unwrap();
    let matching = String::from_utf8(rg(&[
        "-o",
        r#""namespace":"ns-7","uid":"ev-[0-9a-f]+".*"reason":"BackOff""#,
        &ndjson,
    ]))
    .unwrap();
    let objects: BTreeSet<&str> = matching
        .lines()
        .filter_map(|l| l.split("\"uid\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(page.total, objects.len() as u64);
    let buckets = runtime
        .block_on(store.histogram(&histogram.filter, &histogram.search))
        .unwrap();
    assert_eq!(buckets.total, REPORTS / 2);

    bench_group(
        c,
        &runtime,
        "event_query_10m",
        &store,
        (&filtered.filter, &filtered.search, "namespace_reason"),
        (&histogram.filter, &histogram.search),
        (PATTERN, "\"lastTimestamp\":\"2026-11-25T[0-9][0-9]"),
        &ndjson,
    );
}

const VERBS: [&str; 7] = [
    "get", "list", "watch", "update", "patch", "create", "delete",
];

/// Audit record `i`: time-ordered over the day, mostly reads.
fn audit_record(i: u64, rng: &mut Rng) -> String {
    let ns = rng.next() % NAMESPACES;
    let verb = VERBS[match rng.next() % 100 {
        0..=49 => 0,
        50..=79 => 1,
        80..=89 => 2,
        90..=94 => 3,
        95..=97 => 4,
        98 => 5,
        _ => 6,
    }];
    let pod = rng.next() % 50;
    let at = START * 1_000_000 + (i as i128 * DAY as i128 * 1_000_000 / REPORTS as i128) as i64;
    let micro = |us: i64| periscope_logs::format_time(us * 1000);
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{:016x}-{i:x}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns-{ns}/pods/web-{pod}","verb":"{verb}","user":{{"username":"system:serviceaccount:ns-{ns}:app","groups":["system:serviceaccounts","system:authenticated"]}},"sourceIPs":["10.0.{}.{}"],"userAgent":"kube-controller-manager/v1.31.0","objectRef":{{"resource":"pods","namespace":"ns-{ns}","name":"web-{pod}","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"{}","stageTimestamp":"{}","annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed"}}}}"#,
        rng.next(),
        ns % 8,
        pod,
        micro(at),
        micro(at + 1200)
    )
}

fn audit_request(p: &[(&str, &str)], scope: &Scope) -> AuditRequest {
    AuditRequest::parse(
        &pairs(p),
        scope,
        &BTreeMap::new(),
        (START + DAY + 3600) * 1_000_000_000,
    )
    .unwrap()
}

const AUDIT_PATTERN: &str = r#""verb":"delete".*"namespace":"ns-7""#;

fn audit_search(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, ndjson) = data_set::<Audit>(&runtime, "audit-10m", 13, audit_record, audit_records);
    let ndjson = ndjson.to_str().unwrap().to_string();
    let filtered = audit_request(
        &[("verb_filter", "delete"), ("size", "10")],
        &Scope::namespaces(["ns-7"]),
    );
    let histogram = audit_request(
        &[("operation", "histogram"), ("interval", "1h")],
        &Scope::ClusterWide,
    );
    let page = runtime
        .block_on(store.query(&filtered.filter, &filtered.search))
        .unwrap();
    let rg_count: u64 = String::from_utf8(rg(&["-c", AUDIT_PATTERN, &ndjson]))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(page.total, rg_count);
    let buckets = runtime
        .block_on(store.histogram(&histogram.filter, &histogram.search))
        .unwrap();
    assert_eq!(buckets.total, REPORTS);

    bench_group(
        c,
        &runtime,
        "audit_query_10m",
        &store,
        (&filtered.filter, &filtered.search, "namespace_verb"),
        (&histogram.filter, &histogram.search),
        (
            AUDIT_PATTERN,
            "\"requestReceivedTimestamp\":\"2026-11-25T[0-9][0-9]",
        ),
        &ndjson,
    );
}

criterion_group!(benches, search, audit_search);
criterion_main!(benches);
