//! Audit batches as senders send them, normalised to records:
//! - the kube-apiserver's webhook: an `audit.k8s.io/v1` `EventList`
//!   (`{"kind":"EventList","items":[...]}`, camelCase events), or one `Event`;
//! - KubeSphere's ks-apiserver: `{"Items":[...]}` whose items are Go-named
//!   (PascalCase: `AuditID`, `ObjectRef.Resource`) plus `Workspace`,
//!   `Cluster`, `Message`.
//!
//! Every record is kept as KubeSphere stores it (`ks-logstash-auditing-*`
//! documents are PascalCase), so both senders' records read alike. One bad
//! item fails alone, with its index and the reason.

use crate::record::AuditRecord;
use periscope_model::{Error, Result};
use serde_json::{Map, Value};
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

/// Reads a batch; records without a cluster get `default_cluster`. A body
/// that is not an event list (or one event) is an error of the request.
pub fn parse_body(body: &[u8], default_cluster: &str, redaction: &Redaction) -> Result<Parsed> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("the body is not JSON: {e}")))?;
    let Value::Object(mut list) = value else {
        return Err(Error::bad_request(
            "the body must be an audit.k8s.io/v1 EventList object",
        ));
    };
    if let Some(version) = list.get("apiVersion").and_then(Value::as_str) {
        if !matches!(version, "audit.k8s.io/v1" | "audit.k8s.io/v1beta1") {
            return Err(Error::bad_request(format!(
                "apiVersion {version:?} is not audit.k8s.io/v1"
            )));
        }
    }
    let items = match list.get("kind").and_then(Value::as_str) {
        Some("Event") => vec![Value::Object(list)],
        Some("EventList") | None => match list.remove("items").or_else(|| list.remove("Items")) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(Error::bad_request(
                    "\"items\" must be a list of audit events",
                ))
            }
            None => {
                return Err(Error::bad_request(
                    "the body has no \"items\": not an audit.k8s.io/v1 EventList",
                ))
            }
        },
        Some(other) => {
            return Err(Error::bad_request(format!(
                "kind {other:?} is not EventList (or Event)"
            )))
        }
    };
    let mut parsed = Parsed::default();
    for (item, v) in items.into_iter().enumerate() {
        match record(v, default_cluster, redaction) {
            Ok(r) => parsed.records.push(r),
            Err(reason) => parsed.errors.push(ItemError { item, reason }),
        }
    }
    Ok(parsed)
}

/// The PascalCase name of an event field.
fn pascal(key: &str) -> String {
    match key {
        "auditID" => "AuditID".into(),
        "requestURI" => "RequestURI".into(),
        "sourceIPs" => "SourceIPs".into(),
        "uid" => "UID".into(),
        "apiGroup" => "APIGroup".into(),
        "apiVersion" => "APIVersion".into(),
        other => {
            let mut c = other.chars();
            c.next()
                .map(|first| first.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        }
    }
}

/// An event's fields under their PascalCase names (the object reference's
/// too); `User`, `ResponseStatus` and bodies keep their own JSON names, as
/// KubeSphere's documents do.
fn to_pascal(event: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(event.len());
    for (k, v) in event {
        if k == "kind" || k == "apiVersion" {
            continue;
        }
        let name = pascal(&k);
        let v = match (name.as_str(), v) {
            ("ObjectRef", Value::Object(o)) => {
                Value::Object(o.into_iter().map(|(k, v)| (pascal(&k), v)).collect())
            }
            (_, v) => v,
        };
        out.insert(name, v);
    }
    out
}

/// One item as a record.
fn record(
    v: Value,
    default_cluster: &str,
    redaction: &Redaction,
) -> std::result::Result<AuditRecord, String> {
    let Value::Object(event) = v else {
        return Err("an audit event must be a JSON object".into());
    };
    if let Some(kind) = event.get("kind").and_then(Value::as_str) {
        if kind != "Event" {
            return Err(format!("kind {kind:?} is not Event"));
        }
    }
    let mut doc = to_pascal(event);
    let text = |m: &Map<String, Value>, k: &str| {
        m.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let audit_id = text(&doc, "AuditID");
    if audit_id.is_empty() {
        return Err("the event has no auditID".into());
    }
    let stage = text(&doc, "Stage");
    if stage.is_empty() {
        return Err("the event has no stage".into());
    }
    let stage_time = time(&doc, "StageTimestamp", "stageTimestamp")?;
    let received = time(&doc, "RequestReceivedTimestamp", "requestReceivedTimestamp")?
        .or(stage_time)
        .ok_or("the event has no requestReceivedTimestamp")?;
    let empty = Map::new();
    let object = doc
        .get("ObjectRef")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let user = doc.get("User").and_then(Value::as_object).unwrap_or(&empty);
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let status = doc
        .get("ResponseStatus")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut r = AuditRecord {
        cluster: Some(text(&doc, "Cluster"))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| default_cluster.to_string()),
        audit_id,
        stage,
        level: text(&doc, "Level"),
        verb: text(&doc, "Verb"),
        request_uri: text(&doc, "RequestURI"),
        user: text(user, "username"),
        groups: strings(user.get("groups")),
        source_ips: strings(doc.get("SourceIPs")),
        resource: text(object, "Resource"),
        subresource: text(object, "Subresource"),
        namespace: text(object, "Namespace"),
        name: text(object, "Name"),
        api_group: text(object, "APIGroup"),
        response_code: status.get("code").and_then(Value::as_i64).unwrap_or(0),
        response_status: text(status, "status"),
        workspace: text(&doc, "Workspace"),
        received,
        stage_time: stage_time.unwrap_or(received),
        raw: String::new(),
    };
    if redaction.resources.contains(&r.resource) {
        let had_body =
            doc.remove("RequestObject").is_some() | doc.remove("ResponseObject").is_some();
        if had_body {
            let annotations = doc
                .entry("Annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(a) = annotations {
                a.insert(
                    REDACTED_ANNOTATION.into(),
                    Value::String(format!(
                        "request and response bodies of {} are not stored",
                        r.resource
                    )),
                );
            }
        }
    }
    doc.insert("Cluster".into(), Value::String(r.cluster.clone()));
    r.raw = Value::Object(doc).to_string();
    Ok(r)
}

/// An RFC 3339 time (null or absent: none), Unix ns; errors say `name`.
fn time(m: &Map<String, Value>, key: &str, name: &str) -> std::result::Result<Option<i64>, String> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt())
            .map(Some)
            .ok_or_else(|| format!("{name}: {s:?} is not an RFC 3339 time")),
        Some(other) => Err(format!("{name}: {other} is not a time")),
    }
}
