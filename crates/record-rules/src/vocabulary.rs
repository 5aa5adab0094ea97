//! What names in a condition mean: the dialect, the group's aliases, lists
//! and macros, and for audit records Falco's `ka.*` fields, each mapped to
//! the path of KubeSphere's PascalCase document that Periscope stores.

use crate::ast::{Condition, Literal, Path, Segment};
use std::collections::BTreeMap;

/// How a condition is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// kube-events' event-rule-engine, semantics kept for compatibility:
    /// `and`/`or` at one precedence left to right, a prefix `not` takes the
    /// rest, negated operators are false on a missing field, `like`/`regex`
    /// unanchored, a number compared with text is an error.
    #[default]
    KubeEvents,
    /// What most readers expect: `not` binds tighter than `and`, `and` than
    /// `or`; `x != v`, `not in`, `not contains`, ... are `not (...)` and so
    /// hold on a missing field; `like`/`regex` match the whole value; a
    /// number compared with text is simply false.
    Strict,
}

/// The records a group's conditions are about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fields {
    /// Paths into the record as stored; no other names.
    #[default]
    Plain,
    /// Audit records: KubeSphere's PascalCase paths, and Falco's `ka.*`.
    Audit,
}

/// Everything a condition's names resolve against.
#[derive(Debug, Default)]
pub struct Context {
    pub dialect: Dialect,
    pub fields: Fields,
    /// KubeSphere auditing's aliases: `user` → `User.username`.
    pub aliases: BTreeMap<String, Path>,
    /// Named lists (`in (sensitive_paths)`, `in ${action}`).
    pub lists: BTreeMap<String, Vec<Literal>>,
    /// Named conditions (`pod and kcreate`, `${pod} and ${create}`).
    pub macros: BTreeMap<String, Condition>,
}

impl Context {
    /// The path a name stands for, when it is an alias or a known field name.
    pub fn field(&self, name: &str) -> Option<Path> {
        if let Some(p) = self.aliases.get(name) {
            return Some(p.clone());
        }
        match self.fields {
            Fields::Audit => falco_field(name),
            Fields::Plain => None,
        }
    }
}

fn keys(parts: &[&str]) -> Vec<Segment> {
    parts
        .iter()
        .map(|p| match *p {
            "*" => Segment::Any,
            k => Segment::Key(k.to_string()),
        })
        .collect()
}

/// Falco's k8saudit field (`plugins/k8saudit/pkg/k8saudit/fields.go`) as a
/// path into the stored PascalCase document. Multi-valued fields reach
/// every value (`[*]`), so `=`, `in` and `intersects` hold when any does.
pub fn falco_field(name: &str) -> Option<Path> {
    let containers = |list: &str, rest: &[&str]| {
        let mut p = vec!["RequestObject", "spec", list, "*"];
        p.extend_from_slice(rest);
        Some(Path(keys(&p)))
    };
    let annotation = |key: &str| {
        Some(Path(vec![
            Segment::Key("Annotations".into()),
            Segment::Key(key.into()),
        ]))
    };
    let simple = |p: &[&str]| Some(Path(keys(p)));
    let container_field = name
        .strip_prefix("ka.req.pod.")
        .and_then(|rest| rest.split_once('.'))
        .filter(|(list, _)| {
            matches!(
                *list,
                "containers" | "initContainers" | "ephemeralContainers"
            )
        });
    if let Some((list, field)) = container_field {
        return match field {
            "image" => containers(list, &["image"]),
            "privileged" => containers(list, &["securityContext", "privileged"]),
            "host_port" => containers(list, &["ports", "*", "hostPort"]),
            "add_capabilities" => {
                containers(list, &["securityContext", "capabilities", "add", "*"])
            }
            "run_as_user" => containers(list, &["securityContext", "runAsUser"]),
            "allow_privilege_escalation" => {
                containers(list, &["securityContext", "allowPrivilegeEscalation"])
            }
            "read_only_fs" => containers(list, &["securityContext", "readOnlyRootFilesystem"]),
            _ => None,
        };
    }
    match name {
        "ka.auditid" => simple(&["AuditID"]),
        "ka.stage" => simple(&["Stage"]),
        "ka.verb" => simple(&["Verb"]),
        "ka.uri" => simple(&["RequestURI"]),
        "ka.useragent" => simple(&["UserAgent"]),
        "ka.sourceips" => simple(&["SourceIPs", "*"]),
        "ka.user.name" => simple(&["User", "username"]),
        "ka.user.groups" => simple(&["User", "groups", "*"]),
        "ka.impuser.name" => simple(&["ImpersonatedUser", "username"]),
        "ka.target.name" => simple(&["ObjectRef", "Name"]),
        "ka.target.namespace" => simple(&["ObjectRef", "Namespace"]),
        "ka.target.resource" => simple(&["ObjectRef", "Resource"]),
        "ka.target.subresource" => simple(&["ObjectRef", "Subresource"]),
        "ka.response.code" => simple(&["ResponseStatus", "code"]),
        "ka.response.reason" => simple(&["ResponseStatus", "reason"]),
        "ka.resp.name" => simple(&["ResponseObject", "metadata", "name"]),
        "ka.cluster.name" => simple(&["Cluster"]),
        "ka.auth.decision" => annotation("authorization.k8s.io/decision"),
        "ka.auth.reason" => annotation("authorization.k8s.io/reason"),
        "ka.security.pod.violations" => annotation("pod-security.kubernetes.io/audit-violations"),
        "ka.req.binding.role" => simple(&["RequestObject", "roleRef", "name"]),
        "ka.req.binding.subjects" => simple(&["RequestObject", "subjects", "*", "name"]),
        "ka.req.pod.host_network" => simple(&["RequestObject", "spec", "hostNetwork"]),
        "ka.req.pod.host_pid" => simple(&["RequestObject", "spec", "hostPID"]),
        "ka.req.pod.host_ipc" => simple(&["RequestObject", "spec", "hostIPC"]),
        "ka.req.pod.volumes.hostpath" => {
            simple(&["RequestObject", "spec", "volumes", "*", "hostPath", "path"])
        }
        "ka.req.role.rules.verbs" => simple(&["RequestObject", "rules", "*", "verbs", "*"]),
        "ka.req.role.rules.resources" => simple(&["RequestObject", "rules", "*", "resources", "*"]),
        "ka.req.role.rules.apiGroups" => simple(&["RequestObject", "rules", "*", "apiGroups", "*"]),
        "ka.req.service.type" => simple(&["RequestObject", "spec", "type"]),
        "ka.req.service.ports" => simple(&["RequestObject", "spec", "ports", "*", "port"]),
        "ka.req.configmap.obj" => simple(&["RequestObject", "data"]),
        _ => None,
    }
}
