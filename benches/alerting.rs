//! The alerting service's own costs, Prometheus excluded (rule queries are
//! answered by a function returning canned samples):
//! - one evaluation cycle of 10,000 alerting rules in 100 groups (three
//!   alerts per rule, templated labels and annotations), with alert state
//!   persisted to a data directory and without;
//! - the notification pipeline: 1,000 alerts through routing, grouping,
//!   dedup and the outbox, durable (fsync per notification) and in memory.
//!
//! Run: `cargo bench --bench alerting`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use periscope_alerting::notify::{Dispatcher, NotificationConfig, Outbox, Silences};
use periscope_alerting::{parse_rule_file, Engine, EngineConfig, Labels, Notification, QueryFn};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

const GROUPS: usize = 100;
const RULES_PER_GROUP: usize = 100;

fn rule_file() -> String {
    let mut out = String::from("groups:\n");
    for g in 0..GROUPS {
        let _ = write!(out, "  - name: group-{g}\n    interval: 30s\n    rules:\n");
        for r in 0..RULES_PER_GROUP {
            let _ = write!(
                out,
                "      - alert: Alert{g}x{r}\n        expr: rule_{g}_{r} > 0\n        for: 1m\n        labels: {{severity: warning}}\n        annotations:\n          summary: \"{{{{ $labels.instance }}}} in {{{{ $labels.namespace }}}} is high\"\n          description: \"{{{{ $value | humanizePercentage }}}} of {{{{ $labels.pod }}}}\"\n"
            );
        }
    }
    out
}

/// Three series per rule, answered at once.
fn canned_query() -> QueryFn {
    Arc::new(|_query, _at, _tenant| {
        Box::pin(async {
            Ok((0..3)
                .map(|i| {
                    let labels = Labels::from([
                        ("instance".to_string(), format!("node-{i}:9100")),
                        ("namespace".to_string(), "team-a".to_string()),
                        ("pod".to_string(), format!("api-{i}")),
                    ]);
                    (labels, 0.5 + i as f64 / 10.0)
                })
                .collect())
        })
    })
}

fn engine(data_dir: Option<std::path::PathBuf>) -> Engine {
    let groups = parse_rule_file("bench.yaml", &rule_file()).unwrap();
    let config = EngineConfig {
        resend_delay: Duration::from_secs(60),
        external_url: "http://periscope".into(),
        external_labels: Labels::new(),
        alertmanagers: vec![],
        data_dir,
        dispatcher: None,
        remote_write: None,
    };
    Engine::new(groups, config, canned_query()).unwrap()
}

fn evaluation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("rule_evaluation_cycle_10k_rules_100_groups");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, data_dir) in [
        ("in_memory", None),
        ("persisted", Some(dir.path().to_path_buf())),
    ] {
        let e = engine(data_dir);
        let mut ts = 1_700_000_000_000_i64;
        // Past `for`: every alert is firing in the measured cycles.
        for _ in 0..4 {
            rt.block_on(async {
                for g in 0..GROUPS {
                    e.evaluate_group(g, ts).await;
                }
            });
            ts += 30_000;
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    for g in 0..GROUPS {
                        e.evaluate_group(g, ts).await;
                    }
                });
                ts += 30_000;
            })
        });
    }
    group.finish();
}

const ROUTING: &str = r#"
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: ops
    webhook_configs: [{url: "http://127.0.0.1:9/ops"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:9/pager"}]
"#;

/// 1,000 firing alerts in 50 groups (by alertname).
fn alerts(round: i64) -> Vec<Notification> {
    (0..1000)
        .map(|i| Notification {
            labels: Labels::from([
                ("alertname".to_string(), format!("Alert{}", i % 50)),
                ("instance".to_string(), format!("node-{i}-{round}")),
                (
                    "severity".to_string(),
                    if i % 10 == 0 { "critical" } else { "warning" }.to_string(),
                ),
            ]),
            annotations: BTreeMap::from([("summary".to_string(), "high".to_string())]),
            starts_at: 1_700_000_000_000,
            ends_at: 1_700_000_000_000 + 3_600_000,
            generator_url: String::new(),
        })
        .collect()
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("notification_pipeline_1000_alerts");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for durable in [false, true] {
        let name = if durable {
            "durable_outbox"
        } else {
            "in_memory_outbox"
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                // A fresh pipeline (and data directory) per iteration.
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let data_dir = durable.then(|| dir.path().to_path_buf());
                    let outbox = Arc::new(Outbox::open(data_dir.as_deref()).unwrap());
                    let dispatcher = Dispatcher::new(
                        Some(NotificationConfig::parse(ROUTING).unwrap()),
                        Arc::new(Silences::open(None).unwrap()),
                        Arc::clone(&outbox),
                        "http://periscope".into(),
                        data_dir,
                    )
                    .unwrap();
                    (dir, outbox, dispatcher, alerts(0))
                },
                |(_dir, outbox, dispatcher, alerts)| {
                    let now = 1_700_000_000_000;
                    dispatcher.ingest(&alerts, now);
                    dispatcher.tick(now);
                    assert_eq!(outbox.pending().len(), 50, "45 groups to ops, 5 paged");
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, evaluation, pipeline);
criterion_main!(benches);
