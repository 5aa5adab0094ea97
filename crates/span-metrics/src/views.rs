//! The series an edge is written as, so PromQL enforcement shows each caller
//! exactly one of them (see `periscope_tenancy::service_graph`): one series
//! for an edge within a namespace or to a virtual node; for an edge between
//! two namespaces a full series for scopes that hold both (and cluster
//! admins) and a half for each side, whose other end is one opaque node.

use crate::pairing::{EdgeKey, Node};
use periscope_tenancy::service_graph::{
    PeerKey, CLIENT_NAMESPACE_LABEL, OPAQUE_PEER_LABEL, SERVER_NAMESPACE_LABEL,
};
use periscope_traces::service::OPAQUE_SERVICE;

/// Labels of one service-graph series (without `__name__`), sorted by name.
pub(crate) type EdgeLabels = Vec<(String, String)>;

/// One series an edge is counted in, and which of its latencies it carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EdgeView {
    pub labels: EdgeLabels,
    pub client_seconds: bool,
    pub server_seconds: bool,
}

/// The series `edge` is counted in (its latencies and failure are not read).
pub(crate) fn views(edge: &EdgeKey, key: &PeerKey, scope_label: &str) -> Vec<EdgeView> {
    let connection = edge.connection.label();
    let full = |namespace: Option<&str>| {
        let mut labels = vec![
            ("client".to_string(), name(&edge.client).to_string()),
            ("server".to_string(), name(&edge.server).to_string()),
            ("connection_type".to_string(), connection.to_string()),
        ];
        if let Some(side) = edge.virtual_node {
            labels.push(("virtual_node".to_string(), side.to_string()));
        }
        if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
            labels.push((scope_label.to_string(), ns.to_string()));
        }
        if let Some(ns) = namespace_of(&edge.client) {
            labels.push((CLIENT_NAMESPACE_LABEL.to_string(), ns.to_string()));
        }
        if let Some(ns) = namespace_of(&edge.server) {
            labels.push((SERVER_NAMESPACE_LABEL.to_string(), ns.to_string()));
        }
        EdgeView {
            labels: sorted(labels),
            client_seconds: true,
            server_seconds: true,
        }
    };
    match (&edge.client, &edge.server) {
        (
            Node::Service {
                namespace: client_ns,
                ..
            },
            Node::Service {
                namespace: server_ns,
                ..
            },
        ) if client_ns != server_ns => {
            // The full series is scoped only when both ends have a namespace;
            // otherwise it is for cluster admins alone.
            let both = !client_ns.is_empty() && !server_ns.is_empty();
            let mut out = vec![full(both.then_some(client_ns.as_str()))];
            if !client_ns.is_empty() {
                out.push(half(
                    edge,
                    Side::Client,
                    client_ns,
                    server_ns,
                    key,
                    scope_label,
                ));
            }
            if !server_ns.is_empty() {
                out.push(half(
                    edge,
                    Side::Server,
                    server_ns,
                    client_ns,
                    key,
                    scope_label,
                ));
            }
            out
        }
        (Node::Service { namespace, .. }, _) | (_, Node::Service { namespace, .. }) => {
            vec![full(Some(namespace))]
        }
        (Node::Virtual(_), Node::Virtual(_)) => Vec::new(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Client,
    Server,
}

/// The series of `side` of a cross-namespace edge: its own end named, the
/// other opaque, and only its own latency.
fn half(
    edge: &EdgeKey,
    side: Side,
    own_ns: &str,
    other_ns: &str,
    key: &PeerKey,
    scope_label: &str,
) -> EdgeView {
    let (client, server, own_label) = match side {
        Side::Client => (name(&edge.client), OPAQUE_SERVICE, CLIENT_NAMESPACE_LABEL),
        Side::Server => (OPAQUE_SERVICE, name(&edge.server), SERVER_NAMESPACE_LABEL),
    };
    let labels = vec![
        ("client".to_string(), client.to_string()),
        ("server".to_string(), server.to_string()),
        (
            "connection_type".to_string(),
            edge.connection.label().to_string(),
        ),
        (scope_label.to_string(), own_ns.to_string()),
        (own_label.to_string(), own_ns.to_string()),
        (OPAQUE_PEER_LABEL.to_string(), key.token(other_ns)),
    ];
    EdgeView {
        labels: sorted(labels),
        client_seconds: side == Side::Client,
        server_seconds: side == Side::Server,
    }
}

fn name(node: &Node) -> &str {
    match node {
        Node::Service { name, .. } | Node::Virtual(name) => name,
    }
}

fn namespace_of(node: &Node) -> Option<&str> {
    match node {
        Node::Service { namespace, .. } if !namespace.is_empty() => Some(namespace),
        _ => None,
    }
}

fn sorted(mut labels: EdgeLabels) -> EdgeLabels {
    labels.sort();
    labels
}
