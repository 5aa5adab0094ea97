//! What the generator takes from one span, read before the spans are stored.

use crate::histogram::Histogram;
use crate::names::{DATABASE_ATTRIBUTES, PEER_ATTRIBUTES, SPAN_LATENCY_BUCKETS, USER};
use periscope_traces::{Span, SpanId, Tag, TraceId};
use std::collections::HashMap;

/// The labels of one span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SpanSeries {
    pub service: String,
    pub span_name: String,
    pub kind: i32,
    pub status: i32,
    pub namespace: String,
}

/// One end of an edge that a span stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanSide {
    pub service: String,
    pub namespace: String,
    pub seconds: f64,
    pub failed: bool,
}

/// The part a span plays in the service graph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EdgeFact {
    /// A client or producer span, waiting under (trace, its span id) for the
    /// server span it called; `peer` names the server should none arrive.
    Client {
        key: (TraceId, SpanId),
        side: SpanSide,
        messaging: bool,
        peer: Option<String>,
    },
    /// A server or consumer span, waiting under (trace, its parent's id).
    Server {
        key: (TraceId, SpanId),
        side: SpanSide,
        messaging: bool,
    },
    /// A server span nobody called (a root): its caller is a virtual node.
    Root { side: SpanSide, caller: String },
    /// A client span calling a database: complete at once.
    Database { side: SpanSide, server: String },
}

/// What the generator needs of one ingest request's spans: the latency
/// observations of each span-metrics series (aggregated, so a batch costs one
/// key per distinct series) and the part each span plays in the graph.
#[derive(Debug, Default)]
pub struct SpanFactBatch {
    pub(crate) series: Vec<(SpanSeries, Histogram)>,
    pub(crate) edges: Vec<EdgeFact>,
}

impl SpanFactBatch {
    /// Reads what the generator needs from `spans`.
    pub fn of(spans: &[Span]) -> Self {
        type Key<'a> = (&'a str, &'a str, i32, i32, &'a str);
        let mut index: HashMap<Key<'_>, usize> = HashMap::new();
        let mut batch = SpanFactBatch::default();
        for span in spans {
            let seconds = seconds(span);
            let key = (
                span.service.as_str(),
                span.operation.as_str(),
                span.kind,
                span.status_code,
                span.place.namespace.as_str(),
            );
            let at = *index.entry(key).or_insert_with(|| {
                batch.series.push((
                    SpanSeries {
                        service: span.service.clone(),
                        span_name: span.operation.clone(),
                        kind: span.kind,
                        status: span.status_code,
                        namespace: span.place.namespace.clone(),
                    },
                    Histogram::new(&SPAN_LATENCY_BUCKETS),
                ));
                batch.series.len() - 1
            });
            batch.series[at].1.observe(seconds);
            batch.edges.extend(edge_fact(span, seconds));
        }
        batch
    }
}

fn seconds(span: &Span) -> f64 {
    span.duration.max(0) as f64 / 1e9
}

/// The part `span` plays in the service graph, if any.
fn edge_fact(span: &Span, seconds: f64) -> Option<EdgeFact> {
    let side = || SpanSide {
        service: span.service.clone(),
        namespace: span.place.namespace.clone(),
        seconds,
        failed: span.status_code == 2,
    };
    match span.kind {
        3 | 4 => match database_server(&span.tags) {
            Some(server) if span.kind == 3 => Some(EdgeFact::Database {
                side: side(),
                server,
            }),
            _ => Some(EdgeFact::Client {
                key: (span.trace_id, span.span_id),
                side: side(),
                messaging: span.kind == 4,
                peer: first_attribute(&span.tags, &PEER_ATTRIBUTES),
            }),
        },
        2 | 5 => Some(match span.parent_span_id {
            Some(parent) => EdgeFact::Server {
                key: (span.trace_id, parent),
                side: side(),
                messaging: span.kind == 5,
            },
            None => EdgeFact::Root {
                side: side(),
                caller: first_attribute(&span.tags, &PEER_ATTRIBUTES)
                    .unwrap_or_else(|| USER.to_string()),
            },
        }),
        _ => None,
    }
}

/// The server of a database call: `peer.service`, else `server.address`, else
/// `network.peer.address[:port]`, else the database's name; `None` when the
/// span names no database.
fn database_server(tags: &[Tag]) -> Option<String> {
    let database = first_attribute(tags, &DATABASE_ATTRIBUTES)?;
    if let Some(peer) =
        attribute(tags, "peer.service").or_else(|| attribute(tags, "server.address"))
    {
        return Some(peer);
    }
    if let Some(address) = attribute(tags, "network.peer.address") {
        return Some(match attribute(tags, "network.peer.port") {
            Some(port) => format!("{address}:{port}"),
            None => address,
        });
    }
    Some(database)
}

fn first_attribute(tags: &[Tag], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| attribute(tags, key))
}

fn attribute(tags: &[Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_text())
        .filter(|v| !v.is_empty())
}
