//! The real Elasticsearch (9.x) and OpenSearch Python clients against
//! Periscope's Elasticsearch-compatible ingest (`tests/clients/es_clients.py`,
//! installed by `scripts/install-test-clients`): `info()`, `ping()`, cluster
//! health and license, `helpers.bulk`, and a bulk with a refused item — no
//! client error (the clients refuse answers without `X-Elastic-Product`),
//! every item's `_index` and `_id` echoed, and every acknowledged line stored
//! exactly once.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_clients_ship_lines_without_an_error_and_each_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = periscope_with(&logs_config(dir.path())).await;
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    for flavour in ["elasticsearch", "opensearch"] {
        let lines: String = (1..=3)
            .map(|n| {
                json!({
                    "@timestamp": now,
                    "log": format!("{flavour} line {n}"),
                    "kubernetes": {"namespace_name": "team-a", "pod_name": "web-1", "container_name": "web"}
                })
                .to_string()
                    + "\n"
            })
            .collect();
        let base = p.base.clone();
        let answer = tokio::task::spawn_blocking(move || {
            client(
                "es_clients.py",
                &[flavour, &base, SHIPPER_TOKEN, "ks-logstash-log-2026.12.01"],
                &lines,
            )
        })
        .await
        .unwrap();
        assert_eq!(
            answer["info"]["tagline"], "You Know, for Search",
            "{answer}"
        );
        assert_eq!(answer["ping"], true, "{answer}");
        assert_eq!(answer["health"], "green", "{answer}");
        if flavour == "elasticsearch" {
            assert_eq!(answer["license"], "active", "{answer}");
        }
        assert_eq!(answer["bulk"], json!({"ok": 3, "errors": []}), "{answer}");
        assert_eq!(
            answer["mixed"],
            json!({"errors": true, "items": [
                {"_index": "ks-logstash-log-2026.12.01", "_id": "good-1", "status": 201},
                {"_index": "ks-logstash-log-2026.12.01", "_id": "bad-1", "status": 400}
            ]}),
            "{answer}"
        );
        let found = p
            .get(
                Some("admin"),
                "/api/v1/logs",
                &[("log_query", flavour), ("size", "100")],
            )
            .await;
        assert_eq!(found.status, 200, "{}", found.raw);
        let mut texts: Vec<String> = found.body["query"]["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["log"].as_str().unwrap().trim_end().to_string())
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                format!("{flavour} line 1"),
                format!("{flavour} line 2"),
                format!("{flavour} line 3"),
                format!("{flavour} the good one"),
            ],
            "{}",
            found.raw
        );
    }
    // What older shippers send: `_type`, query parameters Periscope has no
    // use for, the compatibility media types; errors are Elasticsearch's too.
    let body = concat!(
        r#"{"index":{"_index":"logs","_type":"_doc"}}"#,
        "\n",
        r#"{"log":"typed line","kubernetes":{"namespace_name":"team-a","pod_name":"web-1","container_name":"web"}}"#,
        "\n"
    );
    let url = format!(
        "{}/_bulk?filter_path=items.*.error&pipeline=p&timeout=1m&refresh=false",
        p.base
    );
    let typed = p
        .http
        .post(&url)
        .bearer_auth(SHIPPER_TOKEN)
        .header(
            "content-type",
            "application/vnd.elasticsearch+x-ndjson; compatible-with=9",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(typed.status(), 200);
    assert_eq!(typed.headers()["x-elastic-product"], "Elasticsearch");
    let refused = p.http.post(&url).body(body).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-elastic-product"], "Elasticsearch");
    let head = p.http.head(&p.base).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-elastic-product"], "Elasticsearch");
}
