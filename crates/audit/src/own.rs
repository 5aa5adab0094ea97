//! Periscope's own write operations (tenant rule groups, receivers,
//! silences, reloads) as audit records, so "who silenced this alert" is
//! answered by the same search as the apiserver's records.

use crate::record::AuditRecord;
use serde_json::json;

/// One write operation Periscope served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnWrite {
    /// A unique id for the request.
    pub id: String,
    /// The principal's name.
    pub user: String,
    /// Kubernetes' verb for it: `create`, `update`, `patch`, `delete`.
    pub verb: String,
    /// The Periscope resource (`rulegroups`, `receivers`, `silences`, ...).
    pub resource: String,
    /// Its namespace; empty for workspace- and cluster-level objects.
    pub namespace: String,
    pub name: String,
    /// The workspace of a workspace-level object.
    pub workspace: String,
    pub request_uri: String,
    pub source_ip: String,
    pub user_agent: String,
    /// The HTTP status answered.
    pub code: u16,
    /// Unix ns the request arrived and was answered.
    pub received: i64,
    pub completed: i64,
}

/// The API group Periscope's resources are named under.
pub const API_GROUP: &str = "periscope.io";

impl OwnWrite {
    /// The `ResponseComplete` audit record of the write.
    pub fn record(&self, cluster: &str) -> AuditRecord {
        let status = if self.code < 400 {
            "Success"
        } else {
            "Failure"
        };
        let micro = |ns: i64| {
            chrono::DateTime::from_timestamp_nanos(ns)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        let source_ips: Vec<String> = if self.source_ip.is_empty() {
            Vec::new()
        } else {
            vec![self.source_ip.clone()]
        };
        let doc = json!({
            "Level": "Metadata",
            "AuditID": self.id,
            "Stage": "ResponseComplete",
            "RequestURI": self.request_uri,
            "Verb": self.verb,
            "User": {"username": self.user},
            "SourceIPs": source_ips,
            "UserAgent": self.user_agent,
            "ObjectRef": {
                "Resource": self.resource,
                "Namespace": self.namespace,
                "Name": self.name,
                "APIGroup": API_GROUP,
                "APIVersion": "v1",
            },
            "ResponseStatus": {"code": self.code, "status": status, "metadata": {}},
            "RequestReceivedTimestamp": micro(self.received),
            "StageTimestamp": micro(self.completed),
            "Annotations": {"periscope.io/source": "periscope"},
            "Workspace": self.workspace,
            "Cluster": cluster,
        });
        AuditRecord {
            cluster: cluster.to_string(),
            audit_id: self.id.clone(),
            stage: "ResponseComplete".into(),
            level: "Metadata".into(),
            verb: self.verb.clone(),
            request_uri: self.request_uri.clone(),
            user: self.user.clone(),
            groups: Vec::new(),
            source_ips,
            resource: self.resource.clone(),
            subresource: String::new(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            api_group: API_GROUP.into(),
            response_code: i64::from(self.code),
            response_status: status.into(),
            workspace: self.workspace.clone(),
            received: self.received,
            stage_time: self.completed,
            raw: doc.to_string(),
        }
    }
}
