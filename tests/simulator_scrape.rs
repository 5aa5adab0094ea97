//! A real Prometheus scraping `periscope simulate`'s three exporters sees exactly
//! the generated cluster: its pods, its crash-looping pod, its saturated node.

use periscope_sandbox::PrometheusProcess;
use periscope_simulator::{Cluster, ClusterSpec};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn query(prometheus: &str, q: &str) -> Vec<Value> {
    let r = reqwest::Client::new()
        .post(format!("{prometheus}/api/v1/query"))
        .form(&[("query", q)])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "success", "{q}: {body}");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_the_simulated_cluster() {
    let spec = ClusterSpec::default();
    let cluster = Cluster::generate(&spec);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let simulator = tokio::spawn(periscope_simulator::serve(
        listener,
        cluster.clone(),
        None,
        async {
            let _ = stopped.await;
        },
    ));
    let jobs = periscope_simulator::scrape_jobs(&addr.to_string());
    let prometheus =
        tokio::task::spawn_blocking(move || PrometheusProcess::start_with_scrape_jobs(&jobs))
            .await
            .unwrap()
            .expect("prometheus starts");
    let url = prometheus.url().to_string();
    // The sandbox also holds backfilled sample data under the same names; the
    // scraped kube-state-metrics and cAdvisor series carry the target as `instance`.
    let sim = format!("instance=\"{addr}\"");

    // Wait (bounded) until all three exporters have been scraped once.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = query(&url, &format!("count(up{{job=~\"node-exporter|kubelet|kube-state-metrics\"}} == 1) == 3 and count(kube_pod_info{{{sim}}}) > 0")).await;
        if !up.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exporters not scraped within 30s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let pods = query(&url, &format!("count(kube_pod_info{{{sim}}})")).await;
    assert_eq!(value(&pods[0]) as usize, cluster.pods.len());
    let per_node = query(&url, &format!("count by (node) (kube_pod_info{{{sim}}})")).await;
    for sample in &per_node {
        let node = sample["metric"]["node"].as_str().unwrap();
        let index = cluster.nodes.iter().position(|n| n.name == node).unwrap();
        assert_eq!(
            value(sample) as usize,
            cluster.pods.iter().filter(|p| p.node == index).count(),
            "{node}"
        );
    }
    let crashing = cluster.pods.iter().find(|p| p.crash_looping).unwrap();
    let waiting = query(
        &url,
        "kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\"}",
    )
    .await;
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0]["metric"]["pod"], crashing.name.as_str());
    assert_eq!(
        waiting[0]["metric"]["namespace"],
        crashing.namespace.as_str()
    );
    let workspaces = query(&url, &format!("count by (label_kubesphere_io_workspace) (kube_namespace_labels{{label_kubesphere_io_workspace!=\"\",{sim}}})")).await;
    assert_eq!(workspaces.len(), spec.workspaces.len());
    let saturated = cluster.nodes.iter().find(|n| n.saturated).unwrap();
    let capacity = query(
        &url,
        &format!(
            "kube_node_status_capacity{{node=\"{}\",resource=\"cpu\"}}",
            saturated.name
        ),
    )
    .await;
    assert_eq!(value(&capacity[0]), f64::from(saturated.cpu_cores));
    let deployments = query(
        &url,
        "kube_deployment_spec_replicas - kube_deployment_status_replicas_available > 0",
    )
    .await;
    let crashing_workload = &cluster.workloads[crashing.workload];
    if crashing_workload.kind == periscope_simulator::WorkloadKind::Deployment {
        assert_eq!(deployments.len(), 1);
        assert_eq!(
            deployments[0]["metric"]["deployment"],
            crashing_workload.name.as_str()
        );
    } else {
        assert!(deployments.is_empty(), "{deployments:?}");
    }

    let _ = stop.send(());
    simulator.await.unwrap().unwrap();
    tokio::task::spawn_blocking(move || drop(prometheus))
        .await
        .unwrap();
}
