const LIMIT: usize = 1 << 20;

use crate::EventStore;
use periscope_events::{parse_body, EventRequest};
use periscope_model::Scope;
use periscope_record_search::RecordBackend;
use periscope_store::StoreOptions;
use std::collections::{BTreeMap, BTreeSet};

/// A core/v1 event line (the shape kube-events' stdout sink writes).
fn event(
    uid: &str,
    ns: &str,
    kind: &str,
    name: &str,
    reason: &str,
    count: u64,
    last: &str,
) -> String {
    let object_ns = if ns.is_empty() {
        String::new()
    } else {
        format!(r#","namespace":"{ns}""#)
    };
    format!(
        r#"{{"metadata":{{"name":"{name}.1","namespace":"{}","uid":"{uid}"}},"involvedObject":{{"kind":"{kind}","name":"{name}","uid":"obj-{name}"{object_ns}}},"reason":"{reason}","message":"{reason} happened to {name}","type":"{}","count":{count},"firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"{last}","source":{{"component":"kubelet"}}}}"#,
        if ns.is_empty() { "default" } else { ns },
        if reason == "BackOff" {
            "Warning"
        } else {
            "Normal"
        }
    )
}

fn params(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const NOW: i64 = 1_800_000_000_000_000_000;

async fn search(
    store: &EventStore,
    scope: &Scope,
    p: &[(&str, &str)],
) -> (u64, Vec<serde_json::Value>) {
    let membership = BTreeMap::from([("ws-a".to_string(), BTreeSet::from(["team-a".to_string()]))]);
    let r = EventRequest::parse(&params(p), scope, &membership, NOW).unwrap();
    let page = store.query(&r.filter, &r.search).await.unwrap();
    let records = page
        .records
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap())
        .collect();
    (page.total, records)
}

#[tokio::test]
async fn repeats_are_one_event_with_the_highest_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(StoreOptions::new(dir.path())).unwrap();
    let body = [
        event(
            "u1",
            "team-a",
            "Pod",
            "db-0",
            "BackOff",
            1,
            "2026-01-01T00:01:00Z",
        ),
        event(
            "u1",
            "team-a",
            "Pod",
            "db-0",
            "BackOff",
            3,
            "2026-01-01T00:03:00Z",
        ),
        event(
            "u2",
            "team-a",
            "Pod",
            "db-0",
            "Pulled",
            1,
            "2026-01-01T00:00:30Z",
        ),
    ]
    .join("\n");
    let parsed = parse_body(&body, "default", LIMIT).unwrap();
    let first = store.ingest(parsed.records).await.unwrap();
    assert_eq!((first.stored, first.duplicates), (2, 1));
    // The exporter re-sends the same report, then a later one.
    let again = parse_body(
        &event(
            "u1",
            "team-a",
            "Pod",
            "db-0",
            "BackOff",
            3,
            "2026-01-01T00:03:00Z",
        ),
        "default",
        LIMIT,
    )
    .unwrap();
    assert_eq!(store.ingest(again.records).await.unwrap().duplicates, 1);
    let later = parse_body(
        &event(
            "u1",
            "team-a",
            "Pod",
            "db-0",
            "BackOff",
            7,
            "2026-01-01T00:09:00Z",
        ),
        "default",
        LIMIT,
    )
    .unwrap();
    assert_eq!(store.ingest(later.records).await.unwrap().stored, 1);

    let (total, records) = search(&store, &Scope::ClusterWide, &[]).await;
    assert_eq!(total, 2);
    assert_eq!(records[0]["count"], 7);
    assert_eq!(records[0]["cluster"], "default");
    assert_eq!(records[1]["reason"], "Pulled");
    let r = EventRequest::parse(
        &params(&[("operation", "statistics")]),
        &Scope::ClusterWide,
        &BTreeMap::new(),
        NOW,
    )
    .unwrap();
    let stats = store.statistics(&r.filter, &r.search).await.unwrap();
    assert_eq!((stats.events, stats.resources), (2, 1));
}

#[tokio::test]
async fn tenants_see_their_namespaces_events_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(StoreOptions::new(dir.path())).unwrap();
    let body = [
        event(
            "a1",
            "team-a",
            "Pod",
            "web-1",
            "BackOff",
            1,
            "2026-01-01T00:01:00Z",
        ),
        event(
            "b1",
            "team-b",
            "Pod",
            "team-a-web",
            "BackOff",
            1,
            "2026-01-01T00:01:00Z",
        ),
        // A node's event: core/v1 puts it in namespace "default", but its
        // object is cluster-scoped.
        event(
            "n1",
            "",
            "Node",
            "node-1",
            "NodeHasDiskPressure",
            1,
            "2026-01-01T00:01:00Z",
        ),
        event(
            "d1",
            "default",
            "Pod",
            "web",
            "Pulled",
            1,
            "2026-01-01T00:01:00Z",
        ),
    ]
    .join("\n");
    store
        .ingest(parse_body(&body, "default", LIMIT).unwrap().records)
        .await
        .unwrap();
    let tenant = Scope::namespaces(["team-a", "default"]);
    for query in [
        vec![],
        vec![("involved_object_name_search", "team-a")],
        vec![("involved_object_namespace_search", "team")],
        vec![("workspace_search", "ws")],
        vec![("message_search", "node")],
        vec![("involved_object_kind_filter", "Node")],
    ] {
        let (_, records) = search(&store, &tenant, &query).await;
        for r in &records {
            let ns = r["involvedObject"]["namespace"].as_str().unwrap_or("");
            assert!(ns == "team-a" || ns == "default", "{query:?} leaked {r}");
        }
    }
    let (total, _) = search(&store, &tenant, &[]).await;
    assert_eq!(
        total, 2,
        "team-a's and default's pod events, not the node's"
    );
    let (total, records) = search(
        &store,
        &Scope::ClusterWide,
        &[("involved_object_kind_filter", "Node")],
    )
    .await;
    assert_eq!(
        (total, records[0]["reason"].as_str()),
        (1, Some("NodeHasDiskPressure"))
    );
    let (total, _) = search(
        &store,
        &tenant,
        &[("workspace_filter", "ws-a"), ("reason_filter", "BackOff")],
    )
    .await;
    assert_eq!(total, 1);
}

#[tokio::test]
async fn the_shortcut_finds_one_object_s_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(StoreOptions::new(dir.path())).unwrap();
    let body = [
        event(
            "a1",
            "team-a",
            "Pod",
            "web-1",
            "BackOff",
            4,
            "2026-01-01T00:01:00Z",
        ),
        event(
            "a2",
            "team-a",
            "Pod",
            "web-1",
            "Pulled",
            1,
            "2026-01-01T00:01:00Z",
        ),
        event(
            "a3",
            "team-a",
            "Pod",
            "web-2",
            "BackOff",
            1,
            "2026-01-01T00:01:00Z",
        ),
    ]
    .join("\n");
    store
        .ingest(parse_body(&body, "default", LIMIT).unwrap().records)
        .await
        .unwrap();
    let r = EventRequest::for_namespace(
        "team-a",
        &params(&[("for", "pods/web-1"), ("types", "Warning")]),
        &Scope::namespaces(["team-a"]),
        NOW,
    )
    .unwrap();
    let page = store.query(&r.filter, &r.search).await.unwrap();
    assert_eq!(page.total, 1);
    let record: serde_json::Value = serde_json::from_str(page.records.unwrap()[0].get()).unwrap();
    assert_eq!(record["metadata"]["uid"], "a1");
}
