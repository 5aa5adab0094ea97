//! The event search's parameters (KubeSphere's names, and a `kubectl
//! events`-like shortcut), with the caller's scope applied.

use periscope_model::{Error, Result, Scope};
use periscope_record_search::{NamespaceRequest, Namespaces, Params, Search};
use std::collections::{BTreeMap, BTreeSet};

/// Which events a search is about. Every field narrows the result; lists OR
/// their values, `*_search` lists are case-insensitive substrings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Namespaces of the involved objects the caller may read and asked for.
    pub namespaces: Namespaces,
    pub names: Vec<String>,
    pub name_search: Vec<String>,
    /// Exact kinds (`Pod`).
    pub kinds: Vec<String>,
    /// Kinds compared without case (the shortcut's `for=pod/x`).
    pub kinds_any_case: Vec<String>,
    pub reasons: Vec<String>,
    pub reason_search: Vec<String>,
    pub message_search: Vec<String>,
    /// `Normal`, `Warning`.
    pub types: Vec<String>,
}

/// A parsed event search.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRequest {
    pub search: Search,
    pub filter: EventFilter,
}

const PARAMETERS: [&str; 12] = [
    "workspace_filter",
    "workspace_search",
    "involved_object_namespace_filter",
    "involved_object_namespace_search",
    "involved_object_name_filter",
    "involved_object_name_search",
    "involved_object_kind_filter",
    "reason_filter",
    "reason_search",
    "message_search",
    "type_filter",
    "cluster",
];

/// Parameters of the per-namespace shortcut.
const SHORTCUT: [&str; 2] = ["for", "types"];

impl EventRequest {
    /// Parses KubeSphere's event search parameters for a caller with `scope`;
    /// `membership` maps workspaces to namespaces; `now` (Unix ns) is the
    /// default end. A namespace outside the scope is refused (403).
    pub fn parse(
        pairs: &[(String, String)],
        scope: &Scope,
        membership: &BTreeMap<String, BTreeSet<String>>,
        now: i64,
    ) -> Result<EventRequest> {
        let params = Params::new(pairs, &PARAMETERS)?;
        let search = Search::parse(&params, now)?;
        let namespaces = NamespaceRequest {
            filter: params.list("involved_object_namespace_filter"),
            search: params.lower("involved_object_namespace_search"),
            workspace_filter: params.list("workspace_filter"),
            workspace_search: params.lower("workspace_search"),
        }
        .resolve(scope, membership)?;
        Ok(EventRequest {
            search,
            filter: EventFilter {
                namespaces,
                names: params.list("involved_object_name_filter"),
                name_search: params.lower("involved_object_name_search"),
                kinds: params.list("involved_object_kind_filter"),
                kinds_any_case: Vec::new(),
                reasons: params.list("reason_filter"),
                reason_search: params.lower("reason_search"),
                message_search: params.lower("message_search"),
                types: params.list("type_filter"),
            },
        })
    }

    /// `GET /api/v1/namespaces/{ns}/events?for=pod/x&types=Warning`, as
    /// `kubectl events` asks: the events of one namespace, optionally of one
    /// object (`kind/name`, kind singular, plural or short, any case) and of
    /// some types, plus the common paging parameters.
    pub fn for_namespace(
        namespace: &str,
        pairs: &[(String, String)],
        scope: &Scope,
        now: i64,
    ) -> Result<EventRequest> {
        let params = Params::new(pairs, &SHORTCUT)?;
        let search = Search::parse(&params, now)?;
        let namespaces = NamespaceRequest {
            filter: vec![namespace.to_string()],
            ..Default::default()
        }
        .resolve(scope, &BTreeMap::new())?;
        let (kinds_any_case, names) = match params.get("for") {
            None => (Vec::new(), Vec::new()),
            Some(object) => {
                let (kind, name) = object
                    .split_once('/')
                    .filter(|(k, n)| !k.is_empty() && !n.is_empty() && !n.contains('/'))
                    .ok_or_else(|| {
                        Error::bad_request(format!(
                            "parameter \"for\": {object:?} is not kind/name, e.g. pod/web-1"
                        ))
                    })?;
                (vec![kind_name(kind)], vec![name.to_string()])
            }
        };
        Ok(EventRequest {
            search,
            filter: EventFilter {
                namespaces,
                names,
                name_search: Vec::new(),
                kinds: Vec::new(),
                kinds_any_case,
                reasons: Vec::new(),
                reason_search: Vec::new(),
                message_search: Vec::new(),
                types: params.list("types"),
            },
        })
    }
}

/// The lower-case kind a `kubectl` resource name means.
fn kind_name(resource: &str) -> String {
    let r = resource.to_ascii_lowercase();
    let kind = match r.as_str() {
        "po" | "pods" => "pod",
        "deploy" | "deployments" => "deployment",
        "rs" | "replicasets" => "replicaset",
        "sts" | "statefulsets" => "statefulset",
        "ds" | "daemonsets" => "daemonset",
        "jobs" => "job",
        "cj" | "cronjobs" => "cronjob",
        "svc" | "services" => "service",
        "no" | "nodes" => "node",
        "ns" | "namespaces" => "namespace",
        "pvc" | "persistentvolumeclaims" => "persistentvolumeclaim",
        "pv" | "persistentvolumes" => "persistentvolume",
        "hpa" | "horizontalpodautoscalers" => "horizontalpodautoscaler",
        "ep" | "endpoints" => "endpoints",
        "cm" | "configmaps" => "configmap",
        "ing" | "ingresses" => "ingress",
        other => other,
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn kubesphere_parameters_fill_the_filter() {
        let r = EventRequest::parse(
            &pairs(&[
                ("involved_object_name_search", "Web"),
                ("reason_filter", "BackOff,Failed"),
                ("type_filter", "Warning"),
                ("start_time", "100"),
            ]),
            &Scope::namespaces(["demo"]),
            &BTreeMap::new(),
            200_000_000_000,
        )
        .unwrap();
        assert_eq!(r.filter.name_search, ["web"]);
        assert_eq!(r.filter.reasons, ["BackOff", "Failed"]);
        assert_eq!(r.filter.types, ["Warning"]);
        assert_eq!(
            (r.search.start, r.search.end),
            (100_000_000_000, 200_000_000_000)
        );
        let e = EventRequest::parse(
            &pairs(&[("involved_object_namespace_filter", "kube-system")]),
            &Scope::namespaces(["demo"]),
            &BTreeMap::new(),
            0,
        )
        .unwrap_err();
        assert!(e.message().contains("kube-system"), "{}", e.message());
    }

    #[test]
    fn the_shortcut_takes_kubectl_s_object_names() {
        let r = EventRequest::for_namespace(
            "demo",
            &pairs(&[("for", "po/web-1"), ("types", "Warning")]),
            &Scope::ClusterWide,
            0,
        )
        .unwrap();
        assert_eq!(
            (
                r.filter.kinds_any_case.as_slice(),
                r.filter.names.as_slice()
            ),
            (&["pod".to_string()][..], &["web-1".to_string()][..])
        );
        assert_eq!(kind_name("Deployments"), "deployment");
        assert_eq!(kind_name("Pod"), "pod");
        for bad in ["pod", "pod/", "/x", "pod/a/b"] {
            assert!(
                EventRequest::for_namespace(
                    "demo",
                    &pairs(&[("for", bad)]),
                    &Scope::ClusterWide,
                    0
                )
                .is_err(),
                "{bad}"
            );
        }
        let foreign = EventRequest::for_namespace("other", &[], &Scope::namespaces(["demo"]), 0);
        assert!(foreign.is_err());
    }
}
