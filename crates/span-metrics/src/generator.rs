//! The generator: takes spans as they are ingested, keeps the series, and
//! writes them to the cluster's Prometheus by remote write on an interval.

pub use crate::facts::SpanFactBatch;
use crate::pairing::{Edge, EdgeKey, Pairing, PairingStats};
use crate::registry::{EdgeCalls, Registry, SeriesStats};
use crate::views::views;
use periscope_backend_prometheus::remote_write::TimeSeries;
use periscope_backend_prometheus::RemoteWriter;
use periscope_tenancy::PeerKey;
use periscope_traces::{Span, SpanObserver};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// How the generator pairs, bounds and writes.
#[derive(Debug, Clone)]
pub struct SpanMetricsOptions {
    /// The label that carries a series' namespace (the enforcer's scope label).
    pub scope_label: String,
    /// How long a client or server span waits for its counterpart.
    pub wait: Duration,
    /// Most spans waiting for their counterpart.
    pub max_pending: usize,
    /// Most live series (span metrics and edges together).
    pub max_series: usize,
    /// Series not updated for this long are no longer written.
    pub stale_after: Duration,
    /// How often series are written.
    pub interval: Duration,
}

impl Default for SpanMetricsOptions {
    fn default() -> Self {
        Self {
            scope_label: "namespace".into(),
            wait: Duration::from_secs(10),
            max_pending: 10_000,
            max_series: 50_000,
            stale_after: Duration::from_secs(15 * 60),
            interval: Duration::from_secs(15),
        }
    }
}

/// What the generator holds and has had to drop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpanMetricsStats {
    pub series: SeriesStats,
    pub pairing: PairingStats,
    /// Sides waiting for their counterpart.
    pub pending: usize,
}

struct State {
    registry: Registry,
    pairing: Pairing,
}

/// Span metrics and service-graph edges of one cluster's spans (a handle;
/// clones share the series).
#[derive(Clone)]
pub struct SpanMetrics(Arc<Inner>);

struct Inner {
    options: SpanMetricsOptions,
    peer_key: PeerKey,
    state: Mutex<State>,
}

impl SpanMetrics {
    /// A generator whose half-edge tokens use `peer_key` (the enforcer's).
    pub fn new(options: SpanMetricsOptions, peer_key: PeerKey) -> Self {
        let wait_ms = i64::try_from(options.wait.as_millis()).unwrap_or(i64::MAX);
        Self(Arc::new(Inner {
            state: Mutex::new(State {
                registry: Registry::new(&options.scope_label, options.max_series),
                pairing: Pairing::new(wait_ms, options.max_pending),
            }),
            options,
            peer_key,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the spans of one batch (at `now_ms`, Unix ms).
    pub fn record(&self, batch: SpanFactBatch, now_ms: i64) {
        let mut state = self.state();
        let State { registry, pairing } = &mut *state;
        for (series, observed) in batch.series {
            registry.record_span(series, &observed, now_ms);
        }
        let completed = batch
            .edges
            .into_iter()
            .filter_map(|e| pairing.offer(e, now_ms));
        self.record_edges(registry, completed, now_ms);
    }

    /// Records edges aggregated per key, so each distinct edge's views are
    /// built once per batch.
    fn record_edges(
        &self,
        registry: &mut Registry,
        edges: impl Iterator<Item = Edge>,
        now_ms: i64,
    ) {
        let Inner {
            options, peer_key, ..
        } = &*self.0;
        let mut calls: HashMap<EdgeKey, EdgeCalls> = HashMap::new();
        for Edge {
            key,
            failed,
            client_seconds,
            server_seconds,
        } in edges
        {
            calls
                .entry(key)
                .or_default()
                .add(failed, client_seconds, server_seconds);
        }
        for (key, calls) in calls {
            for view in views(&key, peer_key, &options.scope_label) {
                registry.record_edge(view, &calls, now_ms);
            }
        }
    }

    /// Expires waiting spans and stale series, and renders every live series
    /// with samples at `now_ms`.
    pub fn collect(&self, now_ms: i64) -> Vec<TimeSeries> {
        let options = &self.0.options;
        let mut state = self.state();
        let State { registry, pairing } = &mut *state;
        let expired = pairing.expire(now_ms);
        self.record_edges(registry, expired.into_iter(), now_ms);
        let stale_ms = i64::try_from(options.stale_after.as_millis()).unwrap_or(i64::MAX);
        registry.forget_stale(now_ms.saturating_sub(stale_ms));
        registry.render(now_ms)
    }

    pub fn stats(&self) -> SpanMetricsStats {
        let state = self.state();
        SpanMetricsStats {
            series: state.registry.stats(),
            pairing: state.pairing.stats,
            pending: state.pairing.pending(),
        }
    }

    /// Writes the series through `writer` every interval until `stop`
    /// resolves, and once more then. A failed write is logged; the counters
    /// are cumulative, so the next write carries what it missed.
    pub async fn run(self, writer: RemoteWriter, stop: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(self.0.options.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        let mut reported = SpanMetricsStats::default();
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                _ = &mut stop => true,
            };
            let series = self.collect(unix_ms());
            if let Err(e) = writer.write_series(series).await {
                tracing::warn!(error = %e, "writing span metrics failed; the next write retries");
            }
            let stats = self.stats();
            if stats.pairing.dropped > reported.pairing.dropped
                || stats.series.dropped > reported.series.dropped
            {
                tracing::warn!(
                    unpaired_spans_dropped = stats.pairing.dropped,
                    observations_dropped = stats.series.dropped,
                    "span metrics are at a bound (span_metrics.max_pending or max_series)"
                );
            }
            reported = stats;
            if stopping {
                return;
            }
        }
    }
}

impl SpanObserver for SpanMetrics {
    fn observe(&self, spans: &[Span]) -> Box<dyn FnOnce() + Send> {
        let batch = SpanFactBatch::of(spans);
        let this = self.clone();
        Box::new(move || this.record(batch, unix_ms()))
    }
}

/// Now, Unix ms.
pub fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
