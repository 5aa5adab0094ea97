//! Event and audit rules on the ingest path: records per second through
//! 1,000 event rules and 200 audit rules, each beside the same ingest
//! without rules, in the same run, on one core (a single-threaded runtime;
//! the write-ahead log's fsync on its blocking pool).
//!
//! One iteration is what an ingest request does: parse a body of 500
//! records (fresh ids each time, or they would be dropped as
//! re-deliveries), evaluate the rules on them, store them durably (WAL
//! fsync), then count their matches in the rules' windows.
//!
//! The rules: kube-events' 63 default rules plus 937 tenant rules (up to
//! three per namespace over 313 namespaces, the simulated cluster's among
//! them: a reason with a threshold, a message search, a pod name pattern);
//! the built-in audit pack plus 185 tenant rules (a deletion, a user's
//! patches with a threshold, anyone but system users). One tenant in ten has
//! a rule with no equality the index can file it under, checked against every
//! record of its namespace.
//!
//! Also the rules alone (evaluation and counting, on records parsed before
//! the clock starts), the steadier figure: the durable ingest's time varies
//! with the fsync.
//!
//! Run: `cargo bench --bench record_rules`.

mod common;

use common::audit_batch;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use periscope_alerting::records::{Evaluated, RecordGroupSource, RecordRules};
use periscope_alerting::{builtin_record_groups, TenantLevel};
use periscope_audit::Redaction;
use periscope_audit_store::AuditStore;
use periscope_event_store::EventStore;
use periscope_simulator::{events, Cluster, ClusterSpec};
use periscope_store::StoreOptions;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 500;
/// Replaced per batch, so every batch has new ids.
const MARK: &str = "BENCHMRK";

fn cluster() -> Cluster {
    Cluster::generate(&ClusterSpec {
        deployments_per_namespace: 8,
        ..ClusterSpec::default()
    })
}

/// NDJSON of simulated events (with BackOff and warnings among them) whose
/// uids start with [`MARK`].
fn event_template() -> String {
    let cluster = cluster();
    let origin = 1_795_687_200;
    let mut lines: Vec<Value> = Vec::new();
    let mut t = origin;
    while lines.len() < BATCH {
        lines.extend(events(&cluster, origin, t, t + 600));
        t += 600;
    }
    lines.truncate(BATCH);
    lines
        .iter_mut()
        .enumerate()
        .map(|(i, e)| {
            let uid = json!(format!("{MARK}-{i:04}"));
            match e.get_mut("Event") {
                Some(wrapped) => wrapped["metadata"]["uid"] = uid,
                None => e["metadata"]["uid"] = uid,
            }
            e.to_string() + "\n"
        })
        .collect()
}

fn tenant_group(kind: &str, ns: &str, rules: &str) -> RecordGroupSource {
    let text = format!("type: {kind}\nrules:\n{rules}");
    RecordGroupSource {
        source: format!("tenant:namespace/{ns}"),
        tenant: Some(TenantLevel::Namespace(ns.to_string())),
        group: periscope_record_rules::parse_group(&text, Some("bench")).unwrap(),
    }
}

/// kube-events' defaults and 937 tenant rules.
fn event_rules(namespaces: &[String]) -> Vec<RecordGroupSource> {
    let mut groups = builtin_record_groups(|f| f == "kube-events.yaml");
    let mut count = groups[0].group.rules.len();
    for (i, ns) in namespaces.iter().cycle().enumerate() {
        if count >= 1000 {
            break;
        }
        let take = (1000 - count).min(3);
        let rules = [
            "  - alert: Restarts\n    condition: reason = \"BackOff\" and involvedObject.kind = \"Pod\"\n    threshold: {count: 5, window: 10m}\n",
            "  - alert: Timeouts\n    condition: type = \"Warning\" and message contains \"timeout\"\n",
            "  - alert: WebPods\n    condition: involvedObject.name like \"web-*\" and count > 3\n",
        ];
        // One tenant in ten names its namespace by pattern only: no equality to index.
        let last = if i % 10 == 0 { 2 } else { 1 };
        let text: String = rules[..take.min(last + 1)].concat();
        count += take.min(last + 1);
        groups.push(tenant_group("event", ns, &text));
    }
    groups
}

/// The built-in audit pack and 185 tenant rules.
fn audit_rules(namespaces: &[String]) -> Vec<RecordGroupSource> {
    let mut groups = builtin_record_groups(|f| f == "audit.yaml");
    let mut count = groups[0].group.rules.len();
    for (i, ns) in namespaces.iter().cycle().enumerate() {
        if count >= 200 {
            break;
        }
        let text = if i % 10 == 0 {
            "  - alert: AnyoneButCI\n    condition: not ka.user.name startswith \"system:\"\n"
                .to_string()
        } else {
            format!(
                "  - alert: DeploymentDeleted\n    condition: ka.verb = \"delete\" and ka.target.resource = \"deployments\"\n  - alert: DevPatches\n    condition: ka.user.name = \"dev@{ns}\" and ka.verb = \"patch\"\n    threshold: {{count: 3, window: 1h}}\n"
            )
        };
        count += text.matches("alert:").count();
        groups.push(tenant_group("audit", ns, &text));
    }
    groups
}

fn rules_with(groups: Vec<RecordGroupSource>) -> (RecordRules, usize) {
    let rules = RecordRules::new(None, 10_000, Arc::new(|| Arc::new(BTreeMap::new())));
    let installed = rules.install(groups);
    let count = installed.iter().map(|g| g.rules.len()).sum();
    (rules, count)
}

fn options(dir: &std::path::Path) -> StoreOptions {
    let mut options = StoreOptions::new(dir);
    options.max_buffered_bytes = 4 << 30;
    options
}

/// One signal's ingest path, as the bench drives it.
trait Signal: Sized {
    type Record;
    /// `events` / `audit`.
    const NAME: &'static str;
    fn open(dir: &std::path::Path) -> Self;
    fn parse(body: &str) -> Vec<Self::Record>;
    fn evaluate(rules: &RecordRules, records: &[Self::Record]) -> Evaluated;
    /// Stores records durably; how many were stored.
    async fn ingest(&self, records: Vec<Self::Record>) -> usize;
}

impl Signal for EventStore {
    type Record = periscope_events::EventRecord;
    const NAME: &'static str = "events";
    fn open(dir: &std::path::Path) -> Self {
        EventStore::open(options(dir)).unwrap()
    }
    fn parse(body: &str) -> Vec<Self::Record> {
        periscope_events::parse_body(body, "default", 1 << 20)
            .unwrap()
            .records
    }
    fn evaluate(rules: &RecordRules, records: &[Self::Record]) -> Evaluated {
        rules.evaluate_events(records)
    }
    async fn ingest(&self, records: Vec<Self::Record>) -> usize {
        EventStore::ingest(self, records).await.unwrap().stored
    }
}

impl Signal for AuditStore {
    type Record = periscope_audit::AuditRecord;
    const NAME: &'static str = "audit";
    fn open(dir: &std::path::Path) -> Self {
        AuditStore::open(options(dir)).unwrap()
    }
    fn parse(body: &str) -> Vec<Self::Record> {
        periscope_audit::parse_body(body.as_bytes(), "default", &Redaction::default())
            .unwrap()
            .records
    }
    fn evaluate(rules: &RecordRules, records: &[Self::Record]) -> Evaluated {
        rules.evaluate_audit(records)
    }
    async fn ingest(&self, records: Vec<Self::Record>) -> usize {
        AuditStore::ingest(self, records).await.unwrap().stored
    }
}

/// Ingest without rules, with `rules`, and the rules alone, for one signal.
fn bench_signal<S: Signal>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    template: &str,
    rules: &RecordRules,
    rule_count: usize,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut sent = 0u64;
    let mut fresh = || {
        sent += 1;
        template.replace(MARK, &format!("{sent:08x}"))
    };
    println!(
        "record_rules: {rule_count} {} rules, {BATCH}-record bodies",
        S::NAME
    );
    let mut group = c.benchmark_group(format!("record_rules/{}", S::NAME));
    group.throughput(Throughput::Elements(BATCH as u64));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(15));
    for with_rules in [false, true] {
        let name = if with_rules {
            format!("ingest_with_{rule_count}_rules")
        } else {
            "ingest_without_rules_baseline".to_string()
        };
        // A store of its own, so neither variant pays for the other's data.
        let store = S::open(&dir.path().join(&name));
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let bodies: Vec<String> = (0..iterations).map(|_| fresh()).collect();
                let started = std::time::Instant::now();
                runtime.block_on(async {
                    for body in &bodies {
                        let records = S::parse(body);
                        let evaluated = with_rules.then(|| S::evaluate(rules, &records));
                        assert_eq!(store.ingest(records).await, BATCH);
                        if let Some(evaluated) = evaluated {
                            rules.commit(evaluated);
                        }
                    }
                });
                started.elapsed()
            })
        });
    }
    // The rules alone, on records parsed before the clock starts.
    group.bench_function(format!("rules_only_{rule_count}_rules"), |b| {
        b.iter_custom(|iterations| {
            let batches: Vec<_> = (0..iterations).map(|_| S::parse(&fresh())).collect();
            let started = std::time::Instant::now();
            for records in &batches {
                rules.commit(S::evaluate(rules, records));
            }
            started.elapsed()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The simulated cluster's namespaces first (their records meet their
    // tenants' rules), then tenants whose records are not in the batch.
    let mut namespaces: Vec<String> = cluster().namespaces.into_iter().map(|(ns, _)| ns).collect();
    namespaces.extend((namespaces.len()..313).map(|i| format!("tenant-{i}")));
    let (rules, n) = rules_with(event_rules(&namespaces));
    bench_signal::<EventStore>(c, &runtime, &event_template(), &rules, n);
    let (rules, n) = rules_with(audit_rules(&namespaces));
    bench_signal::<AuditStore>(c, &runtime, &audit_batch(BATCH, MARK), &rules, n);
}

criterion_group!(benches, bench);
criterion_main!(benches);
