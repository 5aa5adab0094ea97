//! What the generator takes from one span, read before the spans are stored.

use crate::names::{DATABASE_ATTRIBUTES, PEER_ATTRIBUTES, USER};
use periscope_traces::{Span, SpanId, Tag, TraceId};

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

/// Everything the generator needs of one span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpanFact {
    pub series: SpanSeries,
    pub seconds: f64,
    pub edge: Option<EdgeFact>,
}

impl SpanFact {
    pub fn of(span: &Span) -> Self {
        let seconds = span.duration.max(0) as f64 / 1e9;
        let side = || SpanSide {
            service: span.service.clone(),
            namespace: span.place.namespace.clone(),
            seconds,
            failed: span.status_code == 2,
        };
        let edge = match span.kind {
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
        };
        SpanFact {
            series: SpanSeries {
                service: span.service.clone(),
                span_name: span.operation.clone(),
                kind: span.kind,
                status: span.status_code,
                namespace: span.place.namespace.clone(),
            },
            seconds,
            edge,
        }
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
