//! Distributed traces of the simulated cluster, as OpenTelemetry SDKs would
//! export them: in each tenant namespace a request enters its first
//! Deployment, which calls the second, which queries the namespace's
//! database; the first namespace's second service also calls the entry
//! service of a namespace in another workspace (a call across tenants). Spans carry their pods'
//! Kubernetes resource attributes. A call to a crash-looping pod fails, and
//! work on the saturated node takes three times as long. Deterministic: the
//! traces of a second depend only on the cluster and that second.

use crate::random::SplitMix64;
use crate::topology::{Cluster, Pod, WorkloadKind};
use serde_json::{json, Value};

/// Requests entering each tenant namespace per second.
const REQUESTS_PER_SECOND: usize = 1;

/// One simulated span.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpan {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    /// OTLP span kind: 2 server, 3 client.
    pub kind: i32,
    pub service: String,
    pub operation: String,
    pub namespace: String,
    pub pod: String,
    pub node: String,
    /// Unix nanoseconds.
    pub start: i64,
    pub duration: i64,
    pub error: bool,
}

/// One tier of a namespace's call chain: a workload's pods.
struct Tier<'a> {
    service: &'a str,
    operation: &'static str,
    pods: Vec<&'a Pod>,
}

/// The call chain of each tenant namespace (entry, second service,
/// database), with the namespace's workspace.
fn chains(cluster: &Cluster) -> Vec<(&str, Vec<Tier<'_>>)> {
    cluster
        .namespaces
        .iter()
        .filter_map(|(ns, ws)| Some((ns, ws.as_deref()?)))
        .filter_map(|(ns, workspace)| {
            let tiers: Vec<Tier> = [
                (WorkloadKind::Deployment, 0, "GET /api/v1/items"),
                (WorkloadKind::Deployment, 1, "GET /internal/items"),
                (WorkloadKind::StatefulSet, 0, "SELECT items"),
            ]
            .into_iter()
            .filter_map(|(kind, nth, operation)| {
                let (index, workload) = cluster
                    .workloads
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| w.namespace == *ns && w.kind == kind)
                    .nth(nth)?;
                Some(Tier {
                    service: &workload.name,
                    operation,
                    pods: cluster
                        .pods
                        .iter()
                        .filter(|p| p.workload == index)
                        .collect(),
                })
            })
            .collect();
            (tiers.len() == 3).then_some((workspace, tiers))
        })
        .collect()
}

fn hex(rng: &mut SplitMix64, words: usize) -> String {
    (0..words)
        .map(|_| format!("{:016x}", rng.next_u64()))
        .collect()
}

/// The spans of every request started in `[from, to)` (Unix seconds).
pub fn spans(cluster: &Cluster, from: i64, to: i64) -> Vec<SimSpan> {
    let chains = chains(cluster);
    // The first namespace's calls cross into the first namespace of another workspace.
    let remote = chains
        .first()
        .and_then(|(workspace, _)| chains.iter().find(|(w, _)| w != workspace))
        .map(|(_, tiers)| &tiers[0]);
    let mut out = Vec::new();
    for second in from..to {
        for (c, (_, chain)) in chains.iter().enumerate() {
            for r in 0..REQUESTS_PER_SECOND {
                // Seeds of nearby seconds must not give shifted copies of one
                // sequence (SplitMix64 steps by a constant): mix them first.
                let mixed = SplitMix64::new(second as u64).next_u64();
                let mut rng =
                    SplitMix64::new(SplitMix64::new(mixed ^ (c * 16 + r) as u64).next_u64());
                let trace_id = hex(&mut rng, 2);
                let start = second * 1_000_000_000 + (rng.unit() * 5e8) as i64;
                let remote = remote.filter(|_| c == 0);
                request(&mut out, cluster, &mut rng, &trace_id, chain, remote, start);
            }
        }
    }
    out
}

/// The spans of one request: the entry tier calls the second, which queries
/// the database and then, for the first namespace, the remote entry service.
fn request<'a>(
    out: &mut Vec<SimSpan>,
    cluster: &Cluster,
    rng: &mut SplitMix64,
    trace_id: &str,
    chain: &[Tier<'a>],
    remote: Option<&Tier<'a>>,
    start: i64,
) {
    const HOP: i64 = 500_000;
    // A pod of each tier, its own work (slower on the saturated node) and a span id.
    let mut pick = |tier: &Tier<'a>| -> (&'a Pod, i64, String) {
        let pod = tier.pods[rng.below(tier.pods.len() as u64) as usize];
        let slow = if cluster.nodes[pod.node].saturated {
            3
        } else {
            1
        };
        let work = (2_000_000 + rng.below(8_000_000) as i64) * slow;
        (pod, work, hex(rng, 1))
    };
    let (entry, second, db) = (pick(&chain[0]), pick(&chain[1]), pick(&chain[2]));
    let far = remote.map(&mut pick);
    let far_duration = far.as_ref().map_or(0, |f| f.1);
    let second_duration = second.1 + HOP + db.1 + far_duration;
    let entry_duration = entry.1 + HOP + second_duration;
    let db_failed = db.0.crash_looping;
    let far_failed = far.as_ref().is_some_and(|f| f.0.crash_looping);
    let second_failed = second.0.crash_looping || db_failed || far_failed;
    let entry_failed = entry.0.crash_looping || second_failed;
    // A span of `tier`'s service in the picked pod: its server span, or with
    // `calling` a client span calling that tier (as instrumented HTTP and
    // database clients make, the parent of the callee's server span).
    let mut push = |tier: &Tier,
                    picked: &(&Pod, i64, String),
                    calling: Option<&Tier>,
                    parent: Option<&str>,
                    at: i64,
                    duration: i64,
                    error: bool|
     -> String {
        let span_id = match calling {
            None => picked.2.clone(),
            Some(_) => hex(rng, 1),
        };
        out.push(SimSpan {
            trace_id: trace_id.to_string(),
            span_id: span_id.clone(),
            parent_span_id: parent.map(str::to_string),
            kind: if calling.is_some() { 3 } else { 2 },
            service: tier.service.to_string(),
            operation: match calling {
                None => tier.operation.to_string(),
                Some(callee) => format!("call {}", callee.service),
            },
            namespace: picked.0.namespace.clone(),
            pod: picked.0.name.clone(),
            node: cluster.nodes[picked.0.node].name.clone(),
            start: at,
            duration,
            error,
        });
        span_id
    };
    let second_start = start + HOP;
    push(
        &chain[0],
        &entry,
        None,
        None,
        start,
        entry_duration,
        entry_failed,
    );
    let to_second = push(
        &chain[0],
        &entry,
        Some(&chain[1]),
        Some(&entry.2),
        second_start,
        second_duration,
        entry_failed,
    );
    push(
        &chain[1],
        &second,
        None,
        Some(&to_second),
        second_start,
        second_duration,
        second_failed,
    );
    let db_start = second_start + HOP;
    let to_db = push(
        &chain[1],
        &second,
        Some(&chain[2]),
        Some(&second.2),
        db_start,
        db.1,
        second_failed,
    );
    push(
        &chain[2],
        &db,
        None,
        Some(&to_db),
        db_start,
        db.1,
        db_failed,
    );
    if let (Some(tier), Some(far)) = (remote, &far) {
        let at = db_start + db.1;
        let to_far = push(
            &chain[1],
            &second,
            Some(tier),
            Some(&second.2),
            at,
            far.1,
            second_failed,
        );
        push(tier, far, None, Some(&to_far), at, far.1, far_failed);
    }
}

/// An OTLP/JSON `ExportTraceServiceRequest` of `spans`, one resource per pod.
pub fn otlp_json(cluster: &Cluster, spans: &[SimSpan]) -> String {
    let mut resources: Vec<((&str, &str), Vec<Value>)> = Vec::new();
    for s in spans {
        let span = json!({
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "parentSpanId": s.parent_span_id.clone().unwrap_or_default(),
            "name": s.operation,
            "kind": s.kind,
            "startTimeUnixNano": s.start.to_string(),
            "endTimeUnixNano": (s.start + s.duration).to_string(),
            "attributes": [
                {"key": "http.request.method", "value": {"stringValue": "GET"}},
                {"key": "http.response.status_code", "value": {"intValue": if s.error { "500" } else { "200" }}},
            ],
            "status": {"code": if s.error { 2 } else { 1 }},
        });
        // Pod names repeat across namespaces (a StatefulSet's `db-0`): a
        // resource is one pod of one namespace.
        let key = (s.namespace.as_str(), s.pod.as_str());
        match resources.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(span),
            None => resources.push((key, vec![span])),
        }
    }
    let resource_spans: Vec<Value> = resources
        .into_iter()
        .map(|((namespace, pod_name), spans)| {
            let pod = cluster
                .pods
                .iter()
                .find(|p| p.name == pod_name && p.namespace == namespace);
            let attribute = |k: &str, v: &str| json!({"key": k, "value": {"stringValue": v}});
            let mut attributes = Vec::new();
            if let Some(pod) = pod {
                let workload = &cluster.workloads[pod.workload];
                attributes.push(attribute("service.name", &workload.name));
                attributes.push(attribute("k8s.namespace.name", &pod.namespace));
                attributes.push(attribute("k8s.pod.name", &pod.name));
                attributes.push(attribute("k8s.node.name", &cluster.nodes[pod.node].name));
                attributes.push(attribute("k8s.container.name", "app"));
                let kind = match workload.kind {
                    WorkloadKind::Deployment => "k8s.deployment.name",
                    WorkloadKind::StatefulSet => "k8s.statefulset.name",
                    WorkloadKind::DaemonSet => "k8s.daemonset.name",
                };
                attributes.push(attribute(kind, &workload.name));
            }
            json!({"resource": {"attributes": attributes},
                   "scopeSpans": [{"scope": {"name": "periscope-simulator"}, "spans": spans}]})
        })
        .collect();
    json!({ "resourceSpans": resource_spans }).to_string()
}

/// Exports the traces of `[from, …)` to `url` (`…/v1/traces`) every `every`
/// as an OTLP/HTTP exporter would (OTLP/JSON, the ingest token as Bearer);
/// failed requests are retried. Runs until `stop`.
pub async fn ship(
    cluster: Cluster,
    url: String,
    token: String,
    from: i64,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    crate::ship::periodically("traces", from, every, stop, |client, from, to| {
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(otlp_json(&cluster, &spans(&cluster, from, to)))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterSpec;

    fn by_id_in<'a>(spans: &'a [SimSpan], id: &str) -> &'a SimSpan {
        spans.iter().find(|s| s.span_id == id).unwrap()
    }

    #[test]
    fn traces_follow_the_call_graph_and_the_trouble() {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let a = spans(&cluster, 1_795_687_200, 1_795_687_260);
        assert_eq!(
            a,
            spans(&cluster, 1_795_687_200, 1_795_687_260),
            "deterministic"
        );
        let tenant_namespaces = cluster
            .namespaces
            .iter()
            .filter(|(_, ws)| ws.is_some())
            .count();
        // Three tiers and two client calls per namespace, and one cross-tenant
        // call (client and server), every second.
        assert_eq!(a.len(), 60 * (5 * tenant_namespaces + 2));
        let clients = a.iter().filter(|s| s.kind == 3).count();
        assert_eq!(clients, 60 * (2 * tenant_namespaces + 1));
        for s in a.iter().filter(|s| s.kind == 3) {
            let p = by_id_in(&a, s.parent_span_id.as_deref().unwrap());
            assert_eq!(
                (p.kind, &p.pod),
                (2, &s.pod),
                "a client span runs in its caller's pod"
            );
        }
        let by_id = |id: &str| by_id_in(&a, id);
        for s in &a {
            if let Some(parent) = &s.parent_span_id {
                let p = by_id(parent);
                assert_eq!(p.trace_id, s.trace_id);
                assert!(
                    p.start <= s.start && s.start + s.duration <= p.start + p.duration + 1_000_000
                );
            }
        }
        let cross = a
            .iter()
            .filter(|s| {
                s.parent_span_id
                    .as_ref()
                    .is_some_and(|p| by_id(p).namespace != s.namespace)
            })
            .count();
        assert_eq!(cross, 60, "one cross-tenant call a second");
        let workspace = |ns: &str| {
            cluster
                .namespaces
                .iter()
                .find(|(n, _)| n == ns)
                .unwrap()
                .1
                .clone()
        };
        assert!(
            a.iter().all(|s| match &s.parent_span_id {
                Some(p) if by_id(p).namespace != s.namespace =>
                    workspace(&by_id(p).namespace) != workspace(&s.namespace),
                _ => true,
            }),
            "the call crosses workspaces"
        );
        // A request through the crash-looping pod fails, up to its root.
        let crashing = cluster.pods.iter().find(|p| p.crash_looping).unwrap();
        let failing: Vec<_> = a.iter().filter(|s| s.pod == crashing.name).collect();
        assert!(!failing.is_empty(), "every tenant pod serves some requests");
        assert!(failing.iter().all(|s| s.error));
        let trace = &failing[0].trace_id;
        assert!(a
            .iter()
            .any(|s| &s.trace_id == trace && s.parent_span_id.is_none() && s.error));
        assert!(a.iter().any(|s| !s.error), "other requests succeed");
        let body: Value = serde_json::from_str(&otlp_json(&cluster, &a)).unwrap();
        let count: usize = body["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(count, a.len());
        // Each resource is one pod of one namespace, even where pod names
        // repeat across namespaces (StatefulSets' `db-0`).
        let mut resources = std::collections::BTreeSet::new();
        for r in body["resourceSpans"].as_array().unwrap() {
            let attribute = |key: &str| {
                r["resource"]["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["key"] == key)
                    .map(|a| a["value"]["stringValue"].as_str().unwrap().to_string())
                    .unwrap()
            };
            let (namespace, pod) = (attribute("k8s.namespace.name"), attribute("k8s.pod.name"));
            for span in r["scopeSpans"][0]["spans"].as_array().unwrap() {
                let id = span["spanId"].as_str().unwrap();
                let s = by_id(id);
                assert_eq!((&s.namespace, &s.pod), (&namespace, &pod), "span {id}");
            }
            assert!(resources.insert((namespace, pod)), "one resource per pod");
        }
        let repeated = cluster
            .pods
            .iter()
            .filter(|p| {
                cluster
                    .pods
                    .iter()
                    .any(|q| q.name == p.name && q.namespace != p.namespace)
            })
            .count();
        assert!(
            repeated > 0,
            "the cluster has pod names in several namespaces"
        );
    }
}
