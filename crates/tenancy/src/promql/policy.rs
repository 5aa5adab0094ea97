//! The metric policy table: which metrics are public, cluster-only, or scoped by
//! which label.

use periscope_config::{MetricAccess, MetricPolicyRule};
use regex::Regex;

/// How one metric is exposed to scoped principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricClass {
    /// Visible to everyone, unfiltered.
    Public,
    /// Visible only to cluster-wide principals.
    ClusterOnly,
    /// Filtered on this label.
    Scoped(String),
}

/// Built-in rules for series that carry no tenant namespace: node-exporter,
/// machine and node objects, the control plane, cluster recording rules and the
/// monitoring stack itself.
const BUILTIN_CLUSTER_ONLY: &[&str] = &[
    "node_.*",
    "kube_node_.*",
    "machine_.*",
    "kube_persistentvolume_.*",
    "kube_storageclass_.*",
    "apiserver_.*",
    "etcd_.*",
    "scheduler_.*",
    "kubeproxy_.*",
    "coredns_.*",
    "workqueue_.*",
    "rest_client_.*",
    "prometheus_.*",
    "alertmanager_.*",
    "node:.*",
    ":node_.*",
    "cluster:.*",
    "instance:.*",
    "instance_.*:.*",
];

struct Rule {
    pattern: Regex,
    class: MetricClass,
}

/// Ordered rules, operator's first, built-ins after; the first match wins and an
/// unmatched metric is scoped by the default label (fail closed).
pub struct MetricPolicy {
    rules: Vec<Rule>,
    default_label: String,
    public_patterns: Vec<String>,
    has_alternate_labels: bool,
}

impl MetricPolicy {
    /// Builds the table. `rules` come from validated configuration.
    pub fn new(rules: &[MetricPolicyRule], default_label: &str) -> Self {
        let mut compiled = Vec::new();
        let mut public_patterns = Vec::new();
        for rule in rules {
            let class = match rule.access {
                MetricAccess::Public => {
                    public_patterns.push(rule.metric.clone());
                    MetricClass::Public
                }
                MetricAccess::Cluster => MetricClass::ClusterOnly,
                MetricAccess::Scoped => MetricClass::Scoped(
                    rule.label
                        .clone()
                        .unwrap_or_else(|| default_label.to_string()),
                ),
            };
            compiled.push(Rule {
                pattern: anchored(&rule.metric),
                class,
            });
        }
        for pattern in BUILTIN_CLUSTER_ONLY {
            compiled.push(Rule {
                pattern: anchored(pattern),
                class: MetricClass::ClusterOnly,
            });
        }
        let has_alternate_labels = compiled
            .iter()
            .any(|r| matches!(&r.class, MetricClass::Scoped(l) if l != default_label));
        Self {
            rules: compiled,
            default_label: default_label.to_string(),
            public_patterns,
            has_alternate_labels,
        }
    }

    /// Class of the metric `name`.
    pub fn classify(&self, name: &str) -> MetricClass {
        self.rules
            .iter()
            .find(|r| r.pattern.is_match(name))
            .map(|r| r.class.clone())
            .unwrap_or_else(|| MetricClass::Scoped(self.default_label.clone()))
    }

    /// The label that scopes selectors naming no single metric.
    pub fn default_label(&self) -> &str {
        &self.default_label
    }

    /// Whether some metrics are scoped by a label other than the default; then a
    /// selector naming no metric cannot be proven safe and is refused.
    pub fn has_alternate_labels(&self) -> bool {
        self.has_alternate_labels
    }

    /// Metric-name regexes of the public rules.
    pub fn public_patterns(&self) -> &[String] {
        &self.public_patterns
    }
}

fn anchored(pattern: &str) -> Regex {
    // Patterns were validated when the configuration was loaded; the built-ins are constant.
    Regex::new(&format!("^(?:{pattern})$")).expect("metric policy patterns are validated")
}
