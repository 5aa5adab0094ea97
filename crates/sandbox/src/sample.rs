//! Deterministic sample data of a small Kubernetes cluster in OpenMetrics text,
//! the input of `promtool tsdb create-blocks-from openmetrics`.
//!
//! Every counter grows linearly, so rates are exact and known: the CPU counter of
//! container `k` of a namespace grows by `0.01 * (k + 1)` per second, request
//! counters by `10 * (k + 1)` (code 200) and `0.1 * (k + 1)` (code 500) per second.

use std::fmt::Write;

/// Namespaces and the workspace label kube-state-metrics would export for them.
pub const NAMESPACES: &[(&str, Option<&str>)] = &[
    ("team-a", Some("ws-a")),
    ("team-a-dev", Some("ws-a")),
    ("team-b", Some("ws-b")),
    ("team-c", Some("ws-c")),
    ("kube-system", None),
    ("monitoring", None),
];

/// Nodes of the sample cluster.
pub const NODES: &[&str] = &["node-1", "node-2", "node-3"];

/// Pods present in every namespace (the same names on purpose: joins on `pod`
/// alone must not cross namespaces).
pub const PODS: &[(&str, &[&str])] = &[
    ("api-6d4cf56db6-x7k2p", &["app", "sidecar"]),
    ("api-6d4cf56db6-q9m4d", &["app", "sidecar"]),
    ("worker-0", &["app"]),
];

/// One hour of samples every 15 s, ending at a whole minute before `now`.
#[derive(Debug, Clone, Copy)]
pub struct SampleCluster {
    /// First sample, Unix seconds.
    pub start: i64,
    /// Last sample, Unix seconds.
    pub end: i64,
    /// Seconds between samples.
    pub step: i64,
}

impl SampleCluster {
    /// The hour of data ending one to two minutes before `now_unix`.
    pub fn ending_before(now_unix: i64) -> Self {
        let end = (now_unix / 60) * 60 - 60;
        Self {
            start: end - 3600,
            end,
            step: 15,
        }
    }

    /// A time at which every series has a sample: the last one.
    pub fn eval_time(&self) -> i64 {
        self.end
    }

    /// Per-second rate of the CPU counter of the `k`-th container of a namespace.
    pub fn cpu_rate(k: usize) -> f64 {
        0.01 * (k as f64 + 1.0)
    }

    /// Node a pod runs on.
    pub fn node_of(namespace_index: usize, pod_index: usize) -> &'static str {
        NODES[(namespace_index + pod_index) % NODES.len()]
    }

    /// The whole data set in OpenMetrics text format.
    pub fn openmetrics(&self) -> String {
        let mut out = String::with_capacity(8 << 20);
        let ts: Vec<i64> = (self.start..=self.end)
            .step_by(self.step as usize)
            .collect();
        let counter = |out: &mut String, series: &str, per_second: f64| {
            for t in &ts {
                let v = per_second * (t - self.start) as f64;
                let _ = writeln!(out, "{series} {v} {t}");
            }
        };
        let gauge = |out: &mut String, series: &str, v: f64| {
            for t in &ts {
                let _ = writeln!(out, "{series} {v} {t}");
            }
        };

        for_each_container(|labels, k| {
            counter(
                &mut out,
                &format!("container_cpu_usage_seconds_total{{{labels}}}"),
                Self::cpu_rate(k),
            );
        });
        for_each_container(|labels, k| {
            gauge(
                &mut out,
                &format!("container_memory_working_set_bytes{{{labels}}}"),
                ((64 + 16 * k) << 20) as f64,
            );
        });
        for (ni, (ns, _)) in NAMESPACES.iter().enumerate() {
            for (pi, (pod, _)) in PODS.iter().enumerate() {
                let node = Self::node_of(ni, pi);
                let kind = if pod.starts_with("worker") {
                    "StatefulSet"
                } else {
                    "ReplicaSet"
                };
                gauge(&mut out, &format!("kube_pod_info{{created_by_kind=\"{kind}\",job=\"kube-state-metrics\",namespace=\"{ns}\",node=\"{node}\",pod=\"{pod}\"}}"), 1.0);
            }
        }
        for (ns, _) in NAMESPACES {
            for (pi, (pod, _)) in PODS.iter().enumerate() {
                let restarts = if *ns == "team-b" && pi == 2 { 7.0 } else { 0.0 };
                gauge(&mut out, &format!("kube_pod_container_status_restarts_total{{container=\"app\",job=\"kube-state-metrics\",namespace=\"{ns}\",pod=\"{pod}\"}}"), restarts);
            }
        }
        for (ns, _) in NAMESPACES {
            for (k, (pod, _)) in PODS.iter().enumerate() {
                let scale = k as f64 + 1.0;
                for (code, rate) in [("200", 10.0 * scale), ("500", 0.1 * scale)] {
                    counter(&mut out, &format!("http_requests_total{{code=\"{code}\",job=\"app\",namespace=\"{ns}\",pod=\"{pod}\"}}"), rate);
                }
            }
        }
        for (ns, _) in NAMESPACES {
            for (k, (pod, _)) in PODS.iter().enumerate() {
                let scale = k as f64 + 1.0;
                for (le, share) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
                    counter(&mut out, &format!("http_request_duration_seconds_bucket{{job=\"app\",le=\"{le}\",namespace=\"{ns}\",pod=\"{pod}\"}}"), 10.0 * scale * share);
                }
            }
        }
        for (ns, _) in NAMESPACES {
            for (pod, _) in PODS {
                gauge(
                    &mut out,
                    &format!("up{{job=\"app\",namespace=\"{ns}\",pod=\"{pod}\"}}"),
                    1.0,
                );
            }
        }
        for (ns, ws) in NAMESPACES {
            let label = ws
                .map(|w| format!(",label_kubesphere_io_workspace=\"{w}\""))
                .unwrap_or_default();
            gauge(
                &mut out,
                &format!(
                    "kube_namespace_labels{{job=\"kube-state-metrics\"{label},namespace=\"{ns}\"}}"
                ),
                1.0,
            );
        }
        for (i, node) in NODES.iter().enumerate() {
            for (mode, rate) in [
                ("idle", 0.7 - 0.2 * i as f64),
                ("user", 0.3 + 0.2 * i as f64),
            ] {
                counter(&mut out, &format!("node_cpu_seconds_total{{cpu=\"0\",instance=\"{node}\",job=\"node-exporter\",mode=\"{mode}\"}}"), rate);
            }
        }
        for node in NODES {
            gauge(
                &mut out,
                &format!("kube_node_info{{job=\"kube-state-metrics\",node=\"{node}\"}}"),
                1.0,
            );
        }
        for (i, node) in NODES.iter().enumerate() {
            gauge(&mut out, &format!("kube_node_labels{{job=\"kube-state-metrics\",label_topology_kubernetes_io_zone=\"zone-{i}\",node=\"{node}\"}}"), 1.0);
        }
        for (ns, rate) in [("team-a", 3.0), ("team-b", 5.0)] {
            counter(&mut out, &format!("nginx_ingress_controller_requests{{exported_namespace=\"{ns}\",ingress=\"web\",job=\"ingress-nginx\",namespace=\"ingress-nginx\"}}"), rate);
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Calls `f` with the cAdvisor labels of every container and its index `k`
/// within its namespace.
fn for_each_container(mut f: impl FnMut(&str, usize)) {
    for (ni, (ns, _)) in NAMESPACES.iter().enumerate() {
        let mut k = 0usize;
        for (pi, (pod, containers)) in PODS.iter().enumerate() {
            let node = SampleCluster::node_of(ni, pi);
            for c in containers.iter() {
                f(&format!("container=\"{c}\",job=\"kubelet\",namespace=\"{ns}\",node=\"{node}\",pod=\"{pod}\""), k);
                k += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_deterministic_and_well_formed() {
        let s = SampleCluster::ending_before(1_700_000_123);
        assert_eq!(s.end, 1_700_000_040);
        assert_eq!(s.end - s.start, 3600);
        let text = s.openmetrics();
        assert_eq!(text, s.openmetrics());
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains(&format!(
            "kube_node_info{{job=\"kube-state-metrics\",node=\"node-1\"}} 1 {}",
            s.end
        )));
    }
}
