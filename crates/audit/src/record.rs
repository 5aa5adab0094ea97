//! The normalised audit record.

/// One stage of one audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub cluster: String,
    /// Shared by every stage of one request.
    pub audit_id: String,
    /// `RequestReceived`, `ResponseStarted`, `ResponseComplete` or `Panic`.
    pub stage: String,
    /// `None`, `Metadata`, `Request` or `RequestResponse`.
    pub level: String,
    pub verb: String,
    pub request_uri: String,
    pub user: String,
    pub groups: Vec<String>,
    pub source_ips: Vec<String>,
    /// `objectRef`'s fields (empty for non-resource requests).
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub api_group: String,
    /// `responseStatus.code`, 0 when absent.
    pub response_code: i64,
    /// `responseStatus.status` (`Success`, `Failure`), when given.
    pub response_status: String,
    pub workspace: String,
    /// Unix ns of `requestReceivedTimestamp`.
    pub received: i64,
    /// Unix ns of `stageTimestamp` (the received time when absent).
    pub stage_time: i64,
    /// KubeSphere's PascalCase document: what searches return.
    pub raw: String,
}

impl AuditRecord {
    /// The namespace that scopes the record: the object's, except for
    /// cluster-scoped objects and non-resource requests (none). A namespace
    /// object itself is cluster-scoped, though the apiserver names it as
    /// its own namespace.
    pub fn scope_namespace(&self) -> &str {
        if self.resource == "namespaces" && self.api_group.is_empty() {
            ""
        } else {
            &self.namespace
        }
    }

    /// What identifies the record across re-deliveries.
    pub fn key(&self) -> String {
        format!("{}\u{1f}{}", self.audit_id, self.stage)
    }
}
