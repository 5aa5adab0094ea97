//! The auditing search's parameters (KubeSphere's names), with the caller's
//! scope applied, and what of the request and response bodies a caller sees.

use periscope_model::{Result, Scope};
use periscope_record_search::{NamespaceRequest, Namespaces, Params, Search};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Which audit records a search is about. Lists OR their values; `*_search`
/// lists are case-insensitive substrings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFilter {
    /// Namespaces of the objects the caller may read and asked for.
    pub namespaces: Namespaces,
    pub names: Vec<String>,
    pub name_search: Vec<String>,
    pub resources: Vec<String>,
    pub subresources: Vec<String>,
    pub levels: Vec<String>,
    pub verbs: Vec<String>,
    pub users: Vec<String>,
    pub user_search: Vec<String>,
    pub group_search: Vec<String>,
    pub source_ip_search: Vec<String>,
    pub response_codes: Vec<i64>,
    pub response_statuses: Vec<String>,
}

/// A parsed auditing search.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRequest {
    pub search: Search,
    pub filter: AuditFilter,
}

const PARAMETERS: [&str; 17] = [
    "workspace_filter",
    "workspace_search",
    "objectref_namespace_filter",
    "objectref_namespace_search",
    "objectref_name_filter",
    "objectref_name_search",
    "objectref_resource_filter",
    "objectref_subresource_filter",
    "level_filter",
    "verb_filter",
    "user_filter",
    "user_search",
    "group_search",
    "source_ip_search",
    "response_code_filter",
    "response_status_filter",
    "cluster",
];

impl AuditRequest {
    /// Parses KubeSphere's auditing search parameters for a caller with
    /// `scope`; `membership` maps workspaces to namespaces; `now` (Unix ns)
    /// is the default end. A namespace outside the scope is refused (403).
    pub fn parse(
        pairs: &[(String, String)],
        scope: &Scope,
        membership: &BTreeMap<String, BTreeSet<String>>,
        now: i64,
    ) -> Result<AuditRequest> {
        let params = Params::new(pairs, &PARAMETERS)?;
        let search = Search::parse(&params, now)?;
        let namespaces = NamespaceRequest {
            filter: params.list("objectref_namespace_filter"),
            search: params.lower("objectref_namespace_search"),
            workspace_filter: params.list("workspace_filter"),
            workspace_search: params.lower("workspace_search"),
        }
        .resolve(scope, membership)?;
        Ok(AuditRequest {
            search,
            filter: AuditFilter {
                namespaces,
                names: params.list("objectref_name_filter"),
                name_search: params.lower("objectref_name_search"),
                resources: params.list("objectref_resource_filter"),
                subresources: params.list("objectref_subresource_filter"),
                levels: params.list("level_filter"),
                verbs: params.list("verb_filter"),
                users: params.list("user_filter"),
                user_search: params.lower("user_search"),
                group_search: params.lower("group_search"),
                source_ip_search: params.lower("source_ip_search"),
                response_codes: params.integers("response_code_filter")?,
                response_statuses: params.list("response_status_filter"),
            },
        })
    }
}

/// What of the stored request and response bodies a tenant sees (cluster
/// admins see all that is stored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyVisibility {
    /// Neither: metadata only.
    #[default]
    None,
    /// The request body, not the response.
    Request,
    /// Both.
    RequestResponse,
}

impl BodyVisibility {
    /// `records` with the bodies this visibility hides removed.
    pub fn apply(self, records: Vec<Box<RawValue>>) -> Vec<Box<RawValue>> {
        let hidden: &[&str] = match self {
            BodyVisibility::RequestResponse => return records,
            BodyVisibility::Request => &["ResponseObject"],
            BodyVisibility::None => &["RequestObject", "ResponseObject"],
        };
        records
            .into_iter()
            .map(|raw| {
                if !hidden.iter().any(|h| raw.get().contains(h)) {
                    return raw;
                }
                match serde_json::from_str::<Value>(raw.get()) {
                    Ok(Value::Object(mut doc)) => {
                        for h in hidden {
                            doc.remove(*h);
                        }
                        // Serialising a JSON object cannot fail; were it to,
                        // nothing of the record is shown rather than its bodies.
                        serde_json::value::to_raw_value(&doc).unwrap_or_else(|_| {
                            RawValue::from_string("{}".into()).expect("{} is JSON")
                        })
                    }
                    _ => raw,
                }
            })
            .collect()
    }
}
