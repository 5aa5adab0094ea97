//! The simulator: deterministic topology, well-formed expositions (checked by
//! the real `promtool check metrics`), counters that only grow, values computable
//! by hand, and the HTTP server.

use periscope_simulator::{render, Cluster, ClusterSpec, Exporter, WorkloadKind};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

const START: f64 = 1_800_000_000.0;

/// `series → value` of an exposition.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("numeric value"))
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_cluster_and_values() {
    let spec = ClusterSpec::default();
    let a = Cluster::generate(&spec);
    assert_eq!(a, Cluster::generate(&spec));
    for e in Exporter::ALL {
        assert_eq!(
            render(&a, e, START, START + 90.0),
            render(&Cluster::generate(&spec), e, START, START + 90.0)
        );
    }
    let other = Cluster::generate(&ClusterSpec {
        seed: 7,
        ..ClusterSpec::default()
    });
    assert_ne!(a, other);
}

#[test]
fn the_cluster_has_the_promised_shape() {
    let spec = ClusterSpec {
        nodes: 5,
        ..ClusterSpec::default()
    };
    let c = Cluster::generate(&spec);
    assert_eq!(c.nodes.len(), 5);
    assert_eq!(c.nodes.iter().filter(|n| n.saturated).count(), 1);
    let crashing: Vec<_> = c.pods.iter().filter(|p| p.crash_looping).collect();
    assert_eq!(crashing.len(), 1);
    assert!(["team-a", "team-a-dev", "team-b"].contains(&crashing[0].namespace.as_str()));
    for (i, wl) in c.workloads.iter().enumerate() {
        let pods: Vec<_> = c.pods.iter().filter(|p| p.workload == i).collect();
        assert_eq!(pods.len(), wl.replicas as usize, "{}", wl.name);
        match wl.kind {
            WorkloadKind::Deployment => {
                let rs = wl.replicaset.as_ref().unwrap();
                assert_eq!(rs.len(), wl.name.len() + 11, "{rs}");
                assert!(
                    pods.iter()
                        .all(|p| p.name.starts_with(&format!("{rs}-"))
                            && p.name.len() == rs.len() + 6)
                );
            }
            WorkloadKind::StatefulSet => assert!(pods
                .iter()
                .enumerate()
                .all(|(r, p)| p.name == format!("{}-{r}", wl.name))),
            WorkloadKind::DaemonSet => {
                let mut nodes: Vec<usize> = pods.iter().map(|p| p.node).collect();
                nodes.sort();
                assert_eq!(
                    nodes,
                    (0..5).collect::<Vec<_>>(),
                    "one {} pod per node",
                    wl.name
                );
            }
        }
    }
    let namespaces: Vec<&str> = c.namespaces.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        namespaces,
        [
            "team-a",
            "team-a-dev",
            "team-b",
            "kube-system",
            "monitoring"
        ]
    );
}

#[test]
fn counters_only_grow_and_rates_are_known() {
    let c = Cluster::generate(&ClusterSpec::default());
    for e in Exporter::ALL {
        let before = samples(&render(&c, e, START, START + 100.0));
        let after = samples(&render(&c, e, START, START + 700.0));
        assert_eq!(before.len(), after.len());
        for (series, value) in &before {
            if series.contains("_total{") {
                assert!(
                    after[series] >= *value,
                    "{series} went from {value} to {}",
                    after[series]
                );
            }
        }
    }
    // Over one whole period of the load swing a container uses exactly its average.
    let pod = &c.pods[0];
    let container = &pod.containers[0];
    let text = render(&c, Exporter::Cadvisor, START, START + 600.0);
    let series = format!(
        "container_cpu_usage_seconds_total{{container=\"{}\",namespace=\"{}\",node=\"{}\",pod=\"{}\"}}",
        container.name, pod.namespace, c.nodes[pod.node].name, pod.name
    );
    let used = samples(&text)[&series];
    assert!(
        (used - container.cpu_cores * 600.0).abs() < 1e-6,
        "{used} vs {}",
        container.cpu_cores * 600.0
    );
    // The crash-looping container has restarted 3 times before, then once per 5 minutes.
    let crashing = c.pods.iter().find(|p| p.crash_looping).unwrap();
    let restarts = samples(&render(
        &c,
        Exporter::KubeStateMetrics,
        START,
        START + 1000.0,
    ));
    let key = format!(
        "kube_pod_container_status_restarts_total{{container=\"{}\",namespace=\"{}\",pod=\"{}\"}}",
        crashing.containers[0].name, crashing.namespace, crashing.name
    );
    assert_eq!(restarts[&key], 6.0);
}

#[test]
fn promtool_accepts_every_exposition() {
    let c = Cluster::generate(&ClusterSpec::default());
    let promtool = std::env::var("PERISCOPE_PROMTOOL_BIN").unwrap_or_else(|_| "promtool".into());
    for e in Exporter::ALL {
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("running {promtool}: {err}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(render(&c, e, START, START + 60.0).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // The real node-exporter names its memory metrics in camelCase
        // (node_memory_MemTotal_bytes), which promtool's linter flags; those
        // names are kept on purpose. Anything else, parse errors included, fails.
        let unexpected: Vec<&str> = report
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter(|l| {
                !(l.starts_with("node_memory_")
                    && l.ends_with(
                        "metric names should be written in 'snake_case' not 'camelCase'",
                    ))
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "{}: {}",
            e.name(),
            unexpected.join("\n")
        );
        assert!(
            out.status.success() || report.contains("camelCase"),
            "{}: {report}",
            e.name()
        );
    }
}

#[tokio::test]
async fn the_server_exposes_every_exporter() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(periscope_simulator::serve(
        listener,
        Cluster::generate(&ClusterSpec::default()),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    for e in Exporter::ALL {
        let r = reqwest::get(format!("http://{addr}/metrics/{}", e.name()))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let text = r.text().await.unwrap();
        assert!(samples(&text).len() > 20, "{}", e.name());
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
