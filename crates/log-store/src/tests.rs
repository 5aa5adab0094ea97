//! The embedded backend answering the log query model.

use crate::LogStore;
use periscope_logs::{LogRecord, LogRequest, Operation, SortOrder};
use periscope_model::Scope;
use periscope_store::StoreOptions;

const SECOND: i64 = 1_000_000_000;

fn record(t: i64, namespace: &str, pod: &str, log: &str) -> LogRecord {
    LogRecord {
        time: t * SECOND,
        namespace: namespace.into(),
        pod: pod.into(),
        container: "main".into(),
        docker_id: format!("{namespace}/{pod}"),
        image: "img".into(),
        log: log.into(),
        fields: None,
    }
}

/// 300 lines over 300 s: shop (web Deployment pods, db StatefulSet pod) and
/// bank; every 10th line an error.
fn sample() -> Vec<LogRecord> {
    (0..300)
        .map(|i| {
            let (ns, pod) = match i % 3 {
                0 => ("shop", "web-7d9c8b6f5d-x2k4q"),
                1 => ("shop", "db-0"),
                _ => ("bank", "ledger-6f5d4c3b2-abcde"),
            };
            let log = if i % 10 == 0 {
                format!("ERROR request {i} failed")
            } else {
                format!("GET /item/{i} 200")
            };
            record(i, ns, pod, &log)
        })
        .collect()
}

async fn store_with_sample(flush_half: bool) -> (tempfile::TempDir, LogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(StoreOptions::new(dir.path())).unwrap();
    let lines = sample();
    store.ingest(&lines[..150]).await.unwrap();
    if flush_half {
        store.store().flush().await.unwrap();
    }
    store.ingest(&lines[150..]).await.unwrap();
    (dir, store)
}

fn request(pairs: &[(&str, &str)], scope: &Scope) -> LogRequest {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LogRequest::parse(&pairs, scope, 1_000 * SECOND).unwrap()
}

#[tokio::test]
async fn a_tenant_sees_only_its_namespaces_in_every_operation() {
    for flush_half in [false, true] {
        let (_dir, store) = store_with_sample(flush_half).await;
        let shop = Scope::namespaces(["shop"]);
        // A fuzzy filter that would match the other tenant's names.
        let r = request(&[("namespace_query", "an"), ("size", "1000")], &shop);
        assert_eq!(store.query(&r).await.unwrap().total, 0);
        let r = request(&[("size", "1000")], &shop);
        let page = store.query(&r).await.unwrap();
        assert_eq!(page.total, 200);
        assert!(page.records.iter().all(|l| l.namespace == "shop"));
        let stats = store.statistics(&r.filter).await.unwrap();
        assert_eq!((stats.logs, stats.containers), (200, 2));
        let histogram = store
            .histogram(
                &request(&[("interval", "100s")], &shop).filter,
                100 * SECOND,
            )
            .await
            .unwrap();
        assert_eq!(histogram.total, 200);
        assert_eq!(
            histogram
                .histograms
                .iter()
                .map(|b| b.time)
                .collect::<Vec<_>>(),
            [0, 100_000, 200_000]
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let filter = r.filter.clone();
        let export = tokio::spawn(async move { store.export(&filter, SortOrder::Asc, tx).await });
        let mut exported = Vec::new();
        while let Some(chunk) = rx.recv().await {
            exported.extend(chunk);
        }
        export.await.unwrap().unwrap();
        assert_eq!(exported.len(), 200);
        assert!(exported.iter().all(|l| l.namespace == "shop"));
        assert!(exported.windows(2).all(|w| w[0].time <= w[1].time));
    }
}

#[tokio::test]
async fn keywords_workloads_and_pods_narrow_the_lines() {
    let (_dir, store) = store_with_sample(true).await;
    let all = Scope::ClusterWide;
    let errors = store
        .query(&request(&[("log_query", "error"), ("size", "100")], &all))
        .await
        .unwrap();
    assert_eq!(errors.total, 30);
    assert!(errors.records.iter().all(|l| l.log.starts_with("ERROR")));
    let web = store
        .query(&request(&[("workloads", "web")], &all))
        .await
        .unwrap();
    assert_eq!(web.total, 100);
    let db = store
        .query(&request(
            &[("workloads", "db"), ("log_query", "ERROR,nothing")],
            &all,
        ))
        .await
        .unwrap();
    assert_eq!(db.total, 10);
    let pods = store
        .query(&request(&[("pods", "db-0,ledger-6f5d4c3b2-abcde")], &all))
        .await
        .unwrap();
    assert_eq!(pods.total, 200);
    let wildcard = store
        .query(&request(&[("log_query", "%")], &all))
        .await
        .unwrap();
    assert_eq!(wildcard.total, 0, "a % keyword is a literal percent sign");
    let window = store
        .query(&request(&[("start_time", "10"), ("end_time", "19")], &all))
        .await
        .unwrap();
    assert_eq!(window.total, 10);
}

#[tokio::test]
async fn the_cursor_pages_through_every_line_exactly_once() {
    let (_dir, store) = store_with_sample(true).await;
    for order in ["desc", "asc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs = vec![("size", "7"), ("sort", order)];
            if let Some(c) = &cursor {
                pairs.push(("cursor", c));
            }
            let page = store
                .query(&request(&pairs, &Scope::ClusterWide))
                .await
                .unwrap();
            assert_eq!(page.total, 300);
            seen.extend(page.records.iter().map(|l| l.time));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 300, "{order}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 300);
        if order == "desc" {
            assert!(seen.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}

#[tokio::test]
async fn an_empty_scope_sees_nothing() {
    let (_dir, store) = store_with_sample(false).await;
    let nobody = Scope::namespaces(Vec::<String>::new());
    let r = request(&[], &nobody);
    assert_eq!(r.operation, Operation::Query);
    assert_eq!(store.query(&r).await.unwrap().total, 0);
    assert_eq!(store.statistics(&r.filter).await.unwrap().logs, 0);
}
