//! Scope resolution: principal → the exact set of namespaces it may see.

use crate::Principal;
use periscope_config::{Config, Role};
use periscope_model::Scope;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// Workspace → namespaces.
pub type Membership = BTreeMap<String, BTreeSet<String>>;

/// Resolves scopes from static workspaces plus membership discovered live from
/// Prometheus. Static configuration wins: a namespace assigned to a workspace in
/// the file is never moved to another by discovery.
pub struct ScopeResolver {
    static_membership: Membership,
    statically_assigned: HashMap<String, String>,
    /// The current membership and its generation (bumped on every change).
    merged: RwLock<(u64, Arc<Membership>)>,
    /// Resolved scopes by principal name, tagged with the generation they were
    /// computed from; an entry of another generation is stale.
    resolved: RwLock<HashMap<String, (u64, Scope)>>,
}

impl ScopeResolver {
    /// Starts with the workspaces declared in configuration.
    pub fn from_config(config: &Config) -> Self {
        let mut static_membership = Membership::new();
        let mut statically_assigned = HashMap::new();
        for w in &config.workspaces {
            let set = static_membership.entry(w.name.clone()).or_default();
            for ns in &w.namespaces {
                set.insert(ns.clone());
                statically_assigned
                    .entry(ns.clone())
                    .or_insert_with(|| w.name.clone());
            }
        }
        let merged = RwLock::new((0, Arc::new(static_membership.clone())));
        Self {
            static_membership,
            statically_assigned,
            merged,
            resolved: RwLock::default(),
        }
    }

    /// Replaces the discovered part of the membership.
    pub fn set_discovered(&self, discovered: &Membership) {
        let mut merged = self.static_membership.clone();
        for (workspace, namespaces) in discovered {
            for ns in namespaces {
                match self.statically_assigned.get(ns) {
                    Some(owner) if owner != workspace => {
                        tracing::debug!(namespace = %ns, discovered = %workspace, configured = %owner, "ignoring discovered workspace membership that conflicts with configuration");
                    }
                    _ => {
                        merged
                            .entry(workspace.clone())
                            .or_default()
                            .insert(ns.clone());
                    }
                }
            }
        }
        let mut current = self.merged.write().unwrap_or_else(|e| e.into_inner());
        if *current.1 != merged {
            *current = (current.0 + 1, Arc::new(merged));
        }
    }

    /// The current membership (static and discovered).
    pub fn membership(&self) -> Arc<Membership> {
        self.snapshot().1
    }

    fn snapshot(&self) -> (u64, Arc<Membership>) {
        let current = self.merged.read().unwrap_or_else(|e| e.into_inner());
        (current.0, Arc::clone(&current.1))
    }

    /// What `principal` may see right now. The same shared set is returned for
    /// a principal until the membership changes.
    pub fn resolve(&self, principal: &Principal) -> Scope {
        if principal.role == Role::ClusterAdmin {
            return Scope::ClusterWide;
        }
        let (generation, membership) = self.snapshot();
        if let Some((cached_generation, scope)) = self
            .resolved
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&principal.name)
        {
            if *cached_generation == generation {
                return scope.clone();
            }
        }
        let scope = Self::compute(principal, &membership);
        self.resolved
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(principal.name.clone(), (generation, scope.clone()));
        scope
    }

    fn compute(principal: &Principal, membership: &Membership) -> Scope {
        match principal.role {
            Role::ClusterAdmin => Scope::ClusterWide,
            Role::NamespaceViewer => Scope::namespaces(principal.namespaces.iter().cloned()),
            Role::WorkspaceViewer => {
                let namespaces = principal
                    .workspaces
                    .iter()
                    .filter_map(|w| membership.get(w))
                    .flatten()
                    .cloned();
                Scope::namespaces(namespaces)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> ScopeResolver {
        let text = r#"
[[clusters]]
name = "default"
prometheus = { url = "http://127.0.0.1:9090" }
[[workspaces]]
name = "ws-a"
namespaces = ["team-a"]
[workspace_discovery]
"#;
        ScopeResolver::from_config(&Config::from_toml(text, "t", &HashMap::new()).unwrap())
    }

    fn viewer(workspaces: &[&str]) -> Principal {
        Principal {
            // Names are unique in a validated configuration; resolution is cached by name.
            name: format!("viewer-of-{}", workspaces.join("+")),
            role: Role::WorkspaceViewer,
            workspaces: workspaces.iter().map(|s| s.to_string()).collect(),
            namespaces: vec![],
            limits: Default::default(),
        }
    }

    #[test]
    fn discovery_adds_namespaces_but_never_overrides_configuration() {
        let r = resolver();
        let discovered = Membership::from([
            ("ws-a".into(), BTreeSet::from(["team-a2".to_string()])),
            (
                "ws-b".into(),
                BTreeSet::from(["team-a".to_string(), "team-b".to_string()]),
            ),
        ]);
        r.set_discovered(&discovered);
        assert_eq!(
            r.resolve(&viewer(&["ws-a"])),
            Scope::namespaces(["team-a", "team-a2"])
        );
        assert_eq!(r.resolve(&viewer(&["ws-b"])), Scope::namespaces(["team-b"]));
        assert_eq!(
            r.resolve(&viewer(&["ws-unknown"])),
            Scope::namespaces(Vec::<String>::new())
        );
    }

    #[test]
    fn resolved_scopes_are_shared_until_membership_changes() {
        let r = resolver();
        let alice = viewer(&["ws-a"]);
        let (Scope::Namespaces(first), Scope::Namespaces(again)) =
            (r.resolve(&alice), r.resolve(&alice))
        else {
            panic!("scoped")
        };
        assert!(Arc::ptr_eq(&first, &again));
        let discovered =
            Membership::from([("ws-a".into(), BTreeSet::from(["team-a2".to_string()]))]);
        r.set_discovered(&discovered);
        let Scope::Namespaces(updated) = r.resolve(&alice) else {
            panic!("scoped")
        };
        assert!(!Arc::ptr_eq(&first, &updated));
        assert_eq!(updated.len(), 2);
        r.set_discovered(&discovered);
        let Scope::Namespaces(unchanged) = r.resolve(&alice) else {
            panic!("scoped")
        };
        assert!(
            Arc::ptr_eq(&updated, &unchanged),
            "an identical refresh keeps the shared set"
        );
    }
}
