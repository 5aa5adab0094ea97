//! Periscope's log lines as Loki streams: the labels of a stream, the
//! Loki-style names accepted for them in selectors, and the part of a
//! selector a log backend can apply itself.

use crate::ast::{Expr, MatchOp, Selector};
use crate::labels::LabelSet;
use periscope_logs::{workload, LogFilter};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The labels every stream may have.
pub const STREAM_LABELS: [&str; 5] = ["cluster", "container", "namespace", "pod", "workload"];

/// Other names for them, as Loki's OTLP ingest, Promtail and Fluent Bit write them.
const ALIASES: [(&str, &str); 11] = [
    ("k8s_namespace_name", "namespace"),
    ("namespace_name", "namespace"),
    ("kubernetes_namespace_name", "namespace"),
    ("k8s_pod_name", "pod"),
    ("pod_name", "pod"),
    ("kubernetes_pod_name", "pod"),
    ("k8s_container_name", "container"),
    ("container_name", "container"),
    ("kubernetes_container_name", "container"),
    ("k8s_cluster_name", "cluster"),
    ("service_name", "workload"),
];

/// The stream label an alias stands for (the name itself otherwise).
pub fn canonical_name(name: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, canonical)| *canonical)
        .unwrap_or(name)
}

/// Renames aliased label names in every stream selector of `expr`.
pub fn canonicalize(expr: &mut Expr) {
    expr.for_each_log_expr_mut(&mut |l| canonicalize_selector(&mut l.selector));
}

/// Renames aliased label names in a selector.
pub fn canonicalize_selector(selector: &mut Selector) {
    for m in &mut selector.matchers {
        let canonical = canonical_name(&m.name);
        if canonical != m.name {
            m.name = canonical.to_string();
        }
    }
}

/// A line's stream labels; empty values are left out.
pub fn stream_labels(cluster: &str, namespace: &str, pod: &str, container: &str) -> LabelSet {
    let workload = workload::workload_of(pod);
    LabelSet::from_pairs([
        ("cluster", cluster),
        ("namespace", namespace),
        ("pod", pod),
        ("container", container),
        ("workload", workload),
    ])
}

/// The stream label that names where a stream comes from: absent for log
/// lines, `events` for Kubernetes events, `audit` for audit records.
pub const SOURCE_LABEL: &str = "source";

/// Where a stream's lines are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Logs,
    Events,
    Audit,
}

impl Source {
    /// The value of the `source` label (empty for log lines).
    pub fn label(self) -> &'static str {
        match self {
            Source::Logs => "",
            Source::Events => "events",
            Source::Audit => "audit",
        }
    }
}

/// The sources a selector reads: log lines unless it names a `source`, then
/// every source its `source` matchers admit.
pub fn sources(selector: &Selector) -> Vec<Source> {
    let matchers: Vec<_> = selector
        .matchers
        .iter()
        .filter(|m| m.name == SOURCE_LABEL)
        .map(crate::pipeline::CompiledMatcher::new)
        .collect();
    if matchers.is_empty() {
        return vec![Source::Logs];
    }
    [Source::Logs, Source::Events, Source::Audit]
        .into_iter()
        .filter(|s| matchers.iter().all(|m| m.matches(s.label())))
        .collect()
}

/// An event's stream labels: where it is (`namespace` of the object it is
/// about), what it is about (`kind`, `name`, and `pod` for a pod), and its
/// `reason` and `type`.
pub fn event_labels(
    cluster: &str,
    namespace: &str,
    kind: &str,
    name: &str,
    reason: &str,
    event_type: &str,
) -> LabelSet {
    let mut labels = LabelSet::from_pairs([
        (SOURCE_LABEL, "events"),
        ("cluster", cluster),
        ("namespace", namespace),
        ("kind", kind),
        ("name", name),
        ("reason", reason),
        ("type", event_type),
    ]);
    if kind == "Pod" {
        labels.set("pod".into(), name.into());
        labels.set("workload".into(), workload::workload_of(name).into());
    }
    labels
}

/// An audit record's stream labels: the object's `namespace` and `resource`,
/// the `verb` and the `user`.
pub fn audit_labels(
    cluster: &str,
    namespace: &str,
    resource: &str,
    verb: &str,
    user: &str,
) -> LabelSet {
    LabelSet::from_pairs([
        (SOURCE_LABEL, "audit"),
        ("cluster", cluster),
        ("namespace", namespace),
        ("resource", resource),
        ("verb", verb),
        ("user", user),
    ])
}

/// The values of a selector's equality matchers on `name`.
pub fn equal_values(selector: &Selector, name: &str) -> Vec<String> {
    selector
        .matchers
        .iter()
        .filter(|m| m.op == MatchOp::Eq && m.name == name)
        .map(|m| m.value.clone())
        .collect()
}

/// Stream labels and ids, built once per distinct key within a query.
#[derive(Default)]
pub struct StreamIds {
    key: String,
    streams: std::collections::HashMap<String, (u64, LabelSet)>,
}

impl StreamIds {
    /// The id and labels for the values `fields`; `build` makes the labels
    /// the first time they are seen.
    pub fn get(
        &mut self,
        fields: &[&str],
        build: impl FnOnce(&[&str]) -> LabelSet,
    ) -> (u64, &LabelSet) {
        self.key.clear();
        for f in fields {
            self.key.push_str(f);
            self.key.push('\0');
        }
        if !self.streams.contains_key(self.key.as_str()) {
            let id = self.streams.len() as u64;
            self.streams.insert(self.key.clone(), (id, build(fields)));
        }
        let (id, labels) = &self.streams[self.key.as_str()];
        (*id, labels)
    }
}

/// The stream labels and ids of log lines of one cluster.
pub struct LineStreams {
    cluster: String,
    ids: StreamIds,
}

impl LineStreams {
    pub fn new(cluster: &str) -> LineStreams {
        LineStreams {
            cluster: cluster.to_string(),
            ids: StreamIds::default(),
        }
    }

    /// A line's stream id and labels.
    pub fn get(&mut self, line: &periscope_logs::LogLine) -> (u64, &LabelSet) {
        let cluster = &self.cluster;
        self.ids
            .get(&[&line.namespace, &line.pod, &line.container], |f| {
                stream_labels(cluster, f[0], f[1], f[2])
            })
    }
}

/// What a backend can filter for `selector`: the namespaces (`visible`, the
/// caller's, narrowed by the selector's equality matchers), pods, containers,
/// workloads, and one group of keywords of which a line must hold one. Every
/// line the selector matches passes the filter; lines that pass it are still
/// matched against the whole selector and pipeline.
pub fn log_filter(
    selector: &Selector,
    substrings: Option<&[String]>,
    visible: Option<&Arc<BTreeSet<String>>>,
    start: i64,
    end: i64,
) -> LogFilter {
    let equal = |name: &str| equal_values(selector, name);
    let named = equal("namespace");
    let namespaces = match (visible, named.is_empty()) {
        (None, true) => None,
        (None, false) => Some(Arc::new(named.into_iter().collect())),
        (Some(v), true) => Some(Arc::clone(v)),
        (Some(v), false) => Some(Arc::new(
            named.into_iter().filter(|n| v.contains(n)).collect(),
        )),
    };
    LogFilter {
        namespaces,
        workloads: equal("workload"),
        pods: equal("pod"),
        containers: equal("container"),
        namespace_query: vec![],
        workload_query: vec![],
        pod_query: vec![],
        container_query: vec![],
        log_query: substrings
            .map(|s| s.iter().map(|v| v.to_lowercase()).collect())
            .unwrap_or_default(),
        start,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_selector;

    #[test]
    fn aliases_become_stream_labels() {
        let mut s =
            parse_selector(r#"{k8s_namespace_name="a", service_name="web", level="x"}"#).unwrap();
        canonicalize_selector(&mut s);
        assert_eq!(
            s.to_string(),
            r#"{namespace="a", workload="web", level="x"}"#
        );
    }

    #[test]
    fn pushdown_never_widens_the_scope() {
        let visible = Arc::new(BTreeSet::from(["a".to_string(), "b".to_string()]));
        let s = parse_selector(r#"{namespace="c", pod="p"}"#).unwrap();
        let f = log_filter(&s, Some(&["Error".to_string()]), Some(&visible), 1, 2);
        assert_eq!(f.namespaces.as_deref(), Some(&BTreeSet::new()));
        assert_eq!(f.pods, ["p"]);
        assert_eq!(f.log_query, ["error"]);
        let s = parse_selector(r#"{namespace=~".*"}"#).unwrap();
        assert_eq!(
            log_filter(&s, None, Some(&visible), 1, 2).namespaces,
            Some(visible)
        );
        assert_eq!(log_filter(&s, None, None, 1, 2).namespaces, None);
    }

    #[test]
    fn selectors_choose_their_sources() {
        let of = |s: &str| sources(&parse_selector(s).unwrap());
        assert_eq!(of(r#"{namespace="a"}"#), [Source::Logs]);
        assert_eq!(of(r#"{source="events"}"#), [Source::Events]);
        assert_eq!(
            of(r#"{source=~"events|audit"}"#),
            [Source::Events, Source::Audit]
        );
        assert_eq!(of(r#"{source!="audit"}"#), [Source::Logs, Source::Events]);
        assert_eq!(of(r#"{source="nope"}"#), []);
    }

    #[test]
    fn stream_labels_carry_the_workload() {
        let l = stream_labels("prod", "a", "web-7d9c8b6f5d-x2k4q", "app");
        assert_eq!(l.get("workload"), Some("web"));
        assert_eq!(stream_labels("", "a", "p", "").get("cluster"), None);
    }
}
