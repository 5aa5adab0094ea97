//! Payloads shaped as the kube-apiserver's webhook backend sends them
//! (`audit.k8s.io/v1` `EventList`, fields from k8s.io/apiserver
//! pkg/apis/audit/v1/types.go) and as KubeSphere's ks-apiserver sends its
//! own (`{"Items": [...]}`, Go field names, per KubeSphere's documentation).

use crate::parse::REDACTED_ANNOTATION;
use crate::{parse_body, BodyVisibility, Redaction};
use periscope_model::ErrorKind;
use serde_json::{json, Value};

fn apiserver_event(id: &str, stage: &str, verb: &str, resource: &str, ns: &str) -> Value {
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": id,
        "stage": stage,
        "requestURI": format!("/api/v1/namespaces/{ns}/{resource}/db"),
        "verb": verb,
        "user": {"username": "alice@example.com", "uid": "u-1", "groups": ["devs", "system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": resource, "namespace": ns, "name": "db", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestObject": {"kind": "Secret", "data": {"password": "aHVudGVyMg=="}},
        "responseObject": {"kind": "Secret", "data": {"password": "aHVudGVyMg=="}},
        "requestReceivedTimestamp": "2026-01-01T00:00:00.123456Z",
        "stageTimestamp": "2026-01-01T00:00:00.130000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC: allowed"}
    })
}

fn event_list(items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items})).unwrap()
}

#[test]
fn an_apiserver_batch_becomes_pascal_case_records() {
    let body = event_list(vec![
        apiserver_event("a1", "RequestReceived", "get", "configmaps", "team-a"),
        apiserver_event("a1", "ResponseComplete", "get", "configmaps", "team-a"),
    ]);
    let parsed = parse_body(&body, "default", &Redaction::default()).unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let r = &parsed.records[1];
    assert_eq!(
        (r.audit_id.as_str(), r.stage.as_str(), r.verb.as_str()),
        ("a1", "ResponseComplete", "get")
    );
    assert_eq!(
        (r.resource.as_str(), r.namespace.as_str(), r.name.as_str()),
        ("configmaps", "team-a", "db")
    );
    assert_eq!(
        (r.user.as_str(), r.groups.len(), r.response_code),
        ("alice@example.com", 2, 200)
    );
    assert_eq!(r.received, 1_767_225_600_123_456_000);
    assert_eq!(r.stage_time, 1_767_225_600_130_000_000);
    let doc: Value = serde_json::from_str(&r.raw).unwrap();
    assert_eq!(doc["AuditID"], "a1");
    assert_eq!(doc["ObjectRef"]["Resource"], "configmaps");
    assert_eq!(doc["ObjectRef"]["APIVersion"], "v1");
    assert_eq!(doc["User"]["username"], "alice@example.com");
    assert_eq!(doc["ResponseStatus"]["code"], 200);
    assert_eq!(doc["Cluster"], "default");
    assert!(doc.get("kind").is_none() && doc.get("auditID").is_none());
    // Bodies of resources not redacted are stored.
    assert_eq!(doc["RequestObject"]["kind"], "Secret");
}

#[test]
fn secret_bodies_never_reach_storage() {
    let body = event_list(vec![apiserver_event(
        "s1",
        "ResponseComplete",
        "get",
        "secrets",
        "team-a",
    )]);
    let parsed = parse_body(&body, "default", &Redaction::default()).unwrap();
    let raw = &parsed.records[0].raw;
    assert!(!raw.contains("aHVudGVyMg=="), "{raw}");
    let doc: Value = serde_json::from_str(raw).unwrap();
    assert!(doc.get("RequestObject").is_none() && doc.get("ResponseObject").is_none());
    assert!(doc["Annotations"][REDACTED_ANNOTATION]
        .as_str()
        .unwrap()
        .contains("secrets"));
    assert_eq!(doc["Annotations"]["authorization.k8s.io/decision"], "allow");
    // A configured resource is redacted too.
    let configmaps = Redaction {
        resources: ["secrets", "configmaps"].map(String::from).into(),
    };
    let body = event_list(vec![apiserver_event(
        "c1",
        "ResponseComplete",
        "update",
        "configmaps",
        "team-a",
    )]);
    let parsed = parse_body(&body, "default", &configmaps).unwrap();
    assert!(!parsed.records[0].raw.contains("aHVudGVyMg=="));
}

#[test]
fn kubesphere_s_pascal_case_items_are_read_alike() {
    let body = json!({"Items": [{
        "Workspace": "ws-a", "Cluster": "host", "Message": "", "HostName": "ks-apiserver-0", "HostIP": "10.0.0.2",
        "Level": "Metadata", "AuditID": "k1", "Stage": "ResponseComplete",
        "RequestURI": "/kapis/tenant.kubesphere.io/v1alpha2/workspaces/ws-a/namespaces", "Verb": "create",
        "User": {"username": "admin", "groups": ["system:authenticated"]}, "SourceIPs": ["10.0.0.9"],
        "ObjectRef": {"Resource": "namespaces", "Namespace": "", "Name": "team-c", "APIGroup": "", "APIVersion": "v1"},
        "ResponseStatus": {"code": 201, "metadata": {}},
        "RequestReceivedTimestamp": "2026-01-01T00:00:00Z", "StageTimestamp": "2026-01-01T00:00:01Z"
    }]});
    let parsed = parse_body(
        &serde_json::to_vec(&body).unwrap(),
        "default",
        &Redaction::default(),
    )
    .unwrap();
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let r = &parsed.records[0];
    assert_eq!(
        (r.cluster.as_str(), r.workspace.as_str(), r.verb.as_str()),
        ("host", "ws-a", "create")
    );
    assert_eq!(
        (r.resource.as_str(), r.name.as_str(), r.response_code),
        ("namespaces", "team-c", 201)
    );
    assert_eq!(
        r.scope_namespace(),
        "",
        "a namespace object is cluster-scoped"
    );
}

#[test]
fn bad_items_fail_alone_and_bad_bodies_entirely() {
    let mut no_id = apiserver_event("", "ResponseComplete", "get", "pods", "team-a");
    no_id.as_object_mut().unwrap().remove("auditID");
    let mut bad_time = apiserver_event("t1", "ResponseComplete", "get", "pods", "team-a");
    bad_time["requestReceivedTimestamp"] = json!("yesterday");
    let body = event_list(vec![
        apiserver_event("ok", "ResponseComplete", "get", "pods", "team-a"),
        no_id,
        json!("not an event"),
        bad_time,
    ]);
    let parsed = parse_body(&body, "default", &Redaction::default()).unwrap();
    assert_eq!(parsed.records.len(), 1);
    let failed: Vec<usize> = parsed.errors.iter().map(|e| e.item).collect();
    assert_eq!(failed, [1, 2, 3]);
    assert!(parsed.errors[0].reason.contains("auditID"));
    assert!(parsed.errors[2].reason.contains("requestReceivedTimestamp"));
    for (body, expected) in [
        (&b"{not json"[..], "not JSON"),
        (b"[]", "EventList object"),
        (br#"{"kind":"PodList","items":[]}"#, "PodList"),
        (
            br#"{"kind":"EventList","apiVersion":"v1","items":[]}"#,
            "apiVersion",
        ),
        (br#"{"kind":"EventList"}"#, "no \"items\""),
    ] {
        let e = parse_body(body, "default", &Redaction::default()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadRequest);
        assert!(e.message().contains(expected), "{}", e.message());
    }
}

#[test]
fn tenants_see_the_bodies_configured() {
    let body = event_list(vec![apiserver_event(
        "b1",
        "ResponseComplete",
        "update",
        "configmaps",
        "team-a",
    )]);
    let raw = parse_body(&body, "default", &Redaction::default())
        .unwrap()
        .records[0]
        .raw
        .clone();
    let records = || vec![serde_json::value::RawValue::from_string(raw.clone()).unwrap()];
    let keys = |v: BodyVisibility| {
        let doc: Value = serde_json::from_str(v.apply(records())[0].get()).unwrap();
        (
            doc.get("RequestObject").is_some(),
            doc.get("ResponseObject").is_some(),
            doc["AuditID"] == "b1",
        )
    };
    assert_eq!(keys(BodyVisibility::None), (false, false, true));
    assert_eq!(keys(BodyVisibility::Request), (true, false, true));
    assert_eq!(keys(BodyVisibility::RequestResponse), (true, true, true));
}
