//! The audit layout: KubeSphere's PascalCase audit documents
//! (`ks-logstash-auditing-*`).

use super::dsl::{contains, scope, terms};
use super::Layout;
use periscope_audit::{AuditFilter, AuditRecord};
use serde_json::{json, Value};

/// See the module documentation.
pub struct AuditLayout;

impl Layout for AuditLayout {
    type Record = AuditRecord;
    type Filter = AuditFilter;
    const DEFAULT_PREFIX: &'static str = "ks-logstash-auditing";
    const TIME: &'static str = "RequestReceivedTimestamp";
    const TIES: &'static [&'static str] = &["AuditID.keyword", "Stage.keyword"];
    const RESOURCES: &'static str = "AuditID.keyword";

    fn clauses(f: &AuditFilter) -> (Vec<Value>, Vec<Value>) {
        let mut clauses = scope("ObjectRef.Namespace.keyword", &f.namespaces);
        // A namespace object names itself as its namespace, but is
        // cluster-level: a namespace-scoped search never includes it.
        let exclusions = match f.namespaces.set {
            Some(_) => vec![json!({"term": {"ObjectRef.Resource.keyword": "namespaces"}})],
            None => Vec::new(),
        };
        clauses.extend(
            [
                terms("ObjectRef.Name.keyword", &f.names),
                contains("ObjectRef.Name.keyword", &f.name_search),
                terms("ObjectRef.Resource.keyword", &f.resources),
                terms("ObjectRef.Subresource.keyword", &f.subresources),
                terms("Level.keyword", &f.levels),
                terms("Verb.keyword", &f.verbs),
                terms("User.username.keyword", &f.users),
                contains("User.username.keyword", &f.user_search),
                contains("User.groups.keyword", &f.group_search),
                contains("SourceIPs.keyword", &f.source_ip_search),
                terms("ResponseStatus.code", &f.response_codes),
                terms("ResponseStatus.status.keyword", &f.response_statuses),
            ]
            .into_iter()
            .flatten(),
        );
        (clauses, exclusions)
    }

    fn document(r: &AuditRecord) -> (String, i64, &str) {
        (format!("{}-{}", r.audit_id, r.stage), r.received, &r.raw)
    }
}
