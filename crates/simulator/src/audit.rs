//! The simulated apiserver's audit records (`audit.k8s.io/v1` events), as its
//! webhook backend sends them in `EventList` batches: controllers listing
//! pods and kubelets renewing their leases, a developer's deployment update,
//! an exec into the crash-looping pod, service accounts reading secrets. A
//! pure function of the cluster, the simulation's origin and the window.

use crate::topology::Cluster;
use chrono::{DateTime, SecondsFormat};
use serde_json::{json, Value};

fn micro(seconds: i64, micros: i64) -> String {
    DateTime::from_timestamp(seconds, (micros * 1000) as u32)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One request's record at one stage.
struct Request<'a> {
    at: i64,
    verb: &'a str,
    user: String,
    groups: &'a [&'a str],
    uri: String,
    object: Value,
    code: i64,
    level: &'a str,
}

fn record(r: &Request<'_>, stage: &str, code: Option<i64>) -> Value {
    let id = crate::logs::name_hash(&format!("{}{}{}", r.at, r.uri, r.user));
    let mut e = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": r.level,
        "auditID": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", id >> 32, (id >> 16) & 0xffff, id & 0xfff, (id >> 20) & 0xfff, id & 0xffff_ffff_ffff),
        "stage": stage, "requestURI": r.uri, "verb": r.verb,
        "user": {"username": r.user, "groups": r.groups},
        "sourceIPs": ["10.0.0.10"], "userAgent": if r.user.starts_with("system:") { "kube-controller-manager/v1.31.0" } else { "kubectl/v1.31.0 (linux/amd64)" },
        "objectRef": r.object,
        "requestReceivedTimestamp": micro(r.at, 1),
        "stageTimestamp": micro(r.at, if stage == "RequestReceived" { 1 } else { 2300 }),
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed"},
    });
    if let Some(code) = code {
        e["responseStatus"] = json!({"metadata": {}, "code": code});
    }
    e
}

/// The records of requests made in `[from, to)` (Unix seconds) of a
/// simulation that started at `origin`, oldest first.
pub fn audit_events(cluster: &Cluster, origin: i64, from: i64, to: i64) -> Vec<Value> {
    let mut requests: Vec<(Request<'_>, bool)> = Vec::new();
    let ticks = |every: i64, offset: i64| {
        let first = origin + offset;
        let k0 = if from > first {
            (from - first + every - 1) / every
        } else {
            0
        };
        (k0..)
            .map(move |k| first + k * every)
            .take_while(move |t| *t < to)
    };
    let tenant_namespaces: Vec<&str> = cluster
        .namespaces
        .iter()
        .filter(|(_, ws)| ws.is_some())
        .map(|(ns, _)| ns.as_str())
        .collect();
    for at in ticks(30, 3) {
        for ns in &tenant_namespaces {
            requests.push((
                Request {
                    at,
                    verb: "list",
                    user: "system:kube-controller-manager".into(),
                    groups: &["system:authenticated"],
                    uri: format!("/api/v1/namespaces/{ns}/pods?limit=500"),
                    object: json!({"resource": "pods", "namespace": ns, "apiVersion": "v1"}),
                    code: 200,
                    level: "Metadata",
                },
                false,
            ));
        }
    }
    for at in ticks(10, 1) {
        for node in &cluster.nodes {
            requests.push((Request {
                at, verb: "update", user: format!("system:node:{}", node.name), groups: &["system:nodes", "system:authenticated"],
                uri: format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{}", node.name),
                object: json!({"resource": "leases", "namespace": "kube-node-lease", "name": node.name, "apiGroup": "coordination.k8s.io", "apiVersion": "v1"}),
                code: 200, level: "Metadata",
            }, false));
        }
    }
    for at in ticks(300, 60) {
        for ns in &tenant_namespaces {
            requests.push((Request {
                at, verb: "get", user: format!("system:serviceaccount:{ns}:app"), groups: &["system:serviceaccounts", "system:authenticated"],
                uri: format!("/api/v1/namespaces/{ns}/secrets/{ns}-db-credentials"),
                object: json!({"resource": "secrets", "namespace": ns, "name": format!("{ns}-db-credentials"), "apiVersion": "v1"}),
                code: 200, level: "Metadata",
            }, false));
        }
    }
    if let Some(deployment) = cluster
        .workloads
        .iter()
        .find(|w| w.replicaset.is_some() && tenant_namespaces.contains(&w.namespace.as_str()))
    {
        for at in ticks(600, 120) {
            requests.push((Request {
                at, verb: "patch", user: format!("dev@{}", deployment.namespace), groups: &["developers", "system:authenticated"],
                uri: format!("/apis/apps/v1/namespaces/{}/deployments/{}?fieldManager=kubectl-client-side-apply", deployment.namespace, deployment.name),
                object: json!({"resource": "deployments", "namespace": deployment.namespace, "name": deployment.name, "apiGroup": "apps", "apiVersion": "v1"}),
                code: 200, level: "Request",
            }, false));
        }
    }
    if let Some(pod) = cluster.pods.iter().find(|p| p.crash_looping) {
        for at in ticks(900, 200) {
            let container = pod
                .containers
                .first()
                .map(|c| c.name.as_str())
                .unwrap_or("main");
            requests.push((Request {
                at, verb: "create", user: format!("dev@{}", pod.namespace), groups: &["developers", "system:authenticated"],
                uri: format!("/api/v1/namespaces/{}/pods/{}/exec?command=sh&container={container}&stdin=true&tty=true", pod.namespace, pod.name),
                object: json!({"resource": "pods", "subresource": "exec", "namespace": pod.namespace, "name": pod.name, "apiVersion": "v1"}),
                code: 101, level: "Metadata",
            }, true));
        }
    }
    requests.sort_by_key(|(r, _)| r.at);
    let mut out = Vec::with_capacity(requests.len());
    for (r, long_running) in &requests {
        if *long_running {
            // An exec is long-running: received, then started (101).
            out.push(record(r, "RequestReceived", None));
            out.push(record(r, "ResponseStarted", Some(r.code)));
        } else {
            out.push(record(r, "ResponseComplete", Some(r.code)));
        }
    }
    out
}

/// Ships the records of `[from, now)` to `url` (Periscope's
/// `/api/v1/audit/webhook`) as `EventList` batches every `every`, until `stop`.
pub async fn ship(
    cluster: Cluster,
    url: String,
    token: String,
    from: i64,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    crate::ship::periodically("audit records", from, every, stop, |client, start, end| {
        let items = audit_events(&cluster, from, start, end);
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}).to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterSpec;

    #[test]
    fn the_records_are_deterministic_and_hold_the_exec() {
        let cluster = Cluster::generate(&ClusterSpec::default());
        let origin = 1_795_687_200;
        let all = audit_events(&cluster, origin, origin, origin + 1800);
        let mut split = audit_events(&cluster, origin, origin, origin + 777);
        split.extend(audit_events(&cluster, origin, origin + 777, origin + 1800));
        assert_eq!(all, split);
        let exec: Vec<&Value> = all
            .iter()
            .filter(|e| e["objectRef"]["subresource"] == "exec")
            .collect();
        assert_eq!(exec.len(), 4, "two execs, each received and started");
        assert_eq!(exec[0]["auditID"], exec[1]["auditID"]);
        assert_eq!(exec[1]["responseStatus"]["code"], 101);
        assert!(all.iter().any(|e| e["objectRef"]["resource"] == "secrets"));
        assert!(all.iter().any(|e| e["verb"] == "patch"));
        let ids: std::collections::BTreeSet<(String, String)> = all
            .iter()
            .map(|e| {
                (
                    e["auditID"].as_str().unwrap().into(),
                    e["stage"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(ids.len(), all.len(), "(auditID, stage) is unique");
    }
}
