//! What rules see of an event or audit record: the document conditions
//! are evaluated on (built only when a rule may match), a few fields read
//! without it (for the rule index), the namespace that scopes it, its time,
//! its identity (so a re-delivery never counts twice) and the labels of the
//! object it is about.

use periscope_audit::AuditRecord;
use periscope_events::EventRecord;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The two kinds of records rules are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    Event,
    Audit,
}

impl RecordKind {
    /// `event` / `audit`: the `type` of a group, the `alerttype` of an alert.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Event => "event",
            RecordKind::Audit => "audit",
        }
    }
}

/// A record rules can be evaluated on.
pub trait RuleRecord {
    /// Which kind it is.
    const KIND: RecordKind;
    /// Paths [`RuleRecord::quick`] answers (what the rule index is built on).
    const QUICK: &'static [&'static str];
    /// A field's text without building the document (`None`: not one of
    /// [`RuleRecord::QUICK`], or absent).
    fn quick(&self, path: &str) -> Option<&str>;
    /// The document conditions are evaluated on.
    fn document(&self) -> Value;
    /// The namespace that scopes it ("" for cluster-scoped records).
    fn scope_namespace(&self) -> &str;
    /// When it happened, Unix ns.
    fn time_ns(&self) -> i64;
    /// Identifies this version of the record (a re-delivery has the same).
    fn identity(&self) -> u64;
    /// `alerttype`, `cluster`, `namespace`, `<kind>: <name>`, `container`.
    fn object_labels(&self) -> BTreeMap<String, String>;
}

fn hash(parts: &[&str], n: u64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    n.hash(&mut h);
    h.finish()
}

fn put(labels: &mut BTreeMap<String, String>, key: &str, value: &str) {
    if !value.is_empty() {
        labels.insert(key.to_string(), value.to_string());
    }
}

/// `spec.containers{web}` → `web`.
fn container_of_field_path(field_path: &str) -> &str {
    field_path
        .split_once('{')
        .and_then(|(_, rest)| rest.strip_suffix('}'))
        .unwrap_or("")
}

/// A label name for a kind or resource: lowercase, `[a-z0-9_]`.
fn label_name(kind: &str) -> String {
    kind.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl RuleRecord for EventRecord {
    const KIND: RecordKind = RecordKind::Event;
    const QUICK: &'static [&'static str] = &[
        "reason",
        "type",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "source.component",
        "metadata.namespace",
    ];

    fn quick(&self, path: &str) -> Option<&str> {
        Some(match path {
            "reason" => &self.reason,
            "type" => &self.event_type,
            "involvedObject.kind" => &self.involved.kind,
            "involvedObject.namespace" => &self.involved.namespace,
            "involvedObject.name" => &self.involved.name,
            "source.component" => &self.component,
            "metadata.namespace" => &self.namespace,
            _ => return None,
        })
    }

    /// The core/v1 Event kube-events' ruler evaluates, whatever format the
    /// exporter sent (events.k8s.io/v1's `regarding` and `note` included).
    fn document(&self) -> Value {
        json!({
            "metadata": {"name": self.name, "namespace": self.namespace, "uid": self.uid},
            "involvedObject": {
                "kind": self.involved.kind,
                "namespace": self.involved.namespace,
                "name": self.involved.name,
                "uid": self.involved.uid,
                "apiVersion": self.involved.api_version,
                "fieldPath": self.involved.field_path,
            },
            "reason": self.reason,
            "message": self.message,
            "type": self.event_type,
            "count": self.count,
            "source": {"component": self.component, "host": self.host},
            "action": self.action,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
            "cluster": self.cluster,
        })
    }

    fn scope_namespace(&self) -> &str {
        &self.involved.namespace
    }

    fn time_ns(&self) -> i64 {
        self.last_seen
    }

    fn identity(&self) -> u64 {
        hash(
            &[&self.cluster, &self.uid],
            self.count ^ self.last_seen as u64,
        )
    }

    fn object_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        put(&mut labels, "alerttype", "event");
        put(&mut labels, "cluster", &self.cluster);
        if !self.involved.kind.is_empty() && self.involved.kind != "Namespace" {
            put(
                &mut labels,
                &label_name(&self.involved.kind),
                &self.involved.name,
            );
        }
        put(&mut labels, "namespace", &self.involved.namespace);
        put(
            &mut labels,
            "container",
            container_of_field_path(&self.involved.field_path),
        );
        labels
    }
}

/// `pods` → `pod`, `ingresses` → `ingress`, `networkpolicies` → `networkpolicy`.
fn singular(resource: &str) -> String {
    if let Some(stem) = resource.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = resource
        .strip_suffix("sses")
        .or_else(|| resource.strip_suffix("ches"))
    {
        format!("{stem}{}", &resource[stem.len()..stem.len() + 2])
    } else {
        resource.strip_suffix('s').unwrap_or(resource).to_string()
    }
}

/// The `container` query parameter of an exec, attach or log request.
fn container_of_uri(uri: &str) -> String {
    uri.split_once('?')
        .map(|(_, query)| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "container")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

impl RuleRecord for AuditRecord {
    const KIND: RecordKind = RecordKind::Audit;
    const QUICK: &'static [&'static str] = &[
        "Verb",
        "Stage",
        "Level",
        "ObjectRef.Resource",
        "ObjectRef.Subresource",
        "ObjectRef.Namespace",
        "ObjectRef.Name",
        "User.username",
    ];

    fn quick(&self, path: &str) -> Option<&str> {
        Some(match path {
            "Verb" => &self.verb,
            "Stage" => &self.stage,
            "Level" => &self.level,
            "ObjectRef.Resource" => &self.resource,
            "ObjectRef.Subresource" => &self.subresource,
            "ObjectRef.Namespace" => &self.namespace,
            "ObjectRef.Name" => &self.name,
            "User.username" => &self.user,
            _ => return None,
        })
    }

    fn document(&self) -> Value {
        serde_json::from_str(&self.raw).unwrap_or(Value::Null)
    }

    fn scope_namespace(&self) -> &str {
        AuditRecord::scope_namespace(self)
    }

    fn time_ns(&self) -> i64 {
        self.stage_time
    }

    fn identity(&self) -> u64 {
        hash(&[&self.cluster, &self.audit_id, &self.stage], 0)
    }

    fn object_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        put(&mut labels, "alerttype", "audit");
        put(&mut labels, "cluster", &self.cluster);
        if self.resource == "namespaces" && self.api_group.is_empty() {
            // A namespace object is cluster-scoped: it names no tenant's namespace.
            put(&mut labels, "target_namespace", &self.name);
        } else {
            if !self.resource.is_empty() {
                put(
                    &mut labels,
                    &label_name(&singular(&self.resource)),
                    &self.name,
                );
            }
            put(&mut labels, "namespace", AuditRecord::scope_namespace(self));
        }
        put(
            &mut labels,
            "container",
            &container_of_uri(&self.request_uri),
        );
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_singular_label_names() {
        for (plural, one) in [
            ("pods", "pod"),
            ("ingresses", "ingress"),
            ("networkpolicies", "networkpolicy"),
            ("clusterrolebindings", "clusterrolebinding"),
            ("endpoints", "endpoint"),
            ("statefulsets", "statefulset"),
        ] {
            assert_eq!(singular(plural), one);
        }
        assert_eq!(
            label_name("HorizontalPodAutoscaler"),
            "horizontalpodautoscaler"
        );
        assert_eq!(container_of_field_path("spec.containers{web}"), "web");
        assert_eq!(
            container_of_uri("/api/v1/namespaces/a/pods/p/exec?command=sh&container=db&stdin=true"),
            "db"
        );
    }
}
