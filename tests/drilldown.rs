//! The drill-down API against a real Prometheus holding the simulated
//! cluster's history: exact values computed by hand from the simulator's
//! formulas, sorting and paging, children links, tenant scope on every route,
//! parameter errors, and the same pages over gRPC.

mod common;

use common::{answer, periscope_on_simulated, simulated, token, Answer, Periscope};
use periscope_proto::v1::monitoring_client::MonitoringClient;
use periscope_proto::v1::{DrillDownRequest, Level};
use periscope_simulator::{
    Cluster, Pod, WorkloadKind, CONTAINER_CPU_SWING, CRASH_LOOP_SECONDS, PERIOD_SECONDS,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::f64::consts::TAU;

async fn get(p: &Periscope, tenant: &str, path: &str, query: &[(&str, &str)]) -> Answer {
    let time = simulated().end.to_string();
    let mut q: Vec<(&str, &str)> = query.to_vec();
    if !q.iter().any(|(k, _)| matches!(*k, "time" | "start")) {
        q.push(("time", &time));
    }
    let request = p
        .http
        .get(format!("{}{path}", p.base))
        .query(&q)
        .bearer_auth(token(tenant));
    answer(request.send().await.expect("request sent")).await
}

fn names(a: &Answer) -> Vec<String> {
    a.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {}", a.raw))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

fn value(item: &Value, metric: &str) -> f64 {
    item["metrics"][metric]["value"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{metric} missing in {item}"))
        .parse()
        .unwrap()
}

fn item<'a>(a: &'a Answer, name: &str) -> &'a Value {
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {}", a.raw))
}

fn close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} != {expected}"
    );
}

/// The working set the simulator exposes for a container at `t`.
fn working_set(c: &periscope_simulator::Container, t: f64) -> f64 {
    (c.memory_bytes as f64 * (1.0 + 0.1 * (TAU * t / PERIOD_SECONDS + c.phase).sin())).floor()
}

/// `rate(container_cpu_usage_seconds_total[5m])` at `t`: with samples exactly
/// at both ends of the window Prometheus does not extrapolate, so it is the
/// counter's increase (the integral of the load) over 300 s, divided by 300.
fn cpu_rate(c: &periscope_simulator::Container, t: f64) -> f64 {
    let omega = TAU / PERIOD_SECONDS;
    let integral = |x: f64| {
        c.cpu_cores * x - c.cpu_cores * CONTAINER_CPU_SWING / omega * (omega * x + c.phase).cos()
    };
    (integral(t) - integral(t - 300.0)) / 300.0
}

fn pods_in<'a>(cluster: &'a Cluster, namespaces: &'a [&str]) -> impl Iterator<Item = &'a Pod> {
    cluster
        .pods
        .iter()
        .filter(move |p| namespaces.contains(&p.namespace.as_str()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_values_match_the_simulators_formulas() {
    let p = periscope_on_simulated().await;
    let sim = simulated();
    let cluster = &sim.cluster;
    let t = sim.end as f64;

    let c = get(
        &p,
        "admin",
        "/api/v1/cluster",
        &[("metrics", "cluster_node_total,cluster_pod_count")],
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.raw);
    let whole = &c.body["items"][0];
    assert_eq!(
        value(whole, "cluster_node_total"),
        cluster.nodes.len() as f64
    );
    assert_eq!(value(whole, "cluster_pod_count"), cluster.pods.len() as f64);

    let nodes = get(
        &p,
        "admin",
        "/api/v1/nodes",
        &[("metrics", "node_pod_count,node_cpu_total")],
    )
    .await;
    assert_eq!(names(&nodes).len(), cluster.nodes.len());
    for (i, node) in cluster.nodes.iter().enumerate() {
        let expected = cluster.pods.iter().filter(|p| p.node == i).count() as f64;
        let it = item(&nodes, &node.name);
        assert_eq!(value(it, "node_pod_count"), expected, "{}", node.name);
        assert_eq!(value(it, "node_cpu_total"), node.cpu_cores as f64);
    }

    let ns = get(
        &p,
        "alice",
        "/api/v1/namespaces/team-a",
        &[(
            "metrics",
            "namespace_pod_count,namespace_memory_usage_wo_cache",
        )],
    )
    .await;
    assert_eq!(ns.status, 200, "{}", ns.raw);
    let team_a = item(&ns, "team-a");
    assert_eq!(
        value(team_a, "namespace_pod_count"),
        pods_in(cluster, &["team-a"]).count() as f64
    );
    let memory: f64 = pods_in(cluster, &["team-a"])
        .flat_map(|p| &p.containers)
        .map(|c| working_set(c, t))
        .sum();
    assert_eq!(value(team_a, "namespace_memory_usage_wo_cache"), memory);
    assert_eq!(team_a["labels"]["workspace"], "ws-a");

    let ws = get(
        &p,
        "alice",
        "/api/v1/workspaces",
        &[("metrics", "workspace_pod_count,workspace_cpu_usage")],
    )
    .await;
    assert_eq!(names(&ws), ["ws-a"]);
    let ws_a = item(&ws, "ws-a");
    let members = ["team-a", "team-a-dev"];
    assert_eq!(
        value(ws_a, "workspace_pod_count"),
        pods_in(cluster, &members).count() as f64
    );
    let cpu: f64 = pods_in(cluster, &members)
        .flat_map(|p| &p.containers)
        .map(|c| cpu_rate(c, t))
        .sum();
    close(
        value(ws_a, "workspace_cpu_usage"),
        cpu,
        "workspace_cpu_usage",
    );

    // A pod with two containers, read through its namespace.
    let pod = pods_in(cluster, &["team-a", "team-a-dev", "team-b"])
        .find(|p| p.containers.len() == 2)
        .expect("the default cluster has a pod with a sidecar");
    let path = format!("/api/v1/namespaces/{}/pods/{}", pod.namespace, pod.name);
    let tenant = if pod.namespace == "team-b" {
        "bob"
    } else {
        "alice"
    };
    let one = get(
        &p,
        tenant,
        &path,
        &[("metrics", "pod_cpu_usage,pod_memory_usage_wo_cache")],
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.raw);
    let it = item(&one, &pod.name);
    close(
        value(it, "pod_cpu_usage"),
        pod.containers.iter().map(|c| cpu_rate(c, t)).sum(),
        "pod_cpu_usage",
    );
    assert_eq!(
        value(it, "pod_memory_usage_wo_cache"),
        pod.containers
            .iter()
            .map(|c| working_set(c, t))
            .sum::<f64>()
    );
    assert_eq!(it["labels"]["node"], cluster.nodes[pod.node].name.as_str());

    // The crash-looping container restarted every five minutes since the
    // origin, after three earlier restarts.
    let crashing = cluster.pods.iter().find(|p| p.crash_looping).unwrap();
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}/containers",
        crashing.namespace, crashing.name
    );
    let containers = get(&p, "admin", &path, &[("metrics", "container_restarts")]).await;
    let app = item(&containers, &crashing.containers[0].name);
    let elapsed = (sim.end - sim.origin) as f64;
    assert_eq!(
        value(app, "container_restarts"),
        3.0 + (elapsed / CRASH_LOOP_SECONDS).floor()
    );

    // Only the crash-looping pod is abnormal; namespaces without one say 0.
    let abnormal = get(
        &p,
        "admin",
        "/api/v1/namespaces",
        &[("metrics", "namespace_pod_abnormal_count")],
    )
    .await;
    for (ns, _) in &cluster.namespaces {
        let expected = if *ns == crashing.namespace { 1.0 } else { 0.0 };
        assert_eq!(
            value(item(&abnormal, ns), "namespace_pod_abnormal_count"),
            expected,
            "{ns}"
        );
    }

    // Workloads: Kind:name from kube_pod_owner, a ReplicaSet's pods counted
    // for its Deployment.
    let wl = get(
        &p,
        "admin",
        &format!("/api/v1/namespaces/{}/workloads", crashing.namespace),
        &[("metrics", "workload_pod_count")],
    )
    .await;
    for w in cluster
        .workloads
        .iter()
        .filter(|w| w.namespace == crashing.namespace)
    {
        let found = wl.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["labels"]["workload"] == format!("{}:{}", w.kind.as_str(), w.name))
            .unwrap_or_else(|| panic!("{}:{} missing in {}", w.kind.as_str(), w.name, wl.raw));
        assert_eq!(value(found, "workload_pod_count"), w.replicas as f64);
    }
    let owner = &cluster.workloads[crashing.workload];
    if owner.kind == WorkloadKind::Deployment {
        let d = get(
            &p,
            "admin",
            &format!(
                "/api/v1/namespaces/{}/workloads/deployment/{}",
                owner.namespace, owner.name
            ),
            &[("metrics", "workload_deployment_replica_available")],
        )
        .await;
        assert_eq!(
            value(&d.body["items"][0], "workload_deployment_replica_available"),
            owner.replicas as f64 - 1.0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_every_level_has_data() {
    let p = periscope_on_simulated().await;
    let sim = simulated();
    let crashing = sim.cluster.pods.iter().find(|p| p.crash_looping).unwrap();
    let routes = [
        "/api/v1/cluster".to_string(),
        "/api/v1/nodes".to_string(),
        "/api/v1/workspaces".to_string(),
        "/api/v1/namespaces".to_string(),
        format!("/api/v1/namespaces/{}/workloads", crashing.namespace),
        // DaemonSets run in kube-system only.
        "/api/v1/namespaces/kube-system/workloads".to_string(),
        format!("/api/v1/namespaces/{}/pods", crashing.namespace),
        format!(
            "/api/v1/namespaces/{}/pods/{}/containers",
            crashing.namespace, crashing.name
        ),
    ];
    // Metric → whether some resource of some route had a value.
    let mut has_data: std::collections::BTreeMap<String, bool> = Default::default();
    for route in routes {
        let a = get(&p, "admin", &route, &[]).await;
        assert_eq!(a.status, 200, "{route}: {}", a.raw);
        assert!(
            a.body.get("errors").is_none(),
            "{route}: {}",
            a.body["errors"]
        );
        for m in a.body["metrics"].as_array().unwrap() {
            let name = m["name"].as_str().unwrap();
            let found = a.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["metrics"].get(name).is_some());
            *has_data.entry(name.to_string()).or_default() |= found;
        }
    }
    // Metrics from span metrics need spans (tests/span_metrics.rs has them).
    let empty: Vec<&String> = has_data
        .iter()
        .filter(|(n, d)| !**d && !n.contains("_service_"))
        .map(|(n, _)| n)
        .collect();
    assert!(empty.is_empty(), "metrics without data: {empty:?}");
    let seen_metrics = has_data.len();
    assert!(seen_metrics >= 60, "{seen_metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorting_and_paging_follow_the_sort_metric_with_missing_values_last() {
    let p = periscope_on_simulated().await;
    let cluster = &simulated().cluster;
    let mut expected: Vec<(usize, String)> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                cluster.pods.iter().filter(|p| p.node == i).count(),
                n.name.clone(),
            )
        })
        .collect();
    // Descending by count, ties by name.
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let expected: Vec<String> = expected.into_iter().map(|(_, n)| n).collect();
    let mut paged = Vec::new();
    for page in ["1", "2"] {
        let a = get(
            &p,
            "admin",
            "/api/v1/nodes",
            &[
                ("metrics", "node_pod_count"),
                ("sort_metric", "node_pod_count"),
                ("sort", "desc"),
                ("limit", "2"),
                ("page", page),
            ],
        )
        .await;
        assert_eq!(a.body["total_items"], 4);
        assert_eq!(a.body["total_pages"], 2);
        paged.extend(names(&a));
    }
    assert_eq!(paged, expected);

    // Only Deployments have workload_deployment_replica: the others come last,
    // in name order.
    let a = get(
        &p,
        "admin",
        "/api/v1/namespaces/kube-system/workloads",
        &[
            ("metrics", "workload_deployment_replica"),
            ("sort_metric", "workload_deployment_replica"),
            ("sort", "asc"),
        ],
    )
    .await;
    let kinds: Vec<&str> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["labels"]["owner_kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Deployment", "DaemonSet"], "{}", a.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_lead_from_the_top_down_to_containers() {
    let p = periscope_on_simulated().await;
    let follow = |a: &Answer, link: &str| {
        a.body["items"][0]["links"][link]
            .as_str()
            .unwrap_or_else(|| panic!("no {link} link in {}", a.raw))
            .to_string()
    };
    // The admin's node view.
    let top = get(
        &p,
        "admin",
        "/api/v1/cluster",
        &[("metrics", "cluster_node_total")],
    )
    .await;
    let nodes = get(
        &p,
        "admin",
        &follow(&top, "nodes"),
        &[("metrics", "node_cpu_usage")],
    )
    .await;
    let pods = get(
        &p,
        "admin",
        &follow(&nodes, "pods"),
        &[("metrics", "pod_cpu_usage")],
    )
    .await;
    assert!(!names(&pods).is_empty(), "{}", pods.raw);
    let node = nodes.body["items"][0]["name"].as_str().unwrap();
    assert!(pods.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["labels"]["node"] == node));
    assert!(pods.body["items"][0]["links"]["node"].is_string());
    let containers = get(&p, "admin", &follow(&pods, "containers"), &[]).await;
    assert!(!names(&containers).is_empty(), "{}", containers.raw);

    // A tenant's workspace view, down to a workload's pods and containers.
    let ws = get(
        &p,
        "alice",
        "/api/v1/workspaces",
        &[("metrics", "workspace_pod_count")],
    )
    .await;
    let ns = get(
        &p,
        "alice",
        &follow(&ws, "namespaces"),
        &[("metrics", "namespace_pod_count")],
    )
    .await;
    assert_eq!(names(&ns), ["team-a", "team-a-dev"]);
    let workloads = get(
        &p,
        "alice",
        &follow(&ns, "workloads"),
        &[("metrics", "workload_pod_count")],
    )
    .await;
    let workload_pods = get(
        &p,
        "alice",
        &follow(&workloads, "pods"),
        &[("metrics", "pod_memory_usage")],
    )
    .await;
    let workload = workloads.body["items"][0]["labels"]["workload"]
        .as_str()
        .unwrap();
    assert_eq!(
        names(&workload_pods).len() as f64,
        value(&workloads.body["items"][0], "workload_pod_count")
    );
    assert!(workload_pods.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["labels"]["workload"] == workload));
    // Tenants are not sent to node pages.
    assert!(workload_pods.body["items"][0]["links"]
        .get("node")
        .is_none());
    let containers = get(
        &p,
        "alice",
        &follow(&workload_pods, "containers"),
        &[("metrics", "container_memory_usage")],
    )
    .await;
    assert!(!names(&containers).is_empty(), "{}", containers.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_scope_applies_to_every_route() {
    let p = periscope_on_simulated().await;
    let cluster = &simulated().cluster;
    let b_pod = pods_in(cluster, &["team-b"]).next().unwrap();
    let forbidden = [
        "/api/v1/cluster".to_string(),
        "/api/v1/nodes".to_string(),
        "/api/v1/nodes/node-1".to_string(),
        "/api/v1/nodes/node-1/pods".to_string(),
        "/api/v1/clusters/east/nodes".to_string(),
        "/api/v1/workspaces/ws-b".to_string(),
        "/api/v1/workspaces/ws-b/namespaces".to_string(),
        "/api/v1/namespaces/team-b".to_string(),
        "/api/v1/namespaces/team-b/workloads".to_string(),
        "/api/v1/namespaces/team-b/workloads/deployment".to_string(),
        "/api/v1/namespaces/team-b/workloads/deployment/api/pods".to_string(),
        "/api/v1/namespaces/team-b/pods".to_string(),
        format!("/api/v1/namespaces/team-b/pods/{}", b_pod.name),
        format!("/api/v1/namespaces/team-b/pods/{}/containers", b_pod.name),
        "/api/v1/namespaces/kube-system/pods".to_string(),
    ];
    for route in &forbidden {
        let a = get(&p, "alice", route, &[]).await;
        assert_eq!(a.status, 403, "{route}: {}", a.raw);
        assert_eq!(a.body["errorType"], "forbidden");
    }

    // Lists are filtered to the scope, whatever the resources filter says.
    let ns = |tenant, resources| {
        let p = &p;
        async move {
            names(
                &get(
                    p,
                    tenant,
                    "/api/v1/namespaces",
                    &[("metrics", "namespace_pod_count"), ("resources", resources)],
                )
                .await,
            )
        }
    };
    assert_eq!(ns("alice", "").await, ["team-a", "team-a-dev"]);
    assert_eq!(ns("alice", "~.*").await, ["team-a", "team-a-dev"]);
    assert!(ns("alice", "team-b,kube-system").await.is_empty());
    assert_eq!(ns("alice", "team-a-dev,team-b").await, ["team-a-dev"]);
    assert_eq!(ns("nina", "").await, ["team-b"]);
    assert!(ns("nobody", "").await.is_empty());
    // A hostile resource value is a literal name, not query text.
    assert!(ns("alice", "team-a\"} or vector(1) #").await.is_empty());

    let ws = |tenant| {
        let p = &p;
        async move {
            names(
                &get(
                    p,
                    tenant,
                    "/api/v1/workspaces",
                    &[("metrics", "workspace_pod_count")],
                )
                .await,
            )
        }
    };
    assert_eq!(ws("alice").await, ["ws-a"]);
    assert_eq!(ws("nina").await, ["ws-b"]);
    assert!(ws("nobody").await.is_empty());
    assert_eq!(ws("admin").await, ["ws-a", "ws-b"]);

    // Pods of a tenant's namespace never include another namespace's.
    let pods = get(
        &p,
        "alice",
        "/api/v1/namespaces/team-a/pods",
        &[("metrics", "pod_cpu_usage")],
    )
    .await;
    let namespaces: BTreeSet<&str> = pods.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["labels"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["team-a"]));
    assert_eq!(names(&pods).len(), pods_in(cluster, &["team-a"]).count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_400s_naming_the_parameter() {
    let p = periscope_on_simulated().await;
    // (path, query, the parameter the error must name)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 10] = [
        (
            "/api/v1/nodes",
            &[("metrics", "pod_cpu_usage")],
            "\"metrics\"",
        ),
        (
            "/api/v1/nodes",
            &[("metrics", "~nothing_.*")],
            "\"metrics\"",
        ),
        ("/api/v1/nodes", &[("metrics", "~(")], "\"metrics\""),
        ("/api/v1/nodes", &[("resources", "~[")], "\"resources\""),
        (
            "/api/v1/nodes",
            &[("metrics", "node_cpu_usage"), ("sort_metric", "node_load1")],
            "\"sort_metric\"",
        ),
        (
            "/api/v1/nodes",
            &[("sort_metric", "node_load1"), ("sort", "up")],
            "\"sort\"",
        ),
        ("/api/v1/nodes", &[("page", "0")], "\"page\""),
        ("/api/v1/nodes", &[("limit", "many")], "\"limit\""),
        ("/api/v1/nodes", &[("sort_type", "asc")], "\"sort_type\""),
        (
            "/api/v1/namespaces/team-a/workloads/cronjob",
            &[],
            "\"kind\"",
        ),
    ];
    for (path, query, named) in cases {
        let a = get(&p, "admin", path, query).await;
        assert_eq!(a.status, 400, "{path} {query:?}: {}", a.raw);
        assert!(
            a.body["error"].as_str().unwrap().contains(named),
            "{path} {query:?}: {}",
            a.raw
        );
    }
    let end = simulated().end.to_string();
    let start = (simulated().end - 600).to_string();
    for (query, named) in [
        (
            vec![("time", end.as_str()), ("start", start.as_str())],
            "\"time\"",
        ),
        (
            vec![("start", start.as_str()), ("end", end.as_str())],
            "\"step\"",
        ),
        (
            vec![
                ("start", end.as_str()),
                ("end", start.as_str()),
                ("step", "60"),
            ],
            "\"end\"",
        ),
        (
            vec![
                ("start", start.as_str()),
                ("end", end.as_str()),
                ("step", "0.001"),
            ],
            "points",
        ),
    ] {
        let a = get(&p, "admin", "/api/v1/nodes", &query).await;
        assert!(matches!(a.status, 400 | 422), "{query:?}: {}", a.raw);
        let message = a.body["error"].as_str().unwrap();
        assert!(message.contains(named), "{query:?}: {message}");
    }
    let missing = get(&p, "admin", "/api/v1/nodes/node-99", &[]).await;
    assert_eq!(missing.status, 404, "{}", missing.raw);
    let unknown_cluster = get(&p, "admin", "/api/v1/clusters/nowhere/nodes", &[]).await;
    assert_eq!(unknown_cluster.status, 404, "{}", unknown_cluster.raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_pages_carry_every_step() {
    let p = periscope_on_simulated().await;
    let end = simulated().end;
    let a = get(
        &p,
        "alice",
        "/api/v1/namespaces",
        &[
            ("metrics", "namespace_pod_count"),
            ("start", &(end - 600).to_string()),
            ("end", &end.to_string()),
            ("step", "60"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.raw);
    let values = a.body["items"][0]["metrics"]["namespace_pod_count"]["values"]
        .as_array()
        .unwrap();
    assert_eq!(values.len(), 11);
    assert_eq!(values[10][0].as_f64().unwrap(), end as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_serves_the_same_pages() {
    let p = periscope_on_simulated().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = MonitoringClient::new(channel);
    let call = |tenant: &str, request: DrillDownRequest| {
        let mut r = tonic::Request::new(request);
        r.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", token(tenant)).parse().unwrap(),
        );
        r
    };
    let request = DrillDownRequest {
        level: Level::Namespace as i32,
        metrics: "namespace_pod_count,namespace_cpu_usage".into(),
        time: Some(simulated().end as f64),
        sort_metric: "namespace_pod_count".into(),
        ..Default::default()
    };
    let page = client
        .drill_down(call("alice", request.clone()))
        .await
        .unwrap()
        .into_inner();
    let http = get(
        &p,
        "alice",
        "/api/v1/namespaces",
        &[
            ("metrics", "namespace_pod_count,namespace_cpu_usage"),
            ("sort_metric", "namespace_pod_count"),
        ],
    )
    .await;
    let grpc_names: Vec<String> = page.items.iter().map(|i| i.name.clone()).collect();
    assert_eq!(grpc_names, names(&http));
    for (g, h) in page
        .items
        .iter()
        .zip(http.body["items"].as_array().unwrap())
    {
        assert_eq!(
            g.metrics["namespace_pod_count"].samples[0].value,
            value(h, "namespace_pod_count")
        );
        assert_eq!(
            g.links["workloads"],
            h["links"]["workloads"].as_str().unwrap()
        );
    }
    let denied = client
        .drill_down(call(
            "alice",
            DrillDownRequest {
                level: Level::Node as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let invalid = client
        .drill_down(call("alice", DrillDownRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_catalog_replaces_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.toml");
    let custom = r#"
[levels.node]
inventory = 'max by (node) (kube_node_info{node=~"$node"})'
[levels.namespace]
inventory = 'max by (namespace) (kube_namespace_labels{namespace=~"$namespace"})'
[levels.workload]
inventory = 'max by (namespace, workload) (label_join(kube_pod_owner{namespace=~"$namespace"}, "workload", ":", "owner_kind", "owner_name"))'
[levels.pod]
inventory = 'max by (namespace, pod, node) (kube_pod_info{namespace=~"$namespace", pod=~"$pod", node=~"$node"})'
[levels.container]
inventory = 'max by (namespace, pod, container) (kube_pod_container_info{namespace=~"$namespace", pod=~"$pod", container=~"$container"})'

[[metrics]]
name = "namespace_sidecar_count"
level = "namespace"
workspace = "workspace_sidecar_count"
unit = "count"
help = "Sidecar containers."
query = 'count by (namespace) (kube_pod_container_info{container="sidecar", namespace=~"$namespace"})'
"#;
    std::fs::write(&path, custom).unwrap();
    let url = tokio::task::spawn_blocking(|| simulated().process.url().to_string())
        .await
        .unwrap();
    let extra = format!(
        "\n[monitoring]\ncatalog = {:?}\n",
        path.display().to_string()
    );
    let p = common::periscope_at(&url, &extra).await;
    let catalog = get(&p, "alice", "/api/v1/catalog", &[]).await;
    let names: Vec<&str> = catalog.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["workspace_sidecar_count", "namespace_sidecar_count"]
    );
    let cluster = &simulated().cluster;
    let sidecars = pods_in(cluster, &["team-a"])
        .flat_map(|p| &p.containers)
        .filter(|c| c.name == "sidecar")
        .count();
    let a = get(&p, "alice", "/api/v1/namespaces/team-a", &[]).await;
    if sidecars > 0 {
        assert_eq!(
            value(&a.body["items"][0], "namespace_sidecar_count"),
            sidecars as f64
        );
    }
    let gone = get(
        &p,
        "alice",
        "/api/v1/namespaces/team-a",
        &[("metrics", "namespace_pod_count")],
    )
    .await;
    assert_eq!(gone.status, 400, "{}", gone.raw);

    // A broken catalog file stops the server from starting, naming the file.
    std::fs::write(&path, "[levels.node]\ninventory = 'sum('\n").unwrap();
    let text = periscope_sandbox::demo_config(&url, "127.0.0.1:0", "127.0.0.1:0") + &extra;
    let config = periscope_config::Config::from_toml(&text, "test", &Default::default()).unwrap();
    let error = periscope_api::Server::bind(config)
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("catalog.toml"), "{error}");
}

/// Queries Prometheus has answered on `/api/v1/query`, from its own
/// counters (`prometheus_http_requests_total`, read from `/metrics`, which is
/// not itself a query).
async fn queries_answered(http: &reqwest::Client, prometheus: &str) -> u64 {
    let text = http
        .get(format!("{prometheus}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("prometheus_http_requests_total{")
                && l.contains("handler=\"/api/v1/query\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
        .sum()
}

/// Ten viewers loading the same page within the sharing interval cost
/// Prometheus one page's queries; the sharing is scope-aware (the key is the
/// enforced query), so a tenant loading the page meanwhile still gets only
/// its namespaces. Counted on a Prometheus of this test's own (nothing else
/// queries it; no workspace discovery configured).
#[tokio::test]
async fn viewers_of_the_same_page_share_one_evaluation_and_never_another_scope() {
    let prometheus = tokio::task::spawn_blocking(|| {
        periscope_sandbox::PrometheusProcess::start()
            .unwrap_or_else(|e| panic!("cannot start Prometheus: {e}"))
    })
    .await
    .unwrap();
    let time = prometheus.sample().eval_time().to_string();
    let config = |ttl: &str| {
        let mut text = format!(
            "[server]\nhttp_listen = \"127.0.0.1:0\"\ngrpc_listen = \"127.0.0.1:0\"\n\n[[clusters]]\nname = \"default\"\nprometheus = {{ url = \"{}\" }}\n\n[[workspaces]]\nname = \"ws-a\"\nnamespaces = [\"team-a\", \"team-a-dev\"]\n\n[[workspaces]]\nname = \"ws-b\"\nnamespaces = [\"team-b\"]\n\n[monitoring]\nshared_results_ttl = \"{ttl}\"\n",
            prometheus.url()
        );
        for name in ["admin", "alice", "bob"] {
            let t = periscope_sandbox::DemoTenant::named(name);
            text += &format!(
                "\n[[principals]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\n{}\n",
                periscope_tenancy::auth::token_sha256(t.token),
                t.grant
            );
        }
        text
    };
    let metrics = "namespace_cpu_usage,namespace_memory_usage_wo_cache,namespace_pod_count";
    let page = |p: &Periscope, tenant: &'static str| {
        p.http
            .get(format!("{}/api/v1/namespaces", p.base))
            .query(&[("metrics", metrics), ("time", time.as_str())])
            .bearer_auth(token(tenant))
            .send()
    };
    let http = reqwest::Client::new();

    // One page, nothing shared: how many queries a page is.
    let unshared = common::periscope_from(&config("0s")).await;
    let before = queries_answered(&http, prometheus.url()).await;
    let alone = answer(page(&unshared, "admin").await.unwrap()).await;
    assert_eq!(alone.status, 200, "{}", alone.raw);
    let per_page = queries_answered(&http, prometheus.url()).await - before;
    assert!(per_page >= 2, "{per_page}");
    // Unshared, ten pages are ten times that.
    let before = queries_answered(&http, prometheus.url()).await;
    let pages = futures::future::join_all((0..10).map(|_| page(&unshared, "admin"))).await;
    assert!(pages.iter().all(|r| r.as_ref().unwrap().status() == 200));
    assert_eq!(
        queries_answered(&http, prometheus.url()).await - before,
        10 * per_page
    );

    // Shared: ten viewers at once, and then another, cost one page.
    let shared = common::periscope_from(&config("60s")).await;
    let before = queries_answered(&http, prometheus.url()).await;
    let pages = futures::future::join_all((0..10).map(|_| page(&shared, "admin"))).await;
    let mut bodies = Vec::new();
    for r in pages {
        let a = answer(r.unwrap()).await;
        assert_eq!(a.status, 200, "{}", a.raw);
        bodies.push(a.body);
    }
    let later = answer(page(&shared, "admin").await.unwrap()).await;
    assert_eq!(
        queries_answered(&http, prometheus.url()).await - before,
        per_page
    );
    assert!(bodies.iter().all(|b| *b == alone.body));
    assert_eq!(later.body, alone.body);

    // Pages without `time` (the latest data) share too: the second viewer
    // gets the first one's evaluation.
    let latest = |p: &Periscope| {
        p.http
            .get(format!("{}/api/v1/namespaces", p.base))
            .query(&[("metrics", metrics)])
            .bearer_auth(token("admin"))
            .send()
    };
    let before = queries_answered(&http, prometheus.url()).await;
    let first = answer(latest(&shared).await.unwrap()).await;
    let second = answer(latest(&shared).await.unwrap()).await;
    assert_eq!(first.status, 200, "{}", first.raw);
    assert_eq!(first.body["items"], second.body["items"]);
    assert_eq!(
        queries_answered(&http, prometheus.url()).await - before,
        per_page
    );

    // Tenants asking the same page while the admin's answers are kept get
    // their own evaluations, and only their namespaces.
    let before = queries_answered(&http, prometheus.url()).await;
    for (tenant, expected) in [
        ("alice", vec!["team-a", "team-a-dev"]),
        ("bob", vec!["team-b"]),
    ] {
        let a = answer(page(&shared, tenant).await.unwrap()).await;
        assert_eq!(a.status, 200, "{}", a.raw);
        assert_eq!(names(&a), expected, "{tenant}: {}", a.raw);
        assert!(!a.raw.contains("kube-system"), "{}", a.raw);
    }
    assert_eq!(
        queries_answered(&http, prometheus.url()).await - before,
        2 * per_page
    );
}
