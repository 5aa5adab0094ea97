use crate::AuditStore;
use periscope_audit::{parse_body, AuditRequest, Redaction};
use periscope_model::Scope;
use periscope_record_search::RecordBackend;
use periscope_store::StoreOptions;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// An `audit.k8s.io/v1` event as the apiserver's webhook sends it.
fn event(id: &str, stage: &str, verb: &str, user: &str, object: Value, code: i64) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": id, "stage": stage, "requestURI": "/api/v1/x", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.1.2.3"], "objectRef": object,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": "2026-01-01T00:00:00.000001Z",
        "stageTimestamp": "2026-01-01T00:00:00.000002Z"
    })
}

fn batch(items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": items}),
    )
    .unwrap()
}

async fn search(store: &AuditStore, scope: &Scope, p: &[(&str, &str)]) -> (u64, Vec<Value>) {
    let pairs: Vec<(String, String)> = p
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r =
        AuditRequest::parse(&pairs, scope, &BTreeMap::new(), 1_800_000_000_000_000_000).unwrap();
    let page = store.query(&r.filter, &r.search).await.unwrap();
    let records = page
        .records
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap())
        .collect();
    (page.total, records)
}

fn sample() -> Vec<u8> {
    batch(vec![
        event(
            "a",
            "RequestReceived",
            "create",
            "alice",
            json!({"resource": "pods", "subresource": "exec", "namespace": "team-a", "name": "web-1"}),
            0,
        ),
        event(
            "a",
            "ResponseComplete",
            "create",
            "alice",
            json!({"resource": "pods", "subresource": "exec", "namespace": "team-a", "name": "web-1"}),
            101,
        ),
        event(
            "b",
            "ResponseComplete",
            "get",
            "system:serviceaccount:team-b:bot",
            json!({"resource": "secrets", "namespace": "team-b", "name": "team-a-token"}),
            200,
        ),
        event(
            "n",
            "ResponseComplete",
            "delete",
            "admin",
            json!({"resource": "namespaces", "namespace": "team-a", "name": "team-a"}),
            200,
        ),
        event("u", "ResponseComplete", "get", "alice", Value::Null, 200),
        event(
            "f",
            "ResponseComplete",
            "list",
            "alice",
            json!({"resource": "pods", "namespace": "team-a"}),
            403,
        ),
    ])
}

#[tokio::test]
async fn each_request_stage_is_stored_and_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = AuditStore::open(StoreOptions::new(dir.path())).unwrap();
    let parsed = parse_body(&sample(), "default", &Redaction::default()).unwrap();
    let first = store.ingest(parsed.records.clone()).await.unwrap();
    assert_eq!((first.stored, first.duplicates), (6, 0));
    // The apiserver retries a batch it got no answer for.
    let again = store.ingest(parsed.records.clone()).await.unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 6));
    drop(store);
    // After a restart the memory of recent keys is gone; a retried batch is
    // written again but still answered once per (auditID, stage).
    let store = AuditStore::open(StoreOptions::new(dir.path())).unwrap();
    assert_eq!(store.ingest(parsed.records).await.unwrap().stored, 6);
    let (total, _) = search(&store, &Scope::ClusterWide, &[]).await;
    assert_eq!(total, 6);
    let pairs: Vec<(String, String)> = vec![("operation".into(), "statistics".into())];
    let r = AuditRequest::parse(
        &pairs,
        &Scope::ClusterWide,
        &BTreeMap::new(),
        1_800_000_000_000_000_000,
    )
    .unwrap();
    let stats = store.statistics(&r.filter, &r.search).await.unwrap();
    assert_eq!(
        (stats.events, stats.resources),
        (6, 5),
        "resources are distinct audit ids"
    );
}

#[tokio::test]
async fn tenants_see_records_of_their_namespaces_objects_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = AuditStore::open(StoreOptions::new(dir.path())).unwrap();
    store
        .ingest(
            parse_body(&sample(), "default", &Redaction::default())
                .unwrap()
                .records,
        )
        .await
        .unwrap();
    let tenant = Scope::namespaces(["team-a"]);
    let (total, records) = search(&store, &tenant, &[]).await;
    assert_eq!(total, 3, "the exec stages and the forbidden list; not the namespace deletion nor the non-resource request");
    for query in [
        vec![("objectref_name_search", "team-a")],
        vec![("user_search", "team-b")],
        vec![("objectref_resource_filter", "namespaces")],
        vec![("objectref_resource_filter", "secrets")],
        vec![("objectref_namespace_search", "team")],
    ] {
        let (_, records) = search(&store, &tenant, &query).await;
        for r in &records {
            assert_eq!(
                r["ObjectRef"]["Namespace"], "team-a",
                "{query:?} leaked {r}"
            );
            assert_ne!(
                r["ObjectRef"]["Resource"], "namespaces",
                "{query:?} leaked {r}"
            );
        }
    }
    assert!(records
        .iter()
        .all(|r| r["ObjectRef"]["Namespace"] == "team-a"));
    let (total, records) = search(&store, &tenant, &[("response_code_filter", "403")]).await;
    assert_eq!((total, records[0]["AuditID"].as_str()), (1, Some("f")));
    let (total, _) = search(
        &store,
        &tenant,
        &[
            ("objectref_subresource_filter", "exec"),
            ("verb_filter", "create,get"),
        ],
    )
    .await;
    assert_eq!(total, 2);
    let (total, records) = search(
        &store,
        &Scope::ClusterWide,
        &[("objectref_resource_filter", "namespaces")],
    )
    .await;
    assert_eq!((total, records[0]["Verb"].as_str()), (1, Some("delete")));
    let (total, _) = search(
        &store,
        &Scope::ClusterWide,
        &[("user_search", "SERVICEACCOUNT")],
    )
    .await;
    assert_eq!(total, 1);
}
