//! Periscope's own metrics, served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    cluster: String,
    endpoint: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Request counters and latency histograms, per endpoint and per backend.
pub(crate) struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    backend_requests: Family<BackendLabels, Counter>,
    backend_seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("periscope");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let backend_requests = Family::<BackendLabels, Counter>::default();
        let backend_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_requests",
            "HTTP and gRPC requests by endpoint and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Request latency by endpoint",
            request_seconds.clone(),
        );
        registry.register(
            "backend_requests",
            "Requests to backends by cluster, endpoint and outcome",
            backend_requests.clone(),
        );
        registry.register(
            "backend_request_duration_seconds",
            "Backend latency until response headers, by endpoint",
            backend_seconds.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            backend_requests,
            backend_seconds,
        }
    }

    pub(crate) fn observe_request(&self, endpoint: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                status: status.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub(crate) fn observe_backend(
        &self,
        cluster: &str,
        endpoint: &str,
        outcome: &str,
        elapsed: Duration,
    ) {
        self.backend_requests
            .get_or_create(&BackendLabels {
                cluster: cluster.to_string(),
                endpoint: endpoint.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.backend_seconds
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
