//! Which namespaces a search may read: the caller's scope, narrowed by the
//! namespace and workspace filters it asked for. Records are scoped by the
//! namespace of the object they are about; a record of a cluster-scoped
//! object has none, so only a cluster-wide caller without a namespace
//! filter sees it.

use periscope_model::{Error, Result, Scope};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The namespace and workspace filters of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceRequest {
    /// Exact namespaces (`*_namespace_filter`).
    pub filter: Vec<String>,
    /// Substrings, lower-cased (`*_namespace_search`).
    pub search: Vec<String>,
    /// Exact workspaces (`workspace_filter`).
    pub workspace_filter: Vec<String>,
    /// Substrings of workspace names, lower-cased (`workspace_search`).
    pub workspace_search: Vec<String>,
}

/// The namespaces a search reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    /// Exactly these; `None` means any namespace, cluster-scoped records
    /// included (a cluster-wide caller that did not narrow).
    pub set: Option<Arc<BTreeSet<String>>>,
    /// The namespace must also contain one of these (lower-cased), if any.
    pub search: Vec<String>,
}

impl Namespaces {
    /// Whether nothing can match.
    pub fn is_empty(&self) -> bool {
        self.set.as_ref().is_some_and(|s| s.is_empty())
    }
}

impl NamespaceRequest {
    /// The namespaces `scope` may read of those asked for. An exact namespace
    /// outside the scope is refused (403); workspaces only narrow, to the
    /// members the scope holds. `membership` maps workspaces to namespaces.
    pub fn resolve(
        &self,
        scope: &Scope,
        membership: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<Namespaces> {
        let mut set: Option<BTreeSet<String>> = match scope {
            Scope::ClusterWide => None,
            Scope::Namespaces(allowed) => Some(allowed.as_ref().clone()),
        };
        if !self.filter.is_empty() {
            if let Scope::Namespaces(allowed) = scope {
                if let Some(foreign) = self.filter.iter().find(|n| !allowed.contains(*n)) {
                    return Err(Error::forbidden(format!(
                        "namespace {foreign:?} is outside your scope"
                    )));
                }
            }
            set = Some(self.filter.iter().cloned().collect());
        }
        let members = |pick: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
            membership
                .iter()
                .filter(|(ws, _)| pick(ws))
                .flat_map(|(_, namespaces)| namespaces.iter().cloned())
                .collect()
        };
        let mut narrow = |with: BTreeSet<String>| {
            set = Some(match set.take() {
                None => with,
                Some(current) => current.intersection(&with).cloned().collect(),
            });
        };
        if !self.workspace_filter.is_empty() {
            narrow(members(&|ws| self.workspace_filter.iter().any(|w| w == ws)));
        }
        if !self.workspace_search.is_empty() {
            narrow(members(&|ws| {
                let ws = ws.to_lowercase();
                self.workspace_search
                    .iter()
                    .any(|s| ws.contains(s.as_str()))
            }));
        }
        Ok(Namespaces {
            set: set.map(Arc::new),
            search: self.search.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership() -> BTreeMap<String, BTreeSet<String>> {
        BTreeMap::from([
            (
                "ws-a".into(),
                BTreeSet::from(["team-a".into(), "team-a-dev".into()]),
            ),
            ("ws-b".into(), BTreeSet::from(["team-b".into()])),
        ])
    }

    fn names(n: &Namespaces) -> Vec<&str> {
        n.set.as_ref().unwrap().iter().map(String::as_str).collect()
    }

    #[test]
    fn a_tenant_reads_its_scope_and_never_more() {
        let scope = Scope::namespaces(["team-a", "team-a-dev"]);
        let all = NamespaceRequest::default()
            .resolve(&scope, &membership())
            .unwrap();
        assert_eq!(names(&all), ["team-a", "team-a-dev"]);
        let foreign = NamespaceRequest {
            filter: vec!["team-b".into()],
            ..Default::default()
        };
        assert!(foreign.resolve(&scope, &membership()).is_err());
        // Another tenant's workspace narrows to nothing rather than widening.
        let other_ws = NamespaceRequest {
            workspace_filter: vec!["ws-b".into()],
            ..Default::default()
        };
        assert!(other_ws.resolve(&scope, &membership()).unwrap().is_empty());
        let fuzzy_ws = NamespaceRequest {
            workspace_search: vec!["ws".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&fuzzy_ws.resolve(&scope, &membership()).unwrap()),
            ["team-a", "team-a-dev"]
        );
    }

    #[test]
    fn an_admin_reads_everything_unless_narrowed() {
        let all = NamespaceRequest::default()
            .resolve(&Scope::ClusterWide, &membership())
            .unwrap();
        assert_eq!(all.set, None);
        let ws = NamespaceRequest {
            workspace_filter: vec!["ws-b".into()],
            ..Default::default()
        };
        assert_eq!(
            names(&ws.resolve(&Scope::ClusterWide, &membership()).unwrap()),
            ["team-b"]
        );
    }
}
