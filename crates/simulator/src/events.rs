//! Kubernetes events of the simulated cluster, as kube-events' exporter
//! ships them (one core/v1 Event per line with a top-level `cluster`): every
//! pod's Scheduled, Pulled, Created and Started when the simulation starts,
//! the crash-looping pod's BackOff repeating with a rising count (one event
//! object, updated) and its container's restarts, and memory pressure on
//! the saturated node. A pure function of the cluster, the simulation's
//! origin and the time window.

use crate::exposition::CRASH_LOOP_SECONDS;
use crate::topology::{Cluster, Pod};
use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Value};

/// Seconds between reports of the saturated node's memory pressure.
const PRESSURE_SECONDS: i64 = 600;

fn time(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable uid for a named object.
fn uid(name: &str) -> String {
    let h = crate::logs::name_hash(name);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xffff,
        (h >> 48) & 0xffff,
        h & 0xffff_ffff_ffff
    )
}

struct Report<'a> {
    /// Distinguishes the event objects of one involved object.
    key: &'a str,
    reason: &'a str,
    message: String,
    warning: bool,
    first: i64,
    last: i64,
    count: u64,
}

fn pod_event(pod: &Pod, container: Option<&str>, r: Report<'_>) -> Value {
    let mut involved = json!({
        "kind": "Pod", "namespace": pod.namespace, "name": pod.name,
        "uid": uid(&format!("pod/{}/{}", pod.namespace, pod.name)), "apiVersion": "v1",
    });
    if let Some(c) = container {
        involved["fieldPath"] = json!(format!("spec.containers{{{c}}}"));
    }
    event(&pod.namespace, &pod.name, involved, "kubelet", r)
}

fn event(namespace: &str, object: &str, involved: Value, component: &str, r: Report<'_>) -> Value {
    let name = format!(
        "{object}.{:x}",
        crate::logs::name_hash(&format!("{object}/{}", r.key)) >> 16
    );
    json!({
        "metadata": {
            "name": name, "namespace": namespace,
            "uid": uid(&format!("event/{namespace}/{name}")),
            "resourceVersion": (r.last % 1_000_000).to_string(),
        },
        "involvedObject": involved,
        "reason": r.reason,
        "message": r.message,
        "source": {"component": component},
        "firstTimestamp": time(r.first),
        "lastTimestamp": time(r.last),
        "count": r.count,
        "type": if r.warning { "Warning" } else { "Normal" },
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": "",
        "cluster": "default",
    })
}

/// The reports made in `[from, to)` (Unix seconds) of a simulation that
/// started at `origin`, oldest first.
pub fn events(cluster: &Cluster, origin: i64, from: i64, to: i64) -> Vec<Value> {
    let mut out: Vec<(i64, Value)> = Vec::new();
    let within = |t: i64| (from..to).contains(&t);
    for (i, pod) in cluster.pods.iter().enumerate() {
        let node = &cluster.nodes[pod.node].name;
        let start = origin + (i as i64 % 30);
        let container = pod
            .containers
            .first()
            .map(|c| c.name.as_str())
            .unwrap_or("main");
        let image = format!(
            "registry.example/{}:1.0",
            cluster.workloads[pod.workload].name
        );
        let once = |key, reason, message: String, at| Report {
            key,
            reason,
            message,
            warning: false,
            first: at,
            last: at,
            count: 1,
        };
        if within(start) {
            out.push((start, event(
                &pod.namespace,
                &pod.name,
                json!({"kind": "Pod", "namespace": pod.namespace, "name": pod.name, "uid": uid(&format!("pod/{}/{}", pod.namespace, pod.name)), "apiVersion": "v1"}),
                "default-scheduler",
                once("scheduled", "Scheduled", format!("Successfully assigned {}/{} to {node}", pod.namespace, pod.name), start),
            )));
        }
        // The container starts once, and again at every restart of a crash loop.
        let restarts = if pod.crash_looping {
            ((to - origin).max(0) as f64 / CRASH_LOOP_SECONDS).floor() as i64
        } else {
            0
        };
        for k in 0..=restarts {
            let at = start + 2 + (k as f64 * CRASH_LOOP_SECONDS) as i64;
            if !within(at) {
                continue;
            }
            let count = k as u64 + 1;
            let again = |key, reason, message: String| Report {
                key,
                reason,
                message,
                warning: false,
                first: start + 2,
                last: at,
                count,
            };
            out.push((
                at,
                pod_event(
                    pod,
                    Some(container),
                    again(
                        "pulled",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    ),
                ),
            ));
            out.push((
                at,
                pod_event(
                    pod,
                    Some(container),
                    again(
                        "created",
                        "Created",
                        format!("Created container {container}"),
                    ),
                ),
            ));
            out.push((
                at,
                pod_event(
                    pod,
                    Some(container),
                    again(
                        "started",
                        "Started",
                        format!("Started container {container}"),
                    ),
                ),
            ));
            if k > 0 {
                // Between restarts the kubelet backs off: one event object,
                // its count rising with every report.
                let backoff = at - 1;
                out.push((
                    backoff,
                    pod_event(
                        pod,
                        Some(container),
                        Report {
                            key: "backoff",
                            reason: "BackOff",
                            message: format!(
                                "Back-off restarting failed container {container} in pod {}_{}({})",
                                pod.name,
                                pod.namespace,
                                uid(&pod.name)
                            ),
                            warning: true,
                            first: start + 1 + CRASH_LOOP_SECONDS as i64,
                            last: backoff,
                            count: k as u64,
                        },
                    ),
                ));
            }
        }
    }
    for node in cluster.nodes.iter().filter(|n| n.saturated) {
        let involved = json!({"kind": "Node", "name": node.name, "uid": node.name});
        let mut k = 0;
        loop {
            let at = origin + 45 + k * PRESSURE_SECONDS;
            if at >= to {
                break;
            }
            if within(at) {
                out.push((
                    at,
                    event(
                        "default",
                        &node.name,
                        involved.clone(),
                        "kubelet",
                        Report {
                            key: "eviction",
                            reason: "EvictionThresholdMet",
                            message: "Attempting to reclaim memory".into(),
                            warning: true,
                            first: origin + 45,
                            last: at,
                            count: k as u64 + 1,
                        },
                    ),
                ));
            }
            k += 1;
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out.into_iter().map(|(_, v)| v).collect()
}

/// Ships the events of `[from, now)` to `url` (Periscope's
/// `/api/v1/events/ingest`) as NDJSON every `every`, as kube-events' webhook
/// sink does, until `stop`.
pub async fn ship(
    cluster: Cluster,
    url: String,
    token: String,
    from: i64,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    crate::ship::periodically("events", from, every, stop, |client, start, end| {
        let lines: Vec<String> = events(&cluster, from, start, end)
            .iter()
            .map(Value::to_string)
            .collect();
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(lines.join("\n"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterSpec;

    #[test]
    fn the_crash_loop_backs_off_with_a_rising_count_of_one_event_object() {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let origin = 1_795_687_200;
        let all = events(&cluster, origin, origin, origin + 3600);
        assert_eq!(all, events(&cluster, origin, origin, origin + 3600));
        // Split windows give the same reports.
        let mut split = events(&cluster, origin, origin, origin + 1000);
        split.extend(events(&cluster, origin, origin + 1000, origin + 3600));
        assert_eq!(all, split);
        let backoffs: Vec<&Value> = all.iter().filter(|e| e["reason"] == "BackOff").collect();
        assert_eq!(backoffs.len(), 11, "a restart every five minutes");
        let uids: std::collections::BTreeSet<&str> = backoffs
            .iter()
            .map(|e| e["metadata"]["uid"].as_str().unwrap())
            .collect();
        assert_eq!(uids.len(), 1, "one event object");
        let counts: Vec<u64> = backoffs
            .iter()
            .map(|e| e["count"].as_u64().unwrap())
            .collect();
        assert_eq!(counts, (1..=11).collect::<Vec<_>>());
        let started = all.iter().filter(|e| e["reason"] == "Started").count();
        assert_eq!(started, cluster.pods.len() + 11);
        assert!(all.iter().any(
            |e| e["reason"] == "EvictionThresholdMet" && e["involvedObject"]["kind"] == "Node"
        ));
        assert_eq!(
            all.iter().filter(|e| e["reason"] == "Scheduled").count(),
            cluster.pods.len()
        );
    }
}
