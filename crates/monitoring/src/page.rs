//! Assembling a page: resources with their metric values, sorted, paged and
//! linked to their children.

use crate::request::{Paging, SortBy, Window};
use crate::{Level, MetricDef};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// `(unix seconds, value)` in time order.
    pub samples: Vec<(f64, f64)>,
}

/// A resource to list, with the labels that identify and describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// A metric's values for one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Values {
    /// `{"value": [ts, "v"]}` for instant requests.
    Instant { value: (f64, String) },
    /// `{"values": [[ts, "v"], ...]}` for range requests.
    Range { values: Vec<(f64, String)> },
}

impl Values {
    /// The latest value (what sorting uses).
    pub fn latest(&self) -> Option<f64> {
        let text = match self {
            Values::Instant { value } => &value.1,
            Values::Range { values } => &values.last()?.1,
        };
        text.parse().ok()
    }

    /// Every `(timestamp, value)`.
    pub fn samples(&self) -> Vec<(f64, f64)> {
        let parse = |(t, v): &(f64, String)| (*t, v.parse().unwrap_or(f64::NAN));
        match self {
            Values::Instant { value } => vec![parse(value)],
            Values::Range { values } => values.iter().map(parse).collect(),
        }
    }
}

/// One listed resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub metrics: BTreeMap<String, Values>,
    /// Where to go next: `self` and the children, as URL paths.
    pub links: BTreeMap<String, String>,
}

/// Name, unit and help of a returned metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricInfo {
    pub name: String,
    pub unit: String,
    pub help: String,
}

/// A page of resources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    pub cluster: String,
    pub level: Level,
    pub window: WindowInfo,
    pub metrics: Vec<MetricInfo>,
    pub items: Vec<Item>,
    pub page: usize,
    pub limit: usize,
    pub total_items: usize,
    pub total_pages: usize,
    /// Metrics that could not be evaluated, with the reason (the others are
    /// still returned).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
}

/// The evaluated time or range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WindowInfo {
    Instant { time: f64 },
    Range { start: f64, end: f64, step: f64 },
}

impl From<Window> for WindowInfo {
    fn from(w: Window) -> Self {
        match w {
            Window::Instant { time } => WindowInfo::Instant { time },
            Window::Range { start, end, step } => WindowInfo::Range { start, end, step },
        }
    }
}

/// Everything a page is assembled from.
pub struct Assembly<'a> {
    pub cluster: &'a str,
    pub level: Level,
    /// Every resource the request selects (already filtered and in scope).
    pub resources: Vec<Resource>,
    /// Each requested metric with its series, or why it failed.
    pub metrics: Vec<(&'a MetricDef, Result<Vec<Series>, String>)>,
    pub window: Window,
    pub sort: Option<&'a SortBy>,
    pub paging: Paging,
    /// Whether to link pods to their node (only cluster-wide callers may follow).
    pub link_nodes: bool,
}

/// Matches values to resources, sorts (missing and NaN last, ties by name),
/// pages and links.
pub fn assemble(a: Assembly<'_>) -> Page {
    let identity = a.level.identity_labels();
    let key_of = |labels: &BTreeMap<String, String>| -> Option<Vec<String>> {
        identity.iter().map(|l| labels.get(*l).cloned()).collect()
    };
    let mut errors = BTreeMap::new();
    let mut by_metric: Vec<(String, HashMap<Vec<String>, Values>)> = Vec::new();
    for (def, outcome) in &a.metrics {
        let mut values = HashMap::new();
        match outcome {
            Ok(series) => {
                for s in series {
                    if let Some(key) = key_of(&s.labels) {
                        values.entry(key).or_insert_with(|| to_values(a.window, s));
                    }
                }
            }
            Err(reason) => {
                errors.insert(def.name.clone(), reason.clone());
            }
        }
        by_metric.push((def.name.clone(), values));
    }

    let mut items: Vec<(Vec<String>, Item)> = a
        .resources
        .into_iter()
        .filter_map(|r| {
            let key = key_of(&r.labels)?;
            let metrics = by_metric
                .iter()
                .filter_map(|(name, values)| Some((name.clone(), values.get(&key)?.clone())))
                .collect();
            let links = links(a.cluster, a.level, &r.labels, a.link_nodes);
            Some((
                key,
                Item {
                    name: r.name,
                    labels: r.labels,
                    metrics,
                    links,
                },
            ))
        })
        .collect();

    items.sort_by(|(ka, a_item), (kb, b_item)| {
        let by_value = a.sort.map_or(Ordering::Equal, |sort| {
            let value = |item: &Item| {
                item.metrics
                    .get(&sort.metric)
                    .and_then(Values::latest)
                    .filter(|v| !v.is_nan())
            };
            match (value(a_item), value(b_item)) {
                (Some(x), Some(y)) if sort.descending => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        });
        by_value.then_with(|| ka.cmp(kb))
    });

    let total_items = items.len();
    let total_pages = total_items.div_ceil(a.paging.limit);
    let items = items
        .into_iter()
        .map(|(_, item)| item)
        .skip((a.paging.page - 1).saturating_mul(a.paging.limit))
        .take(a.paging.limit)
        .collect();
    Page {
        cluster: a.cluster.to_string(),
        level: a.level,
        window: a.window.into(),
        metrics: a
            .metrics
            .iter()
            .map(|(d, _)| MetricInfo {
                name: d.name.clone(),
                unit: d.unit.clone(),
                help: d.help.clone(),
            })
            .collect(),
        items,
        page: a.paging.page,
        limit: a.paging.limit,
        total_items,
        total_pages,
        errors,
    }
}

fn to_values(window: Window, s: &Series) -> Values {
    let pair = |(t, v): &(f64, f64)| (*t, format_value(*v));
    match window {
        Window::Instant { .. } => Values::Instant {
            value: s.samples.last().map(pair).unwrap_or((0.0, "NaN".into())),
        },
        Window::Range { .. } => Values::Range {
            values: s.samples.iter().map(pair).collect(),
        },
    }
}

/// A sample value as Prometheus writes it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// Sums namespace series into one series per workspace (samples added at
/// equal timestamps); namespaces outside `workspace_of` are dropped.
pub fn sum_by_workspace(series: &[Series], workspace_of: &HashMap<String, String>) -> Vec<Series> {
    let mut sums: BTreeMap<&str, BTreeMap<i64, (f64, f64)>> = BTreeMap::new();
    for s in series {
        let Some(ws) = s
            .labels
            .get("namespace")
            .and_then(|ns| workspace_of.get(ns))
        else {
            continue;
        };
        let acc = sums.entry(ws).or_default();
        for &(t, v) in &s.samples {
            let slot = acc.entry((t * 1000.0).round() as i64).or_insert((t, 0.0));
            slot.1 += v;
        }
    }
    sums.into_iter()
        .map(|(ws, samples)| Series {
            labels: BTreeMap::from([("workspace".to_string(), ws.to_string())]),
            samples: samples.into_values().collect(),
        })
        .collect()
}

/// `self` and children links of a resource, under `/api/v1/clusters/{cluster}`.
fn links(
    cluster: &str,
    level: Level,
    labels: &BTreeMap<String, String>,
    link_nodes: bool,
) -> BTreeMap<String, String> {
    let base = format!("/api/v1/clusters/{}", segment(cluster));
    let label = |name: &str| labels.get(name).map(|v| segment(v)).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut add = |name: &str, path: String| {
        out.insert(name.to_string(), format!("{base}{path}"));
    };
    match level {
        Level::Cluster => {
            add("self", String::new());
            add("nodes", "/nodes".into());
            add("workspaces", "/workspaces".into());
            add("namespaces", "/namespaces".into());
        }
        Level::Node => {
            let node = label("node");
            add("self", format!("/nodes/{node}"));
            add("pods", format!("/nodes/{node}/pods"));
        }
        Level::Workspace => {
            let ws = label("workspace");
            add("self", format!("/workspaces/{ws}"));
            add("namespaces", format!("/workspaces/{ws}/namespaces"));
        }
        Level::Namespace => {
            let ns = label("namespace");
            add("self", format!("/namespaces/{ns}"));
            add("workloads", format!("/namespaces/{ns}/workloads"));
            add("pods", format!("/namespaces/{ns}/pods"));
            add("services", format!("/namespaces/{ns}/services"));
            add("topology", format!("/namespaces/{ns}/topology"));
        }
        Level::Workload => {
            let ns = label("namespace");
            if let Some((kind, name)) = labels.get("workload").and_then(|w| w.split_once(':')) {
                let (kind, name) = (segment(&kind.to_ascii_lowercase()), segment(name));
                add("self", format!("/namespaces/{ns}/workloads/{kind}/{name}"));
                add(
                    "pods",
                    format!("/namespaces/{ns}/workloads/{kind}/{name}/pods"),
                );
                add(
                    "services",
                    format!("/namespaces/{ns}/workloads/{kind}/{name}/services"),
                );
            }
        }
        Level::Pod => {
            let (ns, pod) = (label("namespace"), label("pod"));
            add("self", format!("/namespaces/{ns}/pods/{pod}"));
            add(
                "containers",
                format!("/namespaces/{ns}/pods/{pod}/containers"),
            );
            add("services", format!("/namespaces/{ns}/pods/{pod}/services"));
            if link_nodes && labels.contains_key("node") {
                add("node", format!("/nodes/{}", label("node")));
            }
        }
        Level::Service => {
            let (ns, service) = (label("namespace"), label("service"));
            add("self", format!("/namespaces/{ns}/services/{service}"));
            add(
                "operations",
                format!("/namespaces/{ns}/services/{service}/operations"),
            );
            add("topology", format!("/namespaces/{ns}/topology"));
            out.insert(
                "traces".into(),
                format!(
                    "/clusters/{}/jaeger/api/traces?service={}",
                    segment(cluster),
                    segment(labels.get("service").map_or("", String::as_str))
                ),
            );
        }
        Level::Container | Level::Operation => {}
    }
    out
}

/// Percent-encodes one path segment.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    fn node(name: &str) -> Resource {
        Resource {
            name: name.into(),
            labels: BTreeMap::from([("node".to_string(), name.to_string())]),
        }
    }

    fn series(node: &str, v: f64) -> Series {
        Series {
            labels: BTreeMap::from([("node".to_string(), node.to_string())]),
            samples: vec![(100.0, v)],
        }
    }

    fn page(sort: Option<SortBy>, paging: Paging) -> Page {
        let catalog = Catalog::builtin();
        let def = catalog.get("node_cpu_usage").unwrap();
        assemble(Assembly {
            cluster: "default",
            level: Level::Node,
            resources: ["n1", "n2", "n3", "n4", "n5"].map(node).into(),
            metrics: vec![(
                def,
                Ok(vec![
                    series("n1", 2.0),
                    series("n2", f64::NAN),
                    series("n3", 5.0),
                    series("n5", 2.0),
                ]),
            )],
            window: Window::Instant { time: 100.0 },
            sort: sort.as_ref(),
            paging,
            link_nodes: false,
        })
    }

    fn names(p: &Page) -> Vec<&str> {
        p.items.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn sorting_puts_missing_and_nan_last_and_breaks_ties_by_name() {
        let all = Paging { page: 1, limit: 10 };
        let desc = SortBy {
            metric: "node_cpu_usage".into(),
            descending: true,
        };
        let asc = SortBy {
            descending: false,
            ..desc.clone()
        };
        assert_eq!(
            names(&page(Some(desc), all)),
            ["n3", "n1", "n5", "n2", "n4"]
        );
        assert_eq!(names(&page(Some(asc), all)), ["n1", "n5", "n3", "n2", "n4"]);
        assert_eq!(names(&page(None, all)), ["n1", "n2", "n3", "n4", "n5"]);
    }

    #[test]
    fn paging_counts_every_item_and_slices_the_sorted_list() {
        let p = page(None, Paging { page: 2, limit: 2 });
        assert_eq!(names(&p), ["n3", "n4"]);
        assert_eq!((p.total_items, p.total_pages), (5, 3));
        let beyond = page(None, Paging { page: 9, limit: 2 });
        assert!(beyond.items.is_empty());
        assert_eq!(beyond.total_items, 5);
    }

    #[test]
    fn items_link_to_their_children_with_encoded_segments() {
        let p = page(None, Paging { page: 1, limit: 1 });
        assert_eq!(
            p.items[0].links["pods"],
            "/api/v1/clusters/default/nodes/n1/pods"
        );
        let labels = BTreeMap::from([
            ("namespace".to_string(), "team a".to_string()),
            ("workload".to_string(), "Deployment:api".to_string()),
        ]);
        let l = links("c/1", Level::Workload, &labels, false);
        assert_eq!(
            l["pods"],
            "/api/v1/clusters/c%2F1/namespaces/team%20a/workloads/deployment/api/pods"
        );
    }

    #[test]
    fn workspaces_sum_their_namespaces_per_timestamp() {
        let ns = |n: &str, samples: Vec<(f64, f64)>| Series {
            labels: BTreeMap::from([("namespace".to_string(), n.to_string())]),
            samples,
        };
        let of = HashMap::from([
            ("a".to_string(), "ws".to_string()),
            ("b".to_string(), "ws".to_string()),
        ]);
        let out = sum_by_workspace(
            &[
                ns("a", vec![(1.0, 1.0), (2.0, 2.0)]),
                ns("b", vec![(2.0, 10.0)]),
                ns("other", vec![(1.0, 100.0)]),
            ],
            &of,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].samples, vec![(1.0, 1.0), (2.0, 12.0)]);
    }
}
