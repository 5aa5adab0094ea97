//! Periscope's API surface: the Prometheus-compatible HTTP API (what Grafana's
//! Prometheus datasource and `promtool` speak), the gRPC services, and the
//! operations endpoints, all behind the same authentication and tenant enforcement.

mod alerting;
mod discovery;
mod drilldown;
mod embedded;
mod error;
mod grpc;
mod http;
mod limiter;
mod logs;
mod query;
mod records;
mod server;
mod services;
mod state;
mod telemetry;
mod time;
mod traces;

pub use server::{BoundServer, Server, Services};
