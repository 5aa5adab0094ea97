//! Pairing client and server spans into edges, as Tempo does: a client (or
//! producer) span waits under (trace, its span id), a server (or consumer)
//! span under (trace, its parent's span id); when both have arrived the edge
//! is complete. A side that waits longer than `wait` expires: a client span
//! that names its peer becomes an edge to that virtual node, any other is
//! dropped. At most `max_pending` sides wait; more are dropped and counted.

use crate::facts::{EdgeFact, SpanSide};
use crate::names::ConnectionType;
use periscope_traces::{SpanId, TraceId};
use std::collections::{HashMap, VecDeque};

/// One end of a completed edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Node {
    /// A service, seen in a span of this namespace (empty when it had none).
    Service { name: String, namespace: String },
    /// A node no span stands for: `user`, a database, a `peer.service`.
    Virtual(String),
}

/// Who called whom, and how: what an edge's series are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EdgeKey {
    pub client: Node,
    pub server: Node,
    pub connection: ConnectionType,
    /// For a virtual-node edge, which end is virtual (`client` or `server`;
    /// Tempo's `virtual_node` label).
    pub virtual_node: Option<&'static str>,
}

/// A completed call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edge {
    pub key: EdgeKey,
    pub failed: bool,
    pub client_seconds: f64,
    pub server_seconds: f64,
}

#[derive(Debug, Default)]
struct Waiting {
    client: Option<(SpanSide, bool, Option<String>)>,
    server: Option<(SpanSide, bool)>,
    expires_ms: i64,
}

/// Counts of what pairing could not complete.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PairingStats {
    /// Sides that expired unpaired (and named no peer).
    pub expired: u64,
    /// Sides dropped because `max_pending` were waiting.
    pub dropped: u64,
}

pub(crate) struct Pairing {
    wait_ms: i64,
    max_pending: usize,
    waiting: HashMap<(TraceId, SpanId), Waiting>,
    /// Keys in arrival order with their deadline (a key may appear after it
    /// completed; such entries are skipped).
    deadlines: VecDeque<(i64, (TraceId, SpanId))>,
    pub stats: PairingStats,
}

impl Pairing {
    pub fn new(wait_ms: i64, max_pending: usize) -> Self {
        Self {
            wait_ms,
            max_pending,
            waiting: HashMap::new(),
            deadlines: VecDeque::new(),
            stats: PairingStats::default(),
        }
    }

    /// Sides waiting for their counterpart.
    pub fn pending(&self) -> usize {
        self.waiting.len()
    }

    /// Takes one span's part; returns the edge it completes, if any.
    pub fn offer(&mut self, fact: EdgeFact, now_ms: i64) -> Option<Edge> {
        match fact {
            EdgeFact::Database { side, server } => Some(Edge {
                key: EdgeKey {
                    client: service(&side),
                    server: Node::Virtual(server),
                    connection: ConnectionType::Database,
                    virtual_node: None,
                },
                failed: side.failed,
                client_seconds: side.seconds,
                server_seconds: side.seconds,
            }),
            EdgeFact::Root { side, caller } => Some(Edge {
                key: EdgeKey {
                    client: Node::Virtual(caller),
                    server: service(&side),
                    connection: ConnectionType::VirtualNode,
                    virtual_node: Some("client"),
                },
                failed: side.failed,
                client_seconds: side.seconds,
                server_seconds: side.seconds,
            }),
            EdgeFact::Client {
                key,
                side,
                messaging,
                peer,
            } => self.join(key, now_ms, |w| w.client = Some((side, messaging, peer))),
            EdgeFact::Server {
                key,
                side,
                messaging,
            } => self.join(key, now_ms, |w| w.server = Some((side, messaging))),
        }
    }

    fn join(
        &mut self,
        key: (TraceId, SpanId),
        now_ms: i64,
        put: impl FnOnce(&mut Waiting),
    ) -> Option<Edge> {
        if !self.waiting.contains_key(&key) && self.waiting.len() >= self.max_pending {
            self.stats.dropped += 1;
            return None;
        }
        let deadline = now_ms + self.wait_ms;
        let waiting = self.waiting.entry(key).or_insert_with(|| Waiting {
            expires_ms: deadline,
            ..Waiting::default()
        });
        put(waiting);
        if waiting.client.is_none() || waiting.server.is_none() {
            if waiting.expires_ms == deadline {
                self.deadlines.push_back((deadline, key));
            }
            return None;
        }
        let w = self.waiting.remove(&key)?;
        let ((client, producer, _), (server, consumer)) = (w.client?, w.server?);
        Some(Edge {
            key: EdgeKey {
                client: service(&client),
                server: service(&server),
                connection: if producer && consumer {
                    ConnectionType::MessagingSystem
                } else {
                    ConnectionType::Direct
                },
                virtual_node: None,
            },
            failed: client.failed || server.failed,
            client_seconds: client.seconds,
            server_seconds: server.seconds,
        })
    }

    /// Expires sides whose wait is over; returns the virtual-node edges of
    /// expired client spans that named their peer.
    pub fn expire(&mut self, now_ms: i64) -> Vec<Edge> {
        let mut edges = Vec::new();
        while let Some(&(deadline, key)) = self.deadlines.front() {
            if deadline > now_ms {
                break;
            }
            self.deadlines.pop_front();
            let Some(w) = self.waiting.get(&key) else {
                continue;
            };
            if w.expires_ms != deadline {
                continue;
            }
            let w = self.waiting.remove(&key).expect("present");
            match w.client {
                Some((side, _, Some(peer))) => edges.push(Edge {
                    key: EdgeKey {
                        client: service(&side),
                        server: Node::Virtual(peer),
                        connection: ConnectionType::VirtualNode,
                        virtual_node: Some("server"),
                    },
                    failed: side.failed,
                    client_seconds: side.seconds,
                    server_seconds: side.seconds,
                }),
                _ => self.stats.expired += 1,
            }
        }
        edges
    }
}

fn service(side: &SpanSide) -> Node {
    Node::Service {
        name: side.service.clone(),
        namespace: side.namespace.clone(),
    }
}
