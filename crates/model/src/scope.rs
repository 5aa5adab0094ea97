use std::collections::BTreeSet;
use std::sync::Arc;

/// The data a principal may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the cluster, including series with no namespace label.
    ClusterWide,
    /// Exactly these namespaces. An empty set means nothing is visible. Shared,
    /// so that a scope of thousands of namespaces is not copied per request.
    Namespaces(Arc<BTreeSet<String>>),
}

impl Scope {
    /// A namespace scope from any list of names.
    pub fn namespaces<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Scope::Namespaces(Arc::new(names.into_iter().map(Into::into).collect()))
    }

    /// Whether this scope sees everything.
    pub fn is_cluster_wide(&self) -> bool {
        matches!(self, Scope::ClusterWide)
    }
}
