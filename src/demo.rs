//! `periscope demo`: the simulated cluster, a real Prometheus scraping it
//! (preloaded with the last hour of the same simulation), and Periscope in
//! front of it with the demo tenants.

use crate::shutdown_signal;
use anyhow::Context;
use periscope_api::Server;
use periscope_config::Config;
use periscope_sandbox::{
    demo_config, demo_storage_config, PrometheusProcess, DEMO_INGEST_TOKEN, DEMO_TENANTS,
};
use periscope_simulator::{openmetrics_history, scrape_jobs, Cluster, ClusterSpec};
use std::collections::HashMap;

/// Seconds between samples of the backfilled hour.
const HISTORY_STEP: i64 = 15;

/// The demo's cluster: the simulator's default plus workspace `ws-c`, which
/// Periscope only learns from `kube_namespace_labels` (carol's workspace).
fn demo_cluster() -> Cluster {
    let mut spec = ClusterSpec::default();
    spec.workspaces.push(("ws-c".into(), vec!["team-c".into()]));
    Cluster::generate(&spec)
}

pub(crate) async fn run(http_listen: String, grpc_listen: String) -> anyhow::Result<()> {
    let cluster = demo_cluster();
    let simulator = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let simulator_addr = simulator.local_addr()?.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let origin = now - 3600;
    println!("Simulating {} on {simulator_addr}.", cluster.summary());
    println!("Starting Prometheus with the last hour of the simulation, scraping it live...");
    let history = openmetrics_history(
        &cluster,
        &simulator_addr,
        origin,
        origin,
        now - HISTORY_STEP,
        HISTORY_STEP,
    );
    let jobs = scrape_jobs(&simulator_addr);
    let prometheus =
        tokio::task::spawn_blocking(move || PrometheusProcess::start_with(&history, &jobs))
            .await??;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait_stop = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let simulation = tokio::spawn(periscope_simulator::serve(
        simulator,
        cluster,
        Some(origin as f64),
        wait_stop(),
    ));

    // The built-in alert rules run too (state in memory only): within a
    // minute the crash-looping pod's restarts fire an alert, and its BackOff
    // events and the exec into it fire event and audit alerts. Periscope's
    // notification pipeline sends them to a receiver that prints them.
    // Logs go to the embedded store, in a directory removed on exit.
    let data_dir = std::env::temp_dir().join(format!("periscope-demo-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let receiver = notification_printer().await?;
    let notifications = data_dir.join("notifications.yaml");
    std::fs::write(
        &notifications,
        format!(
            "route:\n  receiver: demo\n  group_by: [alertname, namespace]\n  group_wait: 5s\n  group_interval: 1m\n  repeat_interval: 4h\nreceivers:\n  - name: demo\n    webhook_configs:\n      - url: {receiver}\n"
        ),
    )?;
    let text = demo_config(prometheus.url(), &http_listen, &grpc_listen)
        + &format!(
            "\n[alerting]\nbuiltin_rules = true\nnotifications = {:?}\n",
            notifications.display().to_string()
        )
        + &demo_storage_config(&data_dir);
    let config = Config::from_toml(&text, "demo configuration", &HashMap::new())?;
    let server = Server::bind(config).await?;
    let base = format!("http://{}", server.http_addr());
    // The simulated pods' logs: the last hour at once, then every two seconds.
    let shipper = tokio::spawn(periscope_simulator::ship_logs(
        demo_cluster(),
        format!("{base}/_bulk"),
        DEMO_INGEST_TOKEN.to_string(),
        origin,
        std::time::Duration::from_secs(2),
        wait_stop(),
    ));
    // Their requests' traces, over OTLP/HTTP as an SDK exports them.
    let tracer = tokio::spawn(periscope_simulator::ship_traces(
        demo_cluster(),
        format!("{base}/v1/traces"),
        DEMO_INGEST_TOKEN.to_string(),
        origin,
        std::time::Duration::from_secs(2),
        wait_stop(),
    ));
    // Its Kubernetes events, as kube-events ships them, and the apiserver's
    // audit records, as its webhook backend sends them.
    let events = tokio::spawn(periscope_simulator::ship_events(
        demo_cluster(),
        format!("{base}/api/v1/events/ingest"),
        DEMO_INGEST_TOKEN.to_string(),
        origin,
        std::time::Duration::from_secs(2),
        wait_stop(),
    ));
    let audit = tokio::spawn(periscope_simulator::ship_audit(
        demo_cluster(),
        format!("{base}/api/v1/audit/webhook"),
        DEMO_INGEST_TOKEN.to_string(),
        origin,
        std::time::Duration::from_secs(2),
        wait_stop(),
    ));
    // The failing service: the workload of the crash-looping pod (carol's).
    let walk_cluster = demo_cluster();
    let crashing = walk_cluster
        .pods
        .iter()
        .find(|p| p.crash_looping)
        .context("the simulated cluster has a crash-looping pod")?;
    let (failing_ns, failing_pod) = (crashing.namespace.clone(), crashing.name.clone());
    let failing_service = walk_cluster.workloads[crashing.workload].name.clone();
    println!(
        "\nPeriscope is up.\n  Drill-down API:        {base}/api/v1/\n  Prometheus API:        {base}/prometheus  (Grafana Prometheus datasource URL; dashboards in dashboards/)\n  Loki API:              {base}  (Grafana Loki datasource URL: logs, events, audit in LogQL)\n  Jaeger API:            {base}/jaeger  (Grafana Jaeger datasource URL)\n  Tempo API:             {base}/tempo  (Grafana Tempo datasource URL, streaming off)\n  OTLP/HTTP traces:      {base}/v1/traces  (Bearer {DEMO_INGEST_TOKEN})\n  Events / audit:        {base}/api/v1/events, {base}/api/v1/auditing/events  (ingest: /api/v1/events/ingest, /api/v1/audit/webhook)\n  gRPC:                  {}  (also OTLP/gRPC)\n  Prometheus (direct):   {}\n",
        server.grpc_addr(),
        prometheus.url()
    );
    println!("Tokens (demo only):");
    for t in DEMO_TENANTS {
        println!("  {:<7} {:<20} sees {}", t.name, t.token, t.sees);
    }
    println!(
        r#"
Try:
  # alice's workspace, then its namespaces, then the busiest pods of team-a (follow the "links")
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/workspaces?metrics=workspace_cpu_usage,workspace_pod_count'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/workspaces/ws-a/namespaces?metrics=~namespace_(cpu|memory)_usage'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/namespaces/team-a/pods?metrics=pod_cpu_usage,pod_memory_usage_wo_cache&sort_metric=pod_cpu_usage&limit=3'
  # ...bob's namespace and the node view are refused with 403
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/namespaces/team-b/pods'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/nodes'
  # the admin ranks nodes by CPU (one node is saturated) and finds the crash-looping pod
  curl -s -u admin:admin-demo-token '{base}/api/v1/nodes?metrics=node_cpu_utilisation,node_pod_count&sort_metric=node_cpu_utilisation'
  curl -s -u admin:admin-demo-token '{base}/prometheus/api/v1/query' --data-urlencode 'query=sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total[15m])) > 0'
  # any PromQL, rewritten into the tenant's scope
  promtool query instant 'http://alice:alice-demo-token@{addr}/prometheus' 'sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))'
  # log search, scoped the same way: alice's errors, a histogram, and an export
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/logs?log_query=error&size=5'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/logs?operation=histogram&interval=5m'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/logs?operation=export&workloads=web' | head
  # the same logs in LogQL, as Grafana's Loki datasource asks: alice's errors per pod,
  # and the crash-looping pod's lines and Kubernetes events together (carol's)
  curl -s -G -H 'Authorization: Bearer alice-demo-token' '{base}/loki/api/v1/query' --data-urlencode 'query=sum by (pod) (count_over_time({{namespace=~".+"}} |= "ERROR" [10m]))'
  curl -s -G -H 'Authorization: Bearer carol-demo-token' '{base}/loki/api/v1/query_range' --data-urlencode 'query={{source=~"|events", pod="{failing_pod}"}}' --data-urlencode limit=10
  # traces, scoped the same way: alice's services, her newest failing requests
  # (the call into bob's namespace shows as one opaque node), and a trace by id
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/jaeger/api/services'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/jaeger/api/traces?service=<a service above>&tags=%7B%22error%22%3A%22true%22%7D&limit=5'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/jaeger/api/dependencies'
  curl -s -H 'Authorization: Bearer bob-demo-token' '{base}/jaeger/api/traces/<a trace id of alice's>'   # 404 unless it reached team-b
  # microservices from the spans (span metrics appear within 15 s): carol's services
  # ranked by error ratio, the failing one with its pods and links, its pod's error
  # logs, a failing request's trace in Tempo's API (TraceQL), and her topology
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/namespaces/{failing_ns}/services?sort_metric=service_error_ratio'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/namespaces/{failing_ns}/services/{failing_service}'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/logs?namespaces={failing_ns}&pods={failing_pod}&log_query=error&size=5'
  curl -s -G -H 'Authorization: Bearer carol-demo-token' '{base}/tempo/api/search' --data-urlencode 'q={{ resource.service.name = "{failing_service}" && status = error }}' --data-urlencode limit=1
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/tempo/api/v2/traces/<the traceID above>'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/namespaces/{failing_ns}/topology'
  # alice's topology: her call into another workspace ends at "(outside your scope)",
  # and the other side sees it coming from there
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/api/v1/namespaces/team-a/topology'
  curl -s -H 'Authorization: Bearer alice-demo-token' '{base}/prometheus/api/v1/query' --data-urlencode 'query=sum by (client, server) (rate(traces_service_graph_request_total[5m]))'
  # Kubernetes events, scoped the same way: carol's warnings (the crash loop's
  # BackOff, one event with a rising count), the pod's events as `kubectl events`
  # shows them, and event counts per 10 minutes; the node's pressure is the admin's
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/events?type_filter=Warning'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/namespaces/{failing_ns}/events?for=pod/{failing_pod}'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/events?operation=histogram&interval=10m'
  curl -s -u admin:admin-demo-token '{base}/api/v1/events?involved_object_kind_filter=Node'
  # audit records: who exec'd into carol's pod, who read her secrets (bodies of
  # secrets are never stored), and every lease renewal for the admin
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/auditing/events?objectref_subresource_filter=exec'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/auditing/events?objectref_resource_filter=secrets&operation=statistics'
  curl -s -u admin:admin-demo-token '{base}/api/v1/auditing/events?objectref_resource_filter=leases&size=3'
  # every named metric
  curl -s -u admin:admin-demo-token '{base}/api/v1/catalog'
  # the built-in alert rules Periscope evaluates (metric, event and audit rules),
  # and carol's alerts: her pod restarts too often (after a minute) and its
  # BackOff events fire kube-events' ContainerBackoff; the admin also sees the
  # exec into it (AttachOrExecPod); every notification sent is in the history
  curl -s -u admin:admin-demo-token '{base}/prometheus/api/v1/rules?type=alert'
  curl -s -H 'Authorization: Bearer carol-demo-token' '{base}/prometheus/api/v1/alerts'
  curl -s -u admin:admin-demo-token '{base}/prometheus/api/v1/alerts'
  curl -s -u admin:admin-demo-token '{base}/api/v1/alerting/notifications'
  # carol's own event rule: at least 3 BackOff reports of one pod in 15 minutes (its
  # window starts empty: with a report every 5 minutes it fires about 10 minutes later)
  curl -s -X PUT -H 'Authorization: Bearer carol-demo-token' '{base}/api/v1/alerting/namespaces/{failing_ns}/groups/crash-loops' --data-binary $'type: event\ninterval: 30s\nrules:\n  - alert: PodKeepsBackingOff\n    condition: reason = "BackOff"\n    threshold: {{count: 3, window: 15m}}\n    annotations: {{summary: "{{{{ $labels.pod }}}} backed off {{{{ $value }}}} times: %message"}}\n'

Press Ctrl-C to stop."#,
        addr = server.http_addr()
    );
    // Ctrl-C or SIGTERM stops the server; the simulator stops with it (also
    // when the server fails, as the sender is then dropped).
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let served = server.run(wait_stop()).await;
    signal.abort();
    let _ = shipper.await;
    let _ = tracer.await;
    let _ = events.await;
    let _ = audit.await;
    let _ = std::fs::remove_dir_all(&data_dir);
    println!("Stopping the simulator and Prometheus...");
    let _ = simulation.await;
    tokio::task::spawn_blocking(move || drop(prometheus)).await?;
    served?;
    Ok(())
}

/// A webhook receiver for the demo's notifications: prints one line per
/// message (status, alert names, namespaces). Returns its URL.
async fn notification_printer() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the demo's notification receiver")?;
    let url = format!("http://{}/notify", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(
            |axum::Json(message): axum::Json<serde_json::Value>| async move {
                let alerts = message["alerts"].as_array().cloned().unwrap_or_default();
                let names: std::collections::BTreeSet<String> = alerts
                    .iter()
                    .map(|a| {
                        let l = &a["labels"];
                        let ns = l["namespace"].as_str().unwrap_or("-");
                        format!("{} ({ns})", l["alertname"].as_str().unwrap_or("?"))
                    })
                    .collect();
                let names: Vec<String> = names.into_iter().collect();
                println!(
                    "notification: {} {}",
                    message["status"].as_str().unwrap_or("?"),
                    names.join(", ")
                );
            },
        ),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "the demo's notification receiver stopped");
        }
    });
    Ok(url)
}
