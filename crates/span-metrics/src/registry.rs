//! The live series: cumulative counters and histograms per label set, their
//! last update (stale ones are forgotten), a bound on how many exist, and
//! their rendering as remote-write series.

use crate::facts::SpanSeries;
use crate::histogram::Histogram;
use crate::names::{self, EDGE_LATENCY_BUCKETS, SPAN_LATENCY_BUCKETS};
use crate::views::{EdgeLabels, EdgeView};
use periscope_backend_prometheus::remote_write::{Label, Sample, TimeSeries};
use std::collections::HashMap;

/// Completed calls of one edge, aggregated before they are recorded.
pub(crate) struct EdgeCalls {
    pub requests: u64,
    pub failed: u64,
    pub client: Histogram,
    pub server: Histogram,
}

impl Default for EdgeCalls {
    fn default() -> Self {
        Self {
            requests: 0,
            failed: 0,
            client: Histogram::new(&EDGE_LATENCY_BUCKETS),
            server: Histogram::new(&EDGE_LATENCY_BUCKETS),
        }
    }
}

impl EdgeCalls {
    /// Counts one completed call (its key is the map's).
    pub fn add(&mut self, failed: bool, client_seconds: f64, server_seconds: f64) {
        self.requests += 1;
        self.failed += u64::from(failed);
        self.client.observe(client_seconds);
        self.server.observe(server_seconds);
    }
}

struct SpanStats {
    calls: u64,
    latency: Histogram,
    updated_ms: i64,
    written: bool,
}

struct EdgeStats {
    requests: u64,
    failed: u64,
    client: Option<Histogram>,
    server: Option<Histogram>,
    updated_ms: i64,
    written: bool,
}

/// Series counts and what the bound refused.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SeriesStats {
    pub series: usize,
    /// Observations dropped because `max_series` label sets exist.
    pub dropped: u64,
}

pub(crate) struct Registry {
    scope_label: String,
    max_series: usize,
    spans: HashMap<SpanSeries, SpanStats>,
    edges: HashMap<EdgeLabels, EdgeStats>,
    pub dropped: u64,
}

impl Registry {
    pub fn new(scope_label: &str, max_series: usize) -> Self {
        Self {
            scope_label: scope_label.to_string(),
            max_series,
            spans: HashMap::new(),
            edges: HashMap::new(),
            dropped: 0,
        }
    }

    pub fn stats(&self) -> SeriesStats {
        SeriesStats {
            series: self.spans.len() + self.edges.len(),
            dropped: self.dropped,
        }
    }

    fn full(&self) -> bool {
        self.spans.len() + self.edges.len() >= self.max_series
    }

    /// Adds the observations of one series.
    pub fn record_span(&mut self, series: SpanSeries, observed: &Histogram, now_ms: i64) {
        if !self.spans.contains_key(&series) && self.full() {
            self.dropped += 1;
            return;
        }
        let stats = self.spans.entry(series).or_insert_with(|| SpanStats {
            calls: 0,
            latency: Histogram::new(&SPAN_LATENCY_BUCKETS),
            updated_ms: now_ms,
            written: false,
        });
        stats.calls += observed.count;
        stats.latency.merge(observed);
        stats.updated_ms = now_ms;
    }

    /// Adds the calls of one view of an edge.
    pub fn record_edge(&mut self, view: EdgeView, calls: &EdgeCalls, now_ms: i64) {
        if !self.edges.contains_key(&view.labels) && self.full() {
            self.dropped += 1;
            return;
        }
        let stats = self.edges.entry(view.labels).or_insert_with(|| EdgeStats {
            requests: 0,
            failed: 0,
            client: None,
            server: None,
            updated_ms: now_ms,
            written: false,
        });
        stats.requests += calls.requests;
        stats.failed += calls.failed;
        if view.client_seconds {
            stats
                .client
                .get_or_insert_with(|| Histogram::new(&EDGE_LATENCY_BUCKETS))
                .merge(&calls.client);
        }
        if view.server_seconds {
            stats
                .server
                .get_or_insert_with(|| Histogram::new(&EDGE_LATENCY_BUCKETS))
                .merge(&calls.server);
        }
        stats.updated_ms = now_ms;
    }

    /// Forgets series not updated since `before_ms`.
    pub fn forget_stale(&mut self, before_ms: i64) {
        self.spans.retain(|_, s| s.updated_ms >= before_ms);
        self.edges.retain(|_, s| s.updated_ms >= before_ms);
    }

    /// Every live series at `now_ms`. A series written for the first time
    /// also gets a zero one millisecond earlier, so `rate` and `increase` see
    /// its first observations (as Tempo does).
    pub fn render(&mut self, now_ms: i64) -> Vec<TimeSeries> {
        let mut out = Vec::new();
        let scope_label = self.scope_label.clone();
        for (series, stats) in &mut self.spans {
            let labels = vec![
                ("service", series.service.as_str()),
                ("span_name", series.span_name.as_str()),
                ("span_kind", names::span_kind(series.kind)),
                ("status_code", names::status_code(series.status)),
                (scope_label.as_str(), series.namespace.as_str()),
            ];
            let mut w = Writer {
                out: &mut out,
                now_ms,
                first: !stats.written,
            };
            w.counter(names::CALLS_TOTAL, &labels, stats.calls);
            w.histogram(names::LATENCY, &labels, &stats.latency);
            stats.written = true;
        }
        for (edge_labels, stats) in &mut self.edges {
            let labels: Vec<(&str, &str)> = edge_labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let mut w = Writer {
                out: &mut out,
                now_ms,
                first: !stats.written,
            };
            w.counter(names::REQUEST_TOTAL, &labels, stats.requests);
            w.counter(names::REQUEST_FAILED_TOTAL, &labels, stats.failed);
            if let Some(h) = &stats.server {
                w.histogram(names::REQUEST_SERVER_SECONDS, &labels, h);
            }
            if let Some(h) = &stats.client {
                w.histogram(names::REQUEST_CLIENT_SECONDS, &labels, h);
            }
            stats.written = true;
        }
        out
    }
}

struct Writer<'a> {
    out: &'a mut Vec<TimeSeries>,
    now_ms: i64,
    first: bool,
}

impl Writer<'_> {
    fn series(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let mut all: Vec<Label> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| Label {
                name: k.to_string(),
                value: v.to_string(),
            })
            .collect();
        all.push(Label {
            name: "__name__".into(),
            value: name.into(),
        });
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let mut samples = Vec::with_capacity(2);
        if self.first {
            samples.push(Sample {
                value: 0.0,
                timestamp: self.now_ms - 1,
            });
        }
        samples.push(Sample {
            value,
            timestamp: self.now_ms,
        });
        self.out.push(TimeSeries {
            labels: all,
            samples,
        });
    }

    fn counter(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.series(name, labels, value as f64);
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket_name = format!("{name}_bucket");
        for (le, count) in h.cumulative() {
            let mut with_le = labels.to_vec();
            with_le.push(("le", le.as_str()));
            self.series(&bucket_name, &with_le, count as f64);
        }
        self.series(&format!("{name}_sum"), labels, h.sum);
        self.series(&format!("{name}_count"), labels, h.count as f64);
    }
}
