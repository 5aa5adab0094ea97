//! A local sandbox for the demo, the integration tests and the benchmarks: a
//! real Prometheus (the `prometheus` binary, e.g. Debian's package) on a free
//! loopback port, preloaded with deterministic sample data of a small cluster,
//! and the demo tenants that see parts of it.

mod alertmanager;
mod prometheus;
mod sample;
mod tenants;

pub use alertmanager::AlertmanagerProcess;
pub use prometheus::{find_binary, PrometheusProcess, SandboxError};
pub use sample::SampleCluster;
pub use tenants::{demo_config, demo_storage_config, DemoTenant, DEMO_INGEST_TOKEN, DEMO_TENANTS};
