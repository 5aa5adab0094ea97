//! Metrics generated from spans as they are ingested, with Tempo's
//! metrics-generator names, labels, units and buckets, so Grafana's service
//! graph and RED table work unchanged:
//!
//! - span metrics: `traces_spanmetrics_calls_total` and the
//!   `traces_spanmetrics_latency` histogram by `service`, `span_name`,
//!   `span_kind`, `status_code` — and the span's namespace;
//! - service-graph edges: `traces_service_graph_request_total`,
//!   `_failed_total` and the `_server_seconds`/`_client_seconds` histograms by
//!   `client`, `server`, `connection_type`, from client and server spans
//!   paired with a bounded wait ([`pairing`]), database calls and virtual
//!   nodes as Tempo makes them;
//! - every series scoped by namespace; an edge between namespaces is written
//!   so that PromQL enforcement shows each caller one view of it ([`views`]).
//!
//! Series are written to the cluster's Prometheus by remote write.

mod facts;
mod generator;
mod histogram;
pub mod names;
mod pairing;
mod registry;
mod views;

pub use generator::{unix_ms, SpanFactBatch, SpanMetrics, SpanMetricsOptions, SpanMetricsStats};
pub use pairing::PairingStats;
pub use registry::SeriesStats;

#[cfg(test)]
mod tests;
