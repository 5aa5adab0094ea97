//! The service level beyond named metrics: the pods that served a service
//! (from spans) with links down to their logs, and a namespace's topology
//! assembled from the service-graph series the caller may see.

use crate::page::{segment, Series};
use serde::Serialize;
use std::collections::BTreeMap;

/// The name Periscope gives every node outside the caller's scope.
pub const OPAQUE_NODE: &str = "(outside your scope)";

/// The service-graph queries of a namespace's topology, in this order:
/// request rate, failed rate, server-side p95, client-side p95 (each edge
/// selected where either end is in `namespace`; the caller's scope is
/// enforced on them like on any query).
pub fn topology_queries(namespace: &str) -> [String; 4] {
    let ns = promql_string(namespace);
    let both = |metric: &str| {
        format!(
            "rate({metric}{{client_namespace={ns}}}[5m]) or rate({metric}{{server_namespace={ns}}}[5m])"
        )
    };
    let p95 = |metric: &str| {
        format!(
            "histogram_quantile(0.95, sum by (client, server, connection_type, virtual_node, le) ({}))",
            both(metric)
        )
    };
    [
        format!(
            "sum by (client, server, connection_type, virtual_node) ({})",
            both("traces_service_graph_request_total")
        ),
        format!(
            "sum by (client, server, connection_type, virtual_node) ({})",
            both("traces_service_graph_request_failed_total")
        ),
        p95("traces_service_graph_request_server_seconds_bucket"),
        p95("traces_service_graph_request_client_seconds_bucket"),
    ]
}

/// A call between two nodes of the topology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyEdge {
    pub client: String,
    pub server: String,
    /// Tempo's `connection_type`: empty, `database`, `messaging_system`, `virtual_node`.
    pub connection_type: String,
    /// Requests per second.
    pub request_rate: f64,
    /// Failed requests per second.
    pub error_rate: f64,
    /// 95th percentile latency in seconds: the server's when it is visible,
    /// else as the client saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p95: Option<f64>,
}

/// A node of the topology.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopologyNode {
    pub name: String,
    /// `service` (has spans), `virtual` (a database, `user`, a named peer) or
    /// `external` (outside the caller's scope).
    pub kind: &'static str,
    /// Requests per second it served (sum of its incoming edges).
    pub request_rate: f64,
    pub error_rate: f64,
}

/// A namespace's services and the calls between them and their peers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    pub cluster: String,
    pub namespace: String,
    pub nodes: Vec<TopologyNode>,
    pub edges: Vec<TopologyEdge>,
}

/// Assembles the answers of [`topology_queries`].
pub fn topology(cluster: &str, namespace: &str, answers: [Vec<Series>; 4]) -> Topology {
    /// (client, server, connection_type, virtual_node)
    type Key = (String, String, String, String);
    let key = |s: &Series| -> Key {
        let label = |n: &str| s.labels.get(n).cloned().unwrap_or_default();
        (
            label("client"),
            label("server"),
            label("connection_type"),
            label("virtual_node"),
        )
    };
    let value = |s: &Series| s.samples.last().map_or(f64::NAN, |p| p.1);
    let [requests, failed, server_p95, client_p95] = answers;
    let by_key = |series: Vec<Series>| -> BTreeMap<Key, f64> {
        series
            .iter()
            .map(|s| (key(s), value(s)))
            .filter(|(_, v)| v.is_finite())
            .collect()
    };
    let (failed, server_p95, client_p95) = (by_key(failed), by_key(server_p95), by_key(client_p95));
    let mut nodes: BTreeMap<String, TopologyNode> = BTreeMap::new();
    let mut edges = Vec::new();
    for (k, request_rate) in by_key(requests) {
        let error_rate = failed.get(&k).copied().unwrap_or(0.0);
        let (client, server, connection_type, virtual_node) = k.clone();
        let database = connection_type == "database";
        for (name, is_virtual, serving) in [
            (&client, virtual_node == "client", false),
            (&server, virtual_node == "server" || database, true),
        ] {
            let node = nodes.entry(name.clone()).or_insert_with(|| TopologyNode {
                name: name.clone(),
                kind: if name == OPAQUE_NODE {
                    "external"
                } else if is_virtual {
                    "virtual"
                } else {
                    "service"
                },
                request_rate: 0.0,
                error_rate: 0.0,
            });
            if serving {
                node.request_rate += request_rate;
                node.error_rate += error_rate;
            }
        }
        edges.push(TopologyEdge {
            latency_p95: server_p95.get(&k).or_else(|| client_p95.get(&k)).copied(),
            client,
            server,
            connection_type,
            request_rate,
            error_rate,
        });
    }
    Topology {
        cluster: cluster.to_string(),
        namespace: namespace.to_string(),
        nodes: nodes.into_values().collect(),
        edges,
    }
}

/// One service's page: its named metrics, plus the operations it serves and
/// the pods that served it in the window (from its spans).
#[derive(Debug, Clone, Serialize)]
pub struct ServicePage {
    #[serde(flatten)]
    pub page: crate::Page,
    pub operations: Vec<String>,
    pub pods: Vec<ServedPod>,
    /// Why the pods or operations could not be read (the page is still given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans_error: Option<String>,
}

/// The topology of bare `(client, server, requests per second)` calls, as a
/// dependency graph without service-graph series gives them (no errors, no
/// latency).
pub fn topology_of_calls(
    cluster: &str,
    namespace: &str,
    calls: Vec<(String, String, f64)>,
) -> Topology {
    let requests = calls
        .into_iter()
        .map(|(client, server, rate)| Series {
            labels: BTreeMap::from([
                ("client".to_string(), client),
                ("server".to_string(), server),
            ]),
            samples: vec![(0.0, rate)],
        })
        .collect();
    topology(
        cluster,
        namespace,
        [requests, Vec::new(), Vec::new(), Vec::new()],
    )
}

/// A pod that served a service in the window, with links down to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServedPod {
    pub name: String,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Spans it sent in the window.
    pub spans: u64,
    pub links: BTreeMap<String, String>,
}

impl ServedPod {
    /// A pod of `namespace` in `cluster`, linked to its drill-down page and its logs.
    pub fn new(cluster: &str, namespace: &str, pod: &str, workload: &str, spans: u64) -> Self {
        let base = format!("/api/v1/clusters/{}", segment(cluster));
        let links = BTreeMap::from([
            (
                "self".to_string(),
                format!(
                    "{base}/namespaces/{}/pods/{}",
                    segment(namespace),
                    segment(pod)
                ),
            ),
            ("logs".to_string(), logs_link(cluster, namespace, &[pod])),
        ]);
        Self {
            name: pod.to_string(),
            namespace: namespace.to_string(),
            workload: (!workload.is_empty()).then(|| workload.to_string()),
            spans,
            links,
        }
    }
}

/// The log search of `pods` in `namespace`.
pub fn logs_link(cluster: &str, namespace: &str, pods: &[&str]) -> String {
    let pods: Vec<String> = pods.iter().map(|p| segment(p)).collect();
    format!(
        "/api/v1/clusters/{}/logs?namespaces={}&pods={}",
        segment(cluster),
        segment(namespace),
        pods.join(",")
    )
}

/// A PromQL double-quoted string.
fn promql_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(client: &str, server: &str, connection: &str, value: f64) -> Series {
        let mut labels = BTreeMap::from([
            ("client".to_string(), client.to_string()),
            ("server".to_string(), server.to_string()),
        ]);
        if !connection.is_empty() {
            labels.insert("connection_type".into(), connection.into());
        }
        if connection == "virtual_node" {
            labels.insert("virtual_node".into(), "client".into());
        }
        Series {
            labels,
            samples: vec![(1.0, value)],
        }
    }

    #[test]
    fn topology_joins_rates_errors_and_the_visible_latency() {
        let t = topology(
            "default",
            "shop",
            [
                vec![
                    series("web", "api", "", 2.0),
                    series("api", "pg", "database", 1.0),
                    series("api", OPAQUE_NODE, "", 0.5),
                    series("user", "web", "virtual_node", 2.0),
                ],
                vec![series("web", "api", "", 0.5)],
                vec![
                    series("web", "api", "", 0.2),
                    series("api", "pg", "database", 0.01),
                ],
                vec![series("api", OPAQUE_NODE, "", 0.3)],
            ],
        );
        let edge = |c: &str, s: &str| {
            t.edges
                .iter()
                .find(|e| e.client == c && e.server == s)
                .unwrap()
        };
        assert_eq!(edge("web", "api").error_rate, 0.5);
        assert_eq!(edge("web", "api").latency_p95, Some(0.2));
        assert_eq!(edge("api", OPAQUE_NODE).latency_p95, Some(0.3));
        assert_eq!(edge("api", OPAQUE_NODE).error_rate, 0.0);
        let kinds: BTreeMap<&str, &str> =
            t.nodes.iter().map(|n| (n.name.as_str(), n.kind)).collect();
        assert_eq!(
            kinds,
            BTreeMap::from([
                (OPAQUE_NODE, "external"),
                ("api", "service"),
                ("pg", "virtual"),
                ("user", "virtual"),
                ("web", "service"),
            ])
        );
        let api = t.nodes.iter().find(|n| n.name == "api").unwrap();
        assert_eq!((api.request_rate, api.error_rate), (2.0, 0.5));
    }

    #[test]
    fn topology_queries_quote_the_namespace() {
        let [q, ..] = topology_queries("a\"b");
        assert!(q.contains(r#"client_namespace="a\"b""#), "{q}");
        assert!(promql_parser::parser::parse(&q).is_ok(), "{q}");
    }

    #[test]
    fn served_pods_link_to_their_page_and_logs() {
        let p = ServedPod::new("default", "shop", "web-0", "Deployment:web", 3);
        assert_eq!(
            p.links["self"],
            "/api/v1/clusters/default/namespaces/shop/pods/web-0"
        );
        assert_eq!(
            p.links["logs"],
            "/api/v1/clusters/default/logs?namespaces=shop&pods=web-0"
        );
    }
}
