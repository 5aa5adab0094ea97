//! Audit batches as senders send them, normalised to records:
//! - the kube-apiserver's webhook: an `audit.k8s.io/v1` `EventList`
//!   (`{"kind":"EventList","items":[...]}`, camelCase events), or one `Event`;
//! - KubeSphere's ks-apiserver: `{"Items":[...]}` whose items are Go-named
//!   (PascalCase: `AuditID`, `ObjectRef.Resource`) plus `Workspace`,
//!   `Cluster`, `Message`.
//!
//! Every record is kept as KubeSphere stores it (`ks-logstash-auditing-*`
//! documents are PascalCase), so both senders' records read alike. Events are
//! read into borrowed fields (bodies stay raw JSON, never a value tree) and
//! written straight back in that form. One bad item fails alone, with its
//! index and the reason.

use crate::record::AuditRecord;
use periscope_model::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// An item that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// 0-based index in `items`.
    pub item: usize,
    pub reason: String,
}

/// The records of a batch and the items refused.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<AuditRecord>,
    pub errors: Vec<ItemError>,
}

/// Resources whose request and response bodies are never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub resources: BTreeSet<String>,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            resources: BTreeSet::from(["secrets".to_string()]),
        }
    }
}

/// The annotation a redacted record carries.
pub const REDACTED_ANNOTATION: &str = "periscope.io/redacted";

type Text<'a> = Option<Cow<'a, str>>;

/// The envelope: an `EventList` (either casing) or one `Event`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    kind: Text<'a>,
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Text<'a>,
    #[serde(borrow, default, alias = "Items")]
    items: Option<Vec<&'a RawValue>>,
}

/// An audit event in either casing; what Periscope does not read stays raw.
#[derive(Deserialize, Serialize)]
struct Event<'a> {
    #[serde(borrow, default, skip_serializing)]
    kind: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "level", serialize = "Level"),
        alias = "Level",
        skip_serializing_if = "Option::is_none"
    )]
    level: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "auditID", serialize = "AuditID"),
        alias = "AuditID",
        skip_serializing_if = "Option::is_none"
    )]
    audit_id: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "stage", serialize = "Stage"),
        alias = "Stage",
        skip_serializing_if = "Option::is_none"
    )]
    stage: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "requestURI", serialize = "RequestURI"),
        alias = "RequestURI",
        skip_serializing_if = "Option::is_none"
    )]
    request_uri: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "verb", serialize = "Verb"),
        alias = "Verb",
        skip_serializing_if = "Option::is_none"
    )]
    verb: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "user", serialize = "User"),
        alias = "User",
        skip_serializing_if = "Option::is_none"
    )]
    user: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "impersonatedUser", serialize = "ImpersonatedUser"),
        alias = "ImpersonatedUser",
        skip_serializing_if = "Option::is_none"
    )]
    impersonated_user: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(
            deserialize = "authenticationMetadata",
            serialize = "AuthenticationMetadata"
        ),
        alias = "AuthenticationMetadata",
        skip_serializing_if = "Option::is_none"
    )]
    authentication_metadata: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "sourceIPs", serialize = "SourceIPs"),
        alias = "SourceIPs",
        skip_serializing_if = "Option::is_none"
    )]
    source_ips: Option<Vec<Cow<'a, str>>>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "userAgent", serialize = "UserAgent"),
        alias = "UserAgent",
        skip_serializing_if = "Option::is_none"
    )]
    user_agent: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "objectRef", serialize = "ObjectRef"),
        alias = "ObjectRef",
        skip_serializing_if = "Option::is_none"
    )]
    object_ref: Option<ObjectRef<'a>>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "responseStatus", serialize = "ResponseStatus"),
        alias = "ResponseStatus",
        skip_serializing_if = "Option::is_none"
    )]
    response_status: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "requestObject", serialize = "RequestObject"),
        alias = "RequestObject",
        skip_serializing_if = "Option::is_none"
    )]
    request_object: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "responseObject", serialize = "ResponseObject"),
        alias = "ResponseObject",
        skip_serializing_if = "Option::is_none"
    )]
    response_object: Option<&'a RawValue>,
    #[serde(
        borrow,
        default,
        rename(
            deserialize = "requestReceivedTimestamp",
            serialize = "RequestReceivedTimestamp"
        ),
        alias = "RequestReceivedTimestamp",
        skip_serializing_if = "Option::is_none"
    )]
    request_received_timestamp: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "stageTimestamp", serialize = "StageTimestamp"),
        alias = "StageTimestamp",
        skip_serializing_if = "Option::is_none"
    )]
    stage_timestamp: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "annotations", serialize = "Annotations"),
        alias = "Annotations",
        skip_serializing_if = "Option::is_none"
    )]
    annotations: Option<&'a RawValue>,
    // KubeSphere's additions.
    #[serde(
        borrow,
        default,
        rename = "Workspace",
        skip_serializing_if = "Option::is_none"
    )]
    workspace: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "Cluster",
        skip_serializing_if = "Option::is_none"
    )]
    cluster: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "Message",
        skip_serializing_if = "Option::is_none"
    )]
    message: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "HostName",
        skip_serializing_if = "Option::is_none"
    )]
    host_name: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "HostIP",
        skip_serializing_if = "Option::is_none"
    )]
    host_ip: Text<'a>,
    #[serde(
        borrow,
        default,
        rename = "Devops",
        skip_serializing_if = "Option::is_none"
    )]
    devops: Text<'a>,
}

#[derive(Deserialize, Serialize)]
struct ObjectRef<'a> {
    #[serde(
        borrow,
        default,
        rename(deserialize = "resource", serialize = "Resource"),
        alias = "Resource",
        skip_serializing_if = "Option::is_none"
    )]
    resource: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "namespace", serialize = "Namespace"),
        alias = "Namespace",
        skip_serializing_if = "Option::is_none"
    )]
    namespace: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "name", serialize = "Name"),
        alias = "Name",
        skip_serializing_if = "Option::is_none"
    )]
    name: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "uid", serialize = "UID"),
        alias = "UID",
        skip_serializing_if = "Option::is_none"
    )]
    uid: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "apiGroup", serialize = "APIGroup"),
        alias = "APIGroup",
        skip_serializing_if = "Option::is_none"
    )]
    api_group: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "apiVersion", serialize = "APIVersion"),
        alias = "APIVersion",
        skip_serializing_if = "Option::is_none"
    )]
    api_version: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "resourceVersion", serialize = "ResourceVersion"),
        alias = "ResourceVersion",
        skip_serializing_if = "Option::is_none"
    )]
    resource_version: Text<'a>,
    #[serde(
        borrow,
        default,
        rename(deserialize = "subresource", serialize = "Subresource"),
        alias = "Subresource",
        skip_serializing_if = "Option::is_none"
    )]
    subresource: Text<'a>,
}

/// The parts of `user` a search filters on.
#[derive(Deserialize, Default)]
struct User<'a> {
    #[serde(borrow, default)]
    username: Text<'a>,
    #[serde(borrow, default)]
    groups: Option<Vec<Cow<'a, str>>>,
}

/// The parts of `responseStatus` a search filters on.
#[derive(Deserialize, Default)]
struct Status<'a> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(borrow, default)]
    status: Text<'a>,
}

/// Reads a batch; records without a cluster get `default_cluster`. A body
/// that is not an event list (or one event) is an error of the request.
pub fn parse_body(body: &[u8], default_cluster: &str, redaction: &Redaction) -> Result<Parsed> {
    let text = std::str::from_utf8(body)
        .map_err(|e| Error::bad_request(format!("the body is not JSON: not UTF-8: {e}")))?;
    if !text.trim_start().starts_with('{') {
        return Err(Error::bad_request(
            if serde_json::from_str::<&RawValue>(text).is_ok() {
                "the body must be an audit.k8s.io/v1 EventList object".to_string()
            } else {
                "the body is not JSON".to_string()
            },
        ));
    }
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        Error::bad_request(format!(
            "the body is not JSON an EventList can be read from: {e}"
        ))
    })?;
    if let Some(version) = &envelope.api_version {
        if !matches!(version.as_ref(), "audit.k8s.io/v1" | "audit.k8s.io/v1beta1") {
            return Err(Error::bad_request(format!(
                "apiVersion {version:?} is not audit.k8s.io/v1"
            )));
        }
    }
    let items: Vec<&RawValue> = match envelope.kind.as_deref() {
        Some("Event") => vec![serde_json::from_str(text)
            .map_err(|e| Error::bad_request(format!("the body is not JSON: {e}")))?],
        Some("EventList") | None => envelope.items.ok_or_else(|| {
            Error::bad_request("the body has no \"items\": not an audit.k8s.io/v1 EventList")
        })?,
        Some(other) => {
            return Err(Error::bad_request(format!(
                "kind {other:?} is not EventList (or Event)"
            )))
        }
    };
    let mut parsed = Parsed {
        records: Vec::with_capacity(items.len()),
        errors: Vec::new(),
    };
    for (item, raw) in items.into_iter().enumerate() {
        match record(raw, default_cluster, redaction) {
            Ok(r) => parsed.records.push(r),
            Err(reason) => parsed.errors.push(ItemError { item, reason }),
        }
    }
    Ok(parsed)
}

fn owned(t: &Text<'_>) -> String {
    t.as_deref().unwrap_or_default().to_string()
}

/// One item as a record.
fn record(
    raw: &RawValue,
    default_cluster: &str,
    redaction: &Redaction,
) -> std::result::Result<AuditRecord, String> {
    if !raw.get().starts_with('{') {
        return Err("an audit event must be a JSON object".into());
    }
    // Declared first: a redacted record's annotations outlive the event.
    let annotations: Box<RawValue>;
    let mut event: Event<'_> =
        serde_json::from_str(raw.get()).map_err(|e| format!("not an audit event: {e}"))?;
    if let Some(kind) = &event.kind {
        if kind != "Event" {
            return Err(format!("kind {kind:?} is not Event"));
        }
    }
    let audit_id = owned(&event.audit_id);
    if audit_id.is_empty() {
        return Err("the event has no auditID".into());
    }
    let stage = owned(&event.stage);
    if stage.is_empty() {
        return Err("the event has no stage".into());
    }
    let stage_time = time(&event.stage_timestamp, "stageTimestamp")?;
    let received = time(
        &event.request_received_timestamp,
        "requestReceivedTimestamp",
    )?
    .or(stage_time)
    .ok_or("the event has no requestReceivedTimestamp")?;
    let user: User<'_> = match event.user {
        Some(u) => serde_json::from_str(u.get()).map_err(|e| format!("user: {e}"))?,
        None => User::default(),
    };
    let status: Status<'_> = match event.response_status {
        Some(s) => serde_json::from_str(s.get()).map_err(|e| format!("responseStatus: {e}"))?,
        None => Status::default(),
    };
    let cluster = event
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or(default_cluster)
        .to_string();
    let object = event.object_ref.as_ref();
    let field = |t: Option<&Text<'_>>| t.map(owned).unwrap_or_default();
    let resource = field(object.map(|o| &o.resource));
    let mut record = AuditRecord {
        cluster: cluster.clone(),
        audit_id,
        stage,
        level: owned(&event.level),
        verb: owned(&event.verb),
        request_uri: owned(&event.request_uri),
        user: owned(&user.username),
        groups: user
            .groups
            .unwrap_or_default()
            .into_iter()
            .map(Cow::into_owned)
            .collect(),
        source_ips: event
            .source_ips
            .iter()
            .flatten()
            .map(|s| s.to_string())
            .collect(),
        subresource: field(object.map(|o| &o.subresource)),
        namespace: field(object.map(|o| &o.namespace)),
        name: field(object.map(|o| &o.name)),
        api_group: field(object.map(|o| &o.api_group)),
        resource,
        response_code: status.code.unwrap_or(0),
        response_status: owned(&status.status),
        workspace: owned(&event.workspace),
        received,
        stage_time: stage_time.unwrap_or(received),
        raw: String::new(),
    };
    event.cluster = Some(Cow::Owned(cluster));
    if redaction.resources.contains(&record.resource)
        && (event.request_object.is_some() || event.response_object.is_some())
    {
        event.request_object = None;
        event.response_object = None;
        let mut map: serde_json::Map<String, serde_json::Value> = match &event.annotations {
            Some(a) => serde_json::from_str(a.get()).unwrap_or_default(),
            None => serde_json::Map::new(),
        };
        let note = format!(
            "request and response bodies of {} are not stored",
            record.resource
        );
        map.insert(REDACTED_ANNOTATION.into(), serde_json::Value::String(note));
        annotations = serde_json::value::to_raw_value(&map).map_err(|e| e.to_string())?;
        event.annotations = Some(&annotations);
    }
    record.raw = serde_json::to_string(&event).map_err(|e| e.to_string())?;
    Ok(record)
}

/// An RFC 3339 time (absent or empty: none), Unix ns; errors say `name`.
fn time(t: &Text<'_>, name: &str) -> std::result::Result<Option<i64>, String> {
    match t.as_deref() {
        None | Some("") => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Some)
            .ok_or_else(|| format!("{name}: {s:?} is not an RFC 3339 time")),
    }
}
