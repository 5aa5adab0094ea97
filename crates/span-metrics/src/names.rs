//! Tempo's metric names, label names and values, and default buckets, so
//! Grafana's service graph and RED table read Periscope's series unchanged.

pub const CALLS_TOTAL: &str = "traces_spanmetrics_calls_total";
pub const LATENCY: &str = "traces_spanmetrics_latency";
pub const REQUEST_TOTAL: &str = "traces_service_graph_request_total";
pub const REQUEST_FAILED_TOTAL: &str = "traces_service_graph_request_failed_total";
pub const REQUEST_SERVER_SECONDS: &str = "traces_service_graph_request_server_seconds";
pub const REQUEST_CLIENT_SECONDS: &str = "traces_service_graph_request_client_seconds";

/// `prometheus.ExponentialBuckets(0.002, 2, 14)`: span latency, seconds.
pub const SPAN_LATENCY_BUCKETS: [f64; 14] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
    16.384,
];

/// `prometheus.ExponentialBuckets(0.1, 2, 8)`: service-graph latency, seconds.
pub const EDGE_LATENCY_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// The client of an edge whose root server span nobody called: Tempo's name.
pub const USER: &str = "user";

/// `connection_type` of an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionType {
    /// A client span paired with a server span.
    Direct,
    /// A producer span paired with a consumer span.
    MessagingSystem,
    /// A client span calling a database.
    Database,
    /// An edge with a side no span stands for (`user`, a `peer.service`).
    VirtualNode,
}

impl ConnectionType {
    pub fn label(self) -> &'static str {
        match self {
            ConnectionType::Direct => "",
            ConnectionType::MessagingSystem => "messaging_system",
            ConnectionType::Database => "database",
            ConnectionType::VirtualNode => "virtual_node",
        }
    }
}

/// `span_kind` as Tempo writes it.
pub fn span_kind(kind: i32) -> &'static str {
    match kind {
        1 => "SPAN_KIND_INTERNAL",
        2 => "SPAN_KIND_SERVER",
        3 => "SPAN_KIND_CLIENT",
        4 => "SPAN_KIND_PRODUCER",
        5 => "SPAN_KIND_CONSUMER",
        _ => "SPAN_KIND_UNSPECIFIED",
    }
}

/// `status_code` as Tempo writes it.
pub fn status_code(code: i32) -> &'static str {
    match code {
        1 => "STATUS_CODE_OK",
        2 => "STATUS_CODE_ERROR",
        _ => "STATUS_CODE_UNSET",
    }
}

/// Attributes naming the peer a client span called, or the caller of a root
/// server span (Tempo's `peer_attributes`).
pub const PEER_ATTRIBUTES: [&str; 4] = ["peer.service", "db.name", "db.system", "db.system.name"];

/// Attributes that make a client span a database call (Tempo's
/// `database_name_attributes`).
pub const DATABASE_ATTRIBUTES: [&str; 4] =
    ["db.namespace", "db.name", "db.system", "db.system.name"];
