//! Store behaviour: round trips, crash recovery, retention, compaction, back-pressure.

use crate::{Store, StoreError, StoreOptions, TableSpec};
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{col, lit};
use std::sync::Arc;
use std::time::Duration;

const HOUR: i64 = 3_600_000_000_000;

fn spec() -> TableSpec {
    TableSpec {
        name: "test".into(),
        schema: Arc::new(Schema::new(vec![
            Field::new("time", DataType::Int64, false),
            Field::new("namespace", DataType::Utf8, false),
            Field::new("id", DataType::Int64, false),
        ])),
        time_column: "time".into(),
        sort_columns: vec!["namespace".into(), "time".into()],
        bloom_filter_columns: Vec::new(),
    }
}

/// Rows `ids`, at `base + id` seconds, alternating namespaces a and b.
fn batch(base: i64, ids: std::ops::Range<i64>) -> RecordBatch {
    let ids: Vec<i64> = ids.collect();
    RecordBatch::try_new(
        spec().schema,
        vec![
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| base + i * 1_000_000_000),
            )),
            Arc::new(StringArray::from_iter_values(ids.iter().map(|i| {
                if i % 2 == 0 {
                    "a"
                } else {
                    "b"
                }
            }))),
            Arc::new(Int64Array::from(ids.clone())),
        ],
    )
    .unwrap()
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(spec(), StoreOptions::new(dir)).unwrap()
}

/// Every id in the store, sorted (duplicates kept, so they show).
async fn ids(store: &Store) -> Vec<i64> {
    let frame = store.scan(i64::MIN, i64::MAX).await.unwrap();
    let mut out: Vec<i64> = frame
        .select(vec![col("id")])
        .unwrap()
        .collect()
        .await
        .unwrap()
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn appended_rows_are_queryable_before_and_after_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(batch(0, 0..100)).await.unwrap();
    assert_eq!(ids(&store).await, (0..100).collect::<Vec<_>>());
    assert_eq!(store.flush().await.unwrap(), 100);
    store.append(batch(0, 100..150)).await.unwrap();
    assert_eq!(ids(&store).await, (0..150).collect::<Vec<_>>());
    let stats = store.stats();
    assert_eq!(
        (stats.files, stats.file_rows, stats.memory_rows),
        (1, 100, 50)
    );
    // Filters and the time range apply to both files and memory.
    let a = store
        .scan(0, 120 * 1_000_000_000)
        .await
        .unwrap()
        .filter(col("namespace").eq(lit("a")))
        .unwrap()
        .count()
        .await
        .unwrap();
    assert_eq!(a, 61);
}

#[tokio::test]
async fn rows_in_two_partitions_go_to_two_files_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .append(batch(HOUR - 50_000_000_000, 0..100))
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert_eq!(store.stats().files, 2);
    let frame = store.scan(i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(frame.count().await.unwrap(), 100);
}

#[tokio::test]
async fn a_crash_before_a_flush_replays_the_log_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.append(batch(0, 0..10)).await.unwrap();
        store.flush().await.unwrap();
        store.append(batch(0, 10..20)).await.unwrap();
        // Dropped without a flush: a crash after the acknowledgement.
    }
    let store = open(dir.path());
    assert_eq!(ids(&store).await, (0..20).collect::<Vec<_>>());
    store.flush().await.unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(ids(&store).await, (0..20).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_crash_between_the_files_and_the_manifest_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.append(batch(0, 0..10)).await.unwrap();
    }
    // A flush that wrote its file but crashed before storing the manifest.
    let partition = dir.path().join("p0");
    std::fs::create_dir_all(&partition).unwrap();
    std::fs::write(partition.join("000000000099.parquet"), b"half a file").unwrap();
    let store = open(dir.path());
    assert!(!partition.join("000000000099.parquet").exists());
    assert_eq!(ids(&store).await, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_torn_log_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.append(batch(0, 0..10)).await.unwrap();
    }
    let wal = dir.path().join("wal");
    let segment = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let whole = bytes.clone();
    bytes.extend_from_slice(&whole[..whole.len() / 2]);
    std::fs::write(&segment, bytes).unwrap();
    let store = open(dir.path());
    assert_eq!(ids(&store).await, (0..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn retention_deletes_whole_old_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.retention = Some(Duration::from_secs(24 * 3600));
    let store = Store::open(spec(), options).unwrap();
    store.append(batch(0, 0..10)).await.unwrap();
    store.append(batch(30 * HOUR, 10..20)).await.unwrap();
    store.flush().await.unwrap();
    store.maintain(50 * HOUR).await.unwrap();
    assert_eq!(ids(&store).await, (10..20).collect::<Vec<_>>());
    assert_eq!(store.stats().files, 1);
}

#[tokio::test]
async fn small_files_of_a_partition_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.compact_files = 3;
    let store = Store::open(spec(), options).unwrap();
    for i in 0..4 {
        store.append(batch(0, i * 10..i * 10 + 10)).await.unwrap();
        store.flush().await.unwrap();
    }
    assert_eq!(store.stats().files, 4);
    store.maintain(0).await.unwrap();
    assert_eq!(store.stats().files, 1);
    assert_eq!(ids(&store).await, (0..40).collect::<Vec<_>>());
    drop(store);
    let store = open(dir.path());
    assert_eq!(ids(&store).await, (0..40).collect::<Vec<_>>());
}

#[tokio::test]
async fn appends_are_refused_while_memory_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = StoreOptions::new(dir.path());
    options.max_buffered_bytes = batch(0, 0..1000).get_array_memory_size() + 1;
    let store = Store::open(spec(), options).unwrap();
    store.append(batch(0, 0..1000)).await.unwrap();
    let refused = store.append(batch(0, 1000..2000)).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Overloaded { .. }),
        "{refused}"
    );
    store.flush().await.unwrap();
    store.append(batch(0, 1000..2000)).await.unwrap();
    assert_eq!(ids(&store).await.len(), 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for i in 0..10 {
                    let start = (w * 10 + i) * 10;
                    store.append(batch(0, start..start + 10)).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(ids(&store).await, (0..1600).collect::<Vec<_>>());
}

#[test]
fn files_are_sorted_by_the_sort_columns() {
    let unsorted = RecordBatch::try_new(
        spec().schema,
        vec![
            Arc::new(Int64Array::from(vec![4, 3, 2, 1, 5])),
            Arc::new(StringArray::from(vec!["b", "a", "b", "a", "aa"])),
            Arc::new(Int64Array::from(vec![0, 1, 2, 3, 4])),
        ],
    )
    .unwrap();
    let sorted = crate::parquet_io::sort(&unsorted, &[1, 0]).unwrap();
    let ids = sorted
        .column(2)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(ids.values().to_vec(), [3, 1, 4, 2, 0]);
}
