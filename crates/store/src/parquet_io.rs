//! Turning batches into sorted, time-partitioned Parquet files and back.

use crate::error::StoreError;
use crate::manifest::FileEntry;
use datafusion::arrow::array::{
    Array, ArrayRef, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::{
    concat_batches, lexsort_to_indices, take_record_batch, SortColumn,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Rows per Parquet row group: small enough that statistics on the sort
/// columns skip most of a file for a namespace or pod filter.
const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Rows per data page (at most).
const PAGE_ROWS: usize = 2048;

/// The time column of a batch.
pub fn times(batch: &RecordBatch, time_column: usize) -> &Int64Array {
    batch
        .column(time_column)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("the time column is Int64 (checked when the table opens)")
}

/// Smallest and largest time of a batch (None when it is empty).
pub fn time_bounds(batch: &RecordBatch, time_column: usize) -> Option<(i64, i64)> {
    let t = times(batch, time_column);
    let min = datafusion::arrow::compute::min(t)?;
    let max = datafusion::arrow::compute::max(t)?;
    Some((min, max))
}

/// Splits rows by time partition (`partition_ns` wide), concatenated per partition.
pub fn split_by_partition(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    time_column: usize,
    partition_ns: i64,
) -> Result<BTreeMap<i64, RecordBatch>, StoreError> {
    let all = concat_batches(schema, batches)?;
    let t = times(&all, time_column);
    let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for (i, time) in t.values().iter().enumerate() {
        rows.entry(time.div_euclid(partition_ns) * partition_ns)
            .or_default()
            .push(i as u32);
    }
    if rows.len() == 1 {
        let (start, _) = rows.into_iter().next().expect("one partition");
        return Ok(BTreeMap::from([(start, all)]));
    }
    rows.into_iter()
        .map(|(start, indices)| Ok((start, take_record_batch(&all, &UInt32Array::from(indices))?)))
        .collect()
}

/// Sorts a batch by the given columns (ascending). Text columns are first
/// replaced by the rank of each distinct value (few distinct namespaces and
/// pods per flush), so rows compare as integers.
pub fn sort(batch: &RecordBatch, columns: &[usize]) -> Result<RecordBatch, StoreError> {
    if columns.is_empty() || batch.num_rows() < 2 {
        return Ok(batch.clone());
    }
    let keys: Vec<Vec<i64>> = columns
        .iter()
        .map(|&c| sort_key(batch.column(c)))
        .collect::<Result<_, _>>()?;
    let mut order: Vec<u32> = (0..batch.num_rows() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        keys.iter()
            .map(|k| k[a as usize].cmp(&k[b as usize]))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(take_record_batch(batch, &UInt32Array::from(order))?)
}

/// An integer per row ordering like the column: Int64 values as they are,
/// text as the rank of its value among the column's distinct values.
fn sort_key(column: &ArrayRef) -> Result<Vec<i64>, StoreError> {
    if let Some(ints) = column.as_any().downcast_ref::<Int64Array>() {
        return Ok(ints.values().to_vec());
    }
    let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
        // Other types: ranks from arrow's comparison of the values.
        let indices = lexsort_to_indices(
            &[SortColumn {
                values: column.clone(),
                options: None,
            }],
            None,
        )?;
        let mut rank = vec![0i64; column.len()];
        for (r, i) in indices.values().iter().enumerate() {
            rank[*i as usize] = r as i64;
        }
        return Ok(rank);
    };
    let mut distinct: HashMap<&str, i64> = HashMap::new();
    for v in text.iter() {
        let next = distinct.len() as i64;
        distinct.entry(v.unwrap_or_default()).or_insert(next);
    }
    let mut names: Vec<&str> = distinct.keys().copied().collect();
    names.sort_unstable();
    for (rank, name) in names.iter().enumerate() {
        distinct.insert(name, rank as i64);
    }
    Ok(text
        .iter()
        .map(|v| distinct[v.unwrap_or_default()])
        .collect())
}

/// Writes one sorted batch as a zstd Parquet file at `table_dir/relative`, fsync'd.
pub fn write_file(
    table_dir: &Path,
    relative: &str,
    partition: i64,
    batch: &RecordBatch,
    time_column: usize,
    bloom_filter_columns: &[String],
) -> Result<FileEntry, StoreError> {
    let path = table_dir.join(relative);
    let dir = path.parent().expect("files live in a partition directory");
    std::fs::create_dir_all(dir).map_err(StoreError::io(format!("creating {}", dir.display())))?;
    let file = std::fs::File::create(&path)
        .map_err(StoreError::io(format!("creating {}", path.display())))?;
    // Small pages with statistics let a filter on the sort columns skip most
    // of a row group (page index); times, increasing within a run of rows,
    // are delta-encoded.
    let time = ColumnPath::from(batch.schema().field(time_column).name().as_str());
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_column_dictionary_enabled(time.clone(), false)
        .set_column_encoding(time, Encoding::DELTA_BINARY_PACKED);
    for column in bloom_filter_columns {
        props = props.set_column_bloom_filter_enabled(ColumnPath::from(column.as_str()), true);
    }
    let props = props.build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    writer.write(batch)?;
    let file = writer.into_inner()?;
    file.sync_all()
        .map_err(StoreError::io(format!("syncing {}", path.display())))?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let (min_time, max_time) = time_bounds(batch, time_column).unwrap_or((partition, partition));
    Ok(FileEntry {
        path: relative.to_string(),
        partition,
        min_time,
        max_time,
        rows: batch.num_rows() as u64,
        bytes,
    })
}

/// Reads a whole Parquet file.
pub fn read_file(path: &Path, schema: &SchemaRef) -> Result<RecordBatch, StoreError> {
    let file =
        std::fs::File::open(path).map_err(StoreError::io(format!("opening {}", path.display())))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(64 * 1024)
        .build()?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    let batch = concat_batches(schema, batches.iter())?;
    Ok(batch)
}

/// Name of a partition's directory: its start as `YYYYMMDDTHH` would need a
/// calendar; the start in Unix seconds sorts and parses just as well.
pub fn partition_dir(partition: i64) -> String {
    format!("p{}", partition.div_euclid(1_000_000_000))
}
