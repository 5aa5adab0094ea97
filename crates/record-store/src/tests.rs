use crate::{KeyedTable, Recent};
use periscope_record_search::{Cursor, Params, Search, SortOrder};
use periscope_store::datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use periscope_store::datafusion::arrow::datatypes::{DataType, Field, Schema};
use periscope_store::datafusion::prelude::{col, lit};
use periscope_store::{StoreOptions, TableSpec};
use std::sync::Arc;

fn spec() -> TableSpec {
    TableSpec {
        name: "records".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("time", DataType::Int64, false),
            Field::new("key", DataType::Utf8, false),
            Field::new("object", DataType::Utf8, false),
            Field::new("count", DataType::Int64, false),
            Field::new("raw", DataType::Utf8, false),
        ])),
        time_column: "time".into(),
        sort_columns: vec!["time".into()],
        bloom_filter_columns: vec![],
    }
}

/// Rows of (time, key, object, count).
fn batch(rows: &[(i64, &str, &str, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        spec().schema,
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(StringArray::from_iter_values(
                rows.iter()
                    .map(|r| format!(r#"{{"key":"{}","count":{}}}"#, r.1, r.3)),
            )),
        ],
    )
    .unwrap()
}

fn search(pairs: &[(&str, &str)]) -> Search {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Search::parse(&Params::new(&pairs, &[]).unwrap(), 1_000_000_000_000).unwrap()
}

fn keys(page: &periscope_record_search::Page) -> Vec<(String, i64)> {
    page.records
        .iter()
        .flatten()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r.get()).unwrap();
            (
                v["key"].as_str().unwrap().to_string(),
                v["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_key_is_answered_once_by_its_newest_row() {
    let dir = tempfile::tempdir().unwrap();
    let table = KeyedTable::open(
        spec(),
        StoreOptions::new(dir.path()),
        Some("count"),
        "object",
    )
    .unwrap();
    // "a" reported three times (the last twice at the same time, the higher
    // count is newer), "b" once, "c" twice; a and b are about one object.
    table
        .append(batch(&[
            (10, "a", "pod-1", 1),
            (20, "b", "pod-1", 1),
            (30, "a", "pod-1", 2),
        ]))
        .await
        .unwrap();
    table.store().flush().await.unwrap();
    table
        .append(batch(&[
            (30, "a", "pod-1", 3),
            (40, "c", "pod-2", 1),
            (50, "c", "pod-2", 4),
        ]))
        .await
        .unwrap();
    let page = table.query(None, &search(&[])).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        keys(&page),
        [
            ("c".to_string(), 4),
            ("a".to_string(), 3),
            ("b".to_string(), 1)
        ]
    );
    let stats = table.statistics(None, &search(&[])).await.unwrap();
    assert_eq!((stats.events, stats.resources), (3, 2));
    // The time filter sees a record at its newest time within the range.
    let early = table
        .query(None, &search(&[("end_time", "0.000000025")]))
        .await
        .unwrap();
    assert_eq!(keys(&early), [("b".to_string(), 1), ("a".to_string(), 1)]);
    let filtered = table
        .query(Some(col("object").eq(lit("pod-2"))), &search(&[]))
        .await
        .unwrap();
    assert_eq!(keys(&filtered), [("c".to_string(), 4)]);
}

#[tokio::test]
async fn the_cursor_pages_past_any_depth_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let table = KeyedTable::open(spec(), StoreOptions::new(dir.path()), None, "object").unwrap();
    let names: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    // Pairs of keys share a time, so ties are broken by key.
    let rows: Vec<(i64, &str, &str, i64)> = names
        .iter()
        .enumerate()
        .map(|(i, k)| (100 + (i as i64 / 2), k.as_str(), "o", 1))
        .collect();
    table.append(batch(&rows)).await.unwrap();
    for sort in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut pairs = vec![("sort", sort), ("size", "7")];
            if let Some(c) = &cursor {
                pairs.push(("cursor", c.as_str()));
            }
            let page = table.query(None, &search(&pairs)).await.unwrap();
            assert_eq!(page.total, 25);
            seen.extend(keys(&page).into_iter().map(|(k, _)| k));
            match page.cursor {
                Some(c) => {
                    let order = if sort == "asc" {
                        SortOrder::Asc
                    } else {
                        SortOrder::Desc
                    };
                    assert_eq!(Cursor::decode(&c).unwrap().order, order);
                    cursor = Some(c)
                }
                None => break,
            }
        }
        let mut expected = names.clone();
        if sort == "desc" {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{sort}");
    }
}

#[tokio::test]
async fn histograms_count_records_per_bucket_in_ms() {
    let dir = tempfile::tempdir().unwrap();
    let table = KeyedTable::open(spec(), StoreOptions::new(dir.path()), None, "object").unwrap();
    let s = 1_000_000_000;
    table
        .append(batch(&[
            (s, "a", "o", 1),
            (2 * s, "b", "o", 1),
            (61 * s, "c", "o", 1),
            (61 * s, "c", "o", 1),
        ]))
        .await
        .unwrap();
    let h = table
        .histogram(None, &search(&[("interval", "1m")]))
        .await
        .unwrap();
    assert_eq!(h.total, 3);
    assert_eq!(
        h.buckets
            .iter()
            .map(|b| (b.time, b.count))
            .collect::<Vec<_>>(),
        [(0, 2), (60_000, 1)]
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    table
        .export(None, &search(&[("sort", "asc")]), tx)
        .await
        .unwrap();
    let mut exported = 0;
    while let Some(chunk) = rx.recv().await {
        exported += chunk.len();
    }
    assert_eq!(exported, 3);
}

#[test]
fn recent_keys_admit_only_progress() {
    let recent = Recent::new(4);
    assert!(recent.admit("a", 10, 1));
    assert!(!recent.admit("a", 10, 1), "the same report again");
    assert!(!recent.admit("a", 5, 1), "an older report");
    assert!(recent.admit("a", 10, 2), "a higher count");
    assert!(recent.admit("a", 11, 1), "a later report");
    recent.forget(["a"]);
    assert!(recent.admit("a", 10, 1), "forgotten after a failed write");
    // Full: the oldest half goes, and the newest are still known.
    for (i, k) in ["b", "c", "d", "e", "f"].iter().enumerate() {
        assert!(recent.admit(k, 20 + i as i64, 0));
    }
    assert!(!recent.admit("f", 24, 0));
}
