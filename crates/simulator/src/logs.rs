//! Container logs of the simulated cluster, as Fluent Bit would ship them:
//! access logs from web-facing Deployments, JSON logs from workers, database
//! chatter from StatefulSets, occasional errors with stack traces, and the
//! crash-looping pod's fatal errors at every restart. Deterministic: the
//! lines of a container in a second depend only on the seed and that second.

use crate::exposition::CRASH_LOOP_SECONDS;
use crate::random::SplitMix64;
use crate::topology::{Cluster, Pod, WorkloadKind};
use chrono::{DateTime, SecondsFormat, Utc};

/// One simulated log line with its pod metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Unix nanoseconds.
    pub time: i64,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub docker_id: String,
    pub image: String,
    pub stream: &'static str,
    pub log: String,
    /// The trace of the failed request an error line reports.
    pub trace_id: Option<String>,
}

/// What a container logs like.
#[derive(Clone, Copy)]
enum Style {
    Access,
    Json,
    Database,
    System,
}

fn style(cluster: &Cluster, pod: &Pod) -> (Style, f64) {
    let workload = &cluster.workloads[pod.workload];
    match (workload.kind, workload.name.as_str()) {
        (WorkloadKind::StatefulSet, _) => (Style::Database, 0.05),
        (WorkloadKind::DaemonSet, _) => (Style::System, 0.05),
        (_, "web" | "frontend" | "gateway" | "api") => (Style::Access, 0.5),
        (_, "worker" | "billing" | "search" | "auth") => (Style::Json, 0.2),
        _ => (Style::System, 0.05),
    }
}

const PATHS: &[&str] = &[
    "/",
    "/api/v1/items",
    "/api/v1/cart",
    "/healthz",
    "/login",
    "/static/app.js",
    "/api/v1/orders/42",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64)",
    "curl/8.5.0",
    "kube-probe/1.30",
    "Go-http-client/1.1",
];
const STACK: &str = "java.lang.IllegalStateException: connection pool exhausted\n\tat com.example.db.Pool.acquire(Pool.java:118)\n\tat com.example.orders.OrderService.load(OrderService.java:57)\n\tat com.example.orders.OrderController.get(OrderController.java:31)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)";

/// The lines of every container with times in `[from, to)` (Unix seconds),
/// sorted by time.
pub fn log_lines(cluster: &Cluster, from: i64, to: i64) -> Vec<LogLine> {
    let mut lines = Vec::new();
    for pod in &cluster.pods {
        let (style, rate) = style(cluster, pod);
        for (c, container) in pod.containers.iter().enumerate() {
            let docker_id = docker_id(&pod.name, &container.name);
            let image = format!(
                "registry.example/{}:1.{}",
                cluster.workloads[pod.workload].name, c
            );
            let seed = name_hash(&format!(
                "{}/{}/{}",
                pod.namespace, pod.name, container.name
            ));
            for second in from..to {
                let mut rng =
                    SplitMix64::new(seed ^ (second as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let at = |rng: &mut SplitMix64| second * 1_000_000_000 + (rng.unit() * 1e9) as i64;
                let mut push = |time: i64, stream: &'static str, log: String| {
                    lines.push(LogLine {
                        time,
                        namespace: pod.namespace.clone(),
                        pod: pod.name.clone(),
                        container: container.name.clone(),
                        docker_id: docker_id.clone(),
                        image: image.clone(),
                        stream,
                        log,
                        trace_id: None,
                    })
                };
                if pod.crash_looping && c == 0 {
                    // Starts, fails to reach its database, exits; restarted every few minutes.
                    match second.rem_euclid(CRASH_LOOP_SECONDS as i64) {
                        0 => push(at(&mut rng), "stdout", "starting server on :8080".into()),
                        1 => push(at(&mut rng), "stderr", "ERROR cannot connect to db:5432: connection refused; retrying".into()),
                        2 => push(
                            at(&mut rng),
                            "stderr",
                            "panic: FATAL database unreachable after 3 attempts\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:42 +0x1d4".into(),
                        ),
                        _ => {}
                    }
                    continue;
                }
                if rng.unit() >= rate {
                    continue;
                }
                let time = at(&mut rng);
                let roll = rng.unit();
                let (stream, log) = match style {
                    Style::Access => {
                        let status = if roll < 0.02 {
                            500
                        } else if roll < 0.06 {
                            404
                        } else {
                            200
                        };
                        let path = PATHS[rng.below(PATHS.len() as u64) as usize];
                        let agent = AGENTS[rng.below(AGENTS.len() as u64) as usize];
                        let ip = format!("10.244.{}.{}", rng.below(8), 2 + rng.below(250));
                        let when = format_clf(time);
                        let bytes = 200 + rng.below(20_000);
                        ("stdout", format!("{ip} - - [{when}] \"GET {path} HTTP/1.1\" {status} {bytes} \"-\" \"{agent}\""))
                    }
                    Style::Json => {
                        let (level, msg) = if roll < 0.03 {
                            (
                                "error",
                                format!("job failed: {}", STACK.lines().next().unwrap_or_default()),
                            )
                        } else if roll < 0.1 {
                            ("warn", "retrying upstream call after timeout".to_string())
                        } else {
                            ("info", format!("processed job {}", rng.below(1_000_000)))
                        };
                        let elapsed = rng.below(900);
                        ("stdout", format!("{{\"level\":\"{level}\",\"msg\":\"{msg}\",\"duration_ms\":{elapsed}}}"))
                    }
                    Style::Database if roll < 0.02 => ("stderr", format!("ERROR {STACK}")),
                    Style::Database if roll < 0.2 => (
                        "stderr",
                        "WARN slow query took 1532 ms: SELECT * FROM orders WHERE id = $1".into(),
                    ),
                    Style::Database => (
                        "stdout",
                        format!("LOG checkpoint complete: wrote {} buffers", rng.below(5000)),
                    ),
                    Style::System => (
                        "stderr",
                        format!(
                            "I1126 {} healthy, {} endpoints synced",
                            container.name,
                            rng.below(64)
                        ),
                    ),
                };
                push(time, stream, log);
            }
        }
    }
    // Every failed span is logged by its pod, with its trace id.
    for span in crate::traces::spans(cluster, from, to)
        .into_iter()
        .filter(|s| s.error)
    {
        let Some(pod) = cluster.pods.iter().find(|p| p.name == span.pod) else {
            continue;
        };
        let container = &pod.containers[0].name;
        lines.push(LogLine {
            time: span.start + span.duration,
            namespace: span.namespace.clone(),
            pod: span.pod.clone(),
            container: container.clone(),
            docker_id: docker_id(&pod.name, container),
            image: format!(
                "registry.example/{}:1.0",
                cluster.workloads[pod.workload].name
            ),
            stream: "stderr",
            log: format!(
                "ERROR {} failed: upstream unavailable trace_id={}",
                span.operation, span.trace_id
            ),
            trace_id: Some(span.trace_id),
        });
    }
    lines.sort_by_key(|l| l.time);
    lines
}

/// A container id as the runtime would show it (64 hex digits).
fn docker_id(pod: &str, container: &str) -> String {
    let mut rng = SplitMix64::new(name_hash(&format!("{pod}/{container}")));
    (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

/// FNV-1a, to seed per-container generators from names.
pub(crate) fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn utc(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// Common Log Format time (`26/Nov/2026:10:00:00 +0000`).
fn format_clf(ns: i64) -> String {
    utc(ns).format("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// RFC 3339 UTC with milliseconds, as Fluent Bit writes `@timestamp`.
pub fn rfc3339_millis(ns: i64) -> String {
    utc(ns).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `_bulk` body as Fluent Bit's `es` output (Kubernetes filter, Logstash
/// format, KubeSphere's index prefix) sends it.
pub fn bulk_body(lines: &[LogLine]) -> String {
    let mut body = String::with_capacity(lines.len() * 400);
    for l in lines {
        body.push_str(&format!(
            "{{\"index\":{{\"_index\":\"ks-logstash-log-{}\"}}}}\n",
            utc(l.time).format("%Y.%m.%d")
        ));
        let trace = l
            .trace_id
            .as_ref()
            .map_or(String::new(), |t| format!(",\"trace_id\":\"{t}\""));
        body.push_str(&format!(
            "{{\"@timestamp\":\"{}\",\"log\":{},\"stream\":\"{}\"{trace},\"kubernetes\":{{\"namespace_name\":{},\"pod_name\":{},\"container_name\":{},\"docker_id\":\"{}\",\"container_image\":{}}}}}\n",
            rfc3339_millis(l.time),
            json_string(&format!("{}\n", l.log)),
            l.stream,
            json_string(&l.namespace),
            json_string(&l.pod),
            json_string(&l.container),
            l.docker_id,
            json_string(&l.image),
        ));
    }
    body
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// Ships the lines of `[from, …)` to `url` (`…/_bulk`) every `every`, as
/// Fluent Bit would, with the ingest token as the Basic password; failed
/// requests are retried (lines are never skipped). Runs until `stop`.
pub async fn ship(
    cluster: Cluster,
    url: String,
    token: String,
    from: i64,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    crate::ship::periodically("logs", from, every, stop, |client, from, to| {
        client
            .post(&url)
            .basic_auth("fluent-bit", Some(&token))
            .header("content-type", "application/x-ndjson")
            .body(bulk_body(&log_lines(&cluster, from, to)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterSpec;

    #[test]
    fn lines_are_deterministic_varied_and_include_the_crash_loop() {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let a = log_lines(&cluster, 1_795_687_200, 1_795_687_500);
        assert_eq!(a, log_lines(&cluster, 1_795_687_200, 1_795_687_500));
        assert!(a.len() > 300, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].time <= w[1].time));
        assert!(a.iter().any(|l| l.log.contains("\"GET ")));
        assert!(a.iter().any(|l| l.log.starts_with("{\"level\"")));
        assert!(a.iter().any(|l| l.log.contains("\tat com.example")));
        let crashing = cluster.pods.iter().find(|p| p.crash_looping).unwrap();
        assert!(a
            .iter()
            .any(|l| l.pod == crashing.name && l.log.starts_with("panic: FATAL")));
        // The crash-looping pod's failed requests are logged with their trace ids.
        let traced: Vec<_> = a.iter().filter(|l| l.trace_id.is_some()).collect();
        assert!(!traced.is_empty());
        assert!(traced
            .iter()
            .all(|l| l.log.contains(l.trace_id.as_deref().unwrap())));
        assert!(bulk_body(&a).contains(&format!(
            "\"trace_id\":\"{}\"",
            traced[0].trace_id.as_deref().unwrap()
        )));
        // Every line belongs to a pod of the cluster.
        assert!(a.iter().all(|l| cluster
            .pods
            .iter()
            .any(|p| p.name == l.pod && p.namespace == l.namespace)));
    }

    #[test]
    fn times_and_bodies_are_well_formed() {
        assert_eq!(
            rfc3339_millis(1_795_687_200_123_456_789),
            "2026-11-26T10:00:00.123Z"
        );
        assert_eq!(
            format_clf(1_795_687_200_000_000_000),
            "26/Nov/2026:10:00:00 +0000"
        );
        let cluster = Cluster::generate(&ClusterSpec::default());
        let lines = log_lines(&cluster, 1_795_687_200, 1_795_687_260);
        let body = bulk_body(&lines);
        assert_eq!(body.lines().count(), lines.len() * 2);
        assert!(body
            .lines()
            .next()
            .unwrap()
            .contains("ks-logstash-log-2026.11.26"));
        assert!(body.contains("\\tat com.example") || body.contains("\\\"GET "));
    }
}
