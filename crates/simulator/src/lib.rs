//! A simulated Kubernetes cluster for demos and tests: the `/metrics` that
//! node-exporter, cAdvisor (the kubelet) and kube-state-metrics would expose for
//! a cluster of nodes, workspaces, namespaces, Deployments, StatefulSets,
//! DaemonSets, pods and containers, with load that changes over time, a
//! crash-looping pod and a saturated node; its pods' container logs, the
//! distributed traces of requests across its services, its Kubernetes events
//! and the apiserver's audit records.
//!
//! Everything is a pure function of the seed and the time: the same seed gives
//! the same cluster, and the same time gives the same sample values, so tests
//! can compute expected values by hand.

mod audit;
mod events;
mod exposition;
mod history;
mod logs;
mod random;
mod server;
mod ship;
mod topology;
mod traces;

pub use audit::{audit_events, ship as ship_audit};
pub use events::{events, ship as ship_events};
pub use exposition::{
    render, scrape_jobs, Exporter, CONTAINER_CPU_SWING, CRASH_LOOP_SECONDS, PERIOD_SECONDS,
};
pub use history::openmetrics_history;
pub use logs::{bulk_body, log_lines, ship as ship_logs, LogLine};
pub use server::serve;
pub use topology::{Cluster, ClusterSpec, Container, Node, Pod, Workload, WorkloadKind};
pub use traces::{otlp_json, ship as ship_traces, spans, SimSpan};
