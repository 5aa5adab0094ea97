//! The service level of the drill-down: a service's page with the pods that
//! served it (from the span store) and its operations, the services of a pod
//! or workload, and a namespace's topology from the service-graph series —
//! every Prometheus query enforced for the caller like any other.

use crate::state::{AppState, Caller, Cluster};
use periscope_model::Result;
use periscope_monitoring::{
    logs_link, topology, topology_queries, DrillDown, Level, NameFilter, Page, Selection,
    ServedPod, ServicePage, Topology, Window, WorkloadKind,
};
use periscope_traces::Placement;

/// How far back an instant page looks for the spans of its pods.
const INSTANT_SPAN_WINDOW_SECONDS: f64 = 3600.0;
/// The window of a Jaeger-backed cluster's topology (Jaeger counts calls, not rates).
const TOPOLOGY_WINDOW_SECONDS: f64 = 3600.0;

/// Whose services to list.
pub(crate) enum PlacedIn {
    Pod(String),
    Workload(WorkloadKind, String),
}

impl AppState {
    /// `namespaces/{ns}/services/{service}`.
    pub(crate) async fn service_page(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        request: DrillDown,
    ) -> Result<ServicePage> {
        let namespace = request.selection.namespace.clone().unwrap_or_default();
        let service = request.selection.service.clone().unwrap_or_default();
        let window = request.window;
        let mut page = self.drill_down(caller, cluster, request).await?;
        let (pods, operations, spans_error) = match self.placements(caller, cluster, window).await {
            Err(e) => (Vec::new(), Vec::new(), Some(e.message().to_string())),
            Ok(placements) => {
                let pods: Vec<ServedPod> = placements
                    .iter()
                    .filter(|p| p.service == service && p.namespace == namespace)
                    .map(|p| {
                        ServedPod::new(&cluster.name, &p.namespace, &p.pod, &p.workload, p.spans)
                    })
                    .collect();
                match self.operations_of(cluster, &namespace, &service).await {
                    Ok(operations) => (pods, operations, None),
                    Err(e) => (pods, Vec::new(), Some(e.message().to_string())),
                }
            }
        };
        if let Some(item) = page.items.first_mut() {
            let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
            if !names.is_empty() {
                item.links
                    .insert("logs".into(), logs_link(&cluster.name, &namespace, &names));
            }
        }
        Ok(ServicePage {
            page,
            operations,
            pods,
            spans_error,
        })
    }

    /// `namespaces/{ns}/pods/{pod}/services` and
    /// `namespaces/{ns}/workloads/{kind}/{name}/services`: the services whose
    /// spans came from there in the window.
    pub(crate) async fn services_of(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        mut request: DrillDown,
        placed: PlacedIn,
    ) -> Result<Page> {
        let namespace = request.selection.namespace.clone().unwrap_or_default();
        let placements = self.placements(caller, cluster, request.window).await?;
        let mut services: Vec<String> = placements
            .into_iter()
            .filter(|p| p.namespace == namespace)
            .filter(|p| match &placed {
                PlacedIn::Pod(pod) => &p.pod == pod,
                PlacedIn::Workload(kind, name) => p.workload == format!("{}:{name}", kind.as_str()),
            })
            .map(|p| p.service)
            .filter(|s| request.resources.matches(s))
            .collect();
        services.dedup();
        request.selection = Selection {
            namespace: Some(namespace),
            ..Selection::of(Level::Service)
        };
        request.resources = NameFilter::Names(services);
        self.drill_down(caller, cluster, request).await
    }

    /// `namespaces/{ns}/topology`.
    pub(crate) async fn topology(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        namespace: &str,
        time: f64,
    ) -> Result<Topology> {
        // The same check as every drill-down route in a namespace.
        let selection = Selection {
            namespace: Some(namespace.to_string()),
            ..Selection::of(Level::Service)
        };
        crate::drilldown::allowed_namespaces(&caller.scope, &self.scopes.membership(), &selection)?;
        if self.traces_from_jaeger(cluster) {
            return self.jaeger_topology(caller, cluster, namespace, time).await;
        }
        let keys = ["requests", "failed", "server_p95", "client_p95"];
        let jobs = keys
            .iter()
            .zip(topology_queries(namespace))
            .map(|(k, q)| (k.to_string(), q))
            .collect();
        let mut results = self
            .evaluate_batched(caller, cluster, jobs, Window::Instant { time }, false)
            .await?;
        let mut answers = keys.map(|_| Vec::new());
        for (slot, key) in answers.iter_mut().zip(keys) {
            if let Some(outcome) = results.remove(key) {
                *slot = outcome?;
            }
        }
        Ok(topology(&cluster.name, namespace, answers))
    }

    /// Whether the cluster's spans are in Jaeger (none pass through Periscope,
    /// so no service-graph series are generated for it).
    fn traces_from_jaeger(&self, cluster: &Cluster) -> bool {
        self.config
            .clusters
            .iter()
            .find(|c| c.name == cluster.name)
            .and_then(|c| self.config.traces_backend(c))
            .is_some_and(|t| matches!(t, periscope_config::TracesConfig::Jaeger(_)))
    }

    /// A Jaeger-backed cluster's topology: Jaeger's dependency graph of the
    /// last `TOPOLOGY_WINDOW_SECONDS` (scoped: foreign ends are one opaque
    /// node), the calls touching `namespace`'s services, as rates.
    async fn jaeger_topology(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        namespace: &str,
        time: f64,
    ) -> Result<Topology> {
        let traces = self.trace_service(Some(&cluster.name))?;
        let (_permit, timeout) = self.query_slot(caller)?;
        let ns = |seconds: f64| (seconds * 1e9) as i64;
        let start = time - TOPOLOGY_WINDOW_SECONDS;
        // The namespace's own services, to keep the edges that touch them.
        let scope = periscope_model::Scope::namespaces([namespace]);
        let (edges, own) = crate::state::within(timeout, "reading Jaeger's dependencies", async {
            let edges = traces
                .dependencies(ns(start), ns(time), &caller.scope)
                .await?;
            let own = traces.services(&scope).await?;
            Ok((edges, own))
        })
        .await?;
        let calls: Vec<(String, String, f64)> = edges
            .into_iter()
            .filter(|e| own.contains(&e.parent) || own.contains(&e.child))
            .map(|e| (e.parent, e.child, e.calls as f64 / TOPOLOGY_WINDOW_SECONDS))
            .collect();
        Ok(periscope_monitoring::topology_of_calls(
            &cluster.name,
            namespace,
            calls,
        ))
    }

    /// Where services ran in the page's window, as the caller may see it.
    async fn placements(
        &self,
        caller: &Caller,
        cluster: &Cluster,
        window: Window,
    ) -> Result<Vec<Placement>> {
        let (start, end) = match window {
            Window::Instant { time } => (time - INSTANT_SPAN_WINDOW_SECONDS, time),
            Window::Range { start, end, .. } => (start, end),
        };
        let ns = |seconds: f64| (seconds * 1e9) as i64;
        let traces = self.trace_service(Some(&cluster.name))?;
        let (_permit, timeout) = self.query_slot(caller)?;
        crate::state::within(
            timeout,
            "reading spans",
            traces.placements(ns(start), ns(end), &caller.scope),
        )
        .await
    }

    /// The operations of `service` in `namespace` (the drill-down has
    /// already checked that the caller may see the namespace).
    async fn operations_of(
        &self,
        cluster: &Cluster,
        namespace: &str,
        service: &str,
    ) -> Result<Vec<String>> {
        let traces = self.trace_service(Some(&cluster.name))?;
        let scope = periscope_model::Scope::namespaces([namespace]);
        let mut names: Vec<String> = traces
            .operations(service.to_string(), None, &scope)
            .await?
            .into_iter()
            .map(|o| o.name)
            .collect();
        names.dedup();
        Ok(names)
    }
}
