//! The levels of the drill-down hierarchy.

use serde::{Deserialize, Serialize};

/// A level of the hierarchy: cluster → node → pod → container, and
/// workspace → namespace → workload → pod → container; a namespace's
/// services (from span metrics) and their operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Cluster,
    Node,
    Workspace,
    Namespace,
    Workload,
    Pod,
    Container,
    Service,
    Operation,
}

impl Level {
    /// Every level, top down.
    pub const ALL: [Level; 9] = [
        Level::Cluster,
        Level::Node,
        Level::Workspace,
        Level::Namespace,
        Level::Workload,
        Level::Pod,
        Level::Container,
        Level::Service,
        Level::Operation,
    ];

    /// Lower-case name, as in the catalog and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Cluster => "cluster",
            Level::Node => "node",
            Level::Workspace => "workspace",
            Level::Namespace => "namespace",
            Level::Workload => "workload",
            Level::Pod => "pod",
            Level::Container => "container",
            Level::Service => "service",
            Level::Operation => "operation",
        }
    }

    /// The labels that identify one resource of this level in a query result.
    pub fn identity_labels(self) -> &'static [&'static str] {
        match self {
            Level::Cluster => &[],
            Level::Node => &["node"],
            Level::Workspace => &["workspace"],
            Level::Namespace => &["namespace"],
            Level::Workload => &["namespace", "workload"],
            Level::Pod => &["namespace", "pod"],
            Level::Container => &["namespace", "pod", "container"],
            Level::Service => &["namespace", "service"],
            Level::Operation => &["namespace", "service", "span_name"],
        }
    }

    /// The label holding a resource's own name (the last identity label).
    pub fn name_label(self) -> Option<&'static str> {
        self.identity_labels().last().copied()
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
