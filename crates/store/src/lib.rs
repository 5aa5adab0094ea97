//! Periscope's embedded store for one table of signal rows (logs, spans,
//! events and audit, each with its own schema).
//!
//! Write path: [`Store::append`] writes the batch to a write-ahead log and
//! returns once it is on disk (concurrent writers share one fsync), and the
//! rows are queryable at once from memory. A background task flushes memory to
//! Parquet files (zstd, one directory per time partition, rows sorted so
//! row-group statistics prune), deletes partitions older than the retention
//! and merges small files. A manifest, replaced atomically, lists the files
//! and how much of the log they cover, so a crash anywhere leaves every
//! acknowledged row in the table exactly once after restart.
//!
//! Read path: [`Store::scan`] gives a DataFusion `DataFrame` over the Parquet
//! files of the asked time range plus the batches in memory; filters added to it
//! are pushed down to the Parquet scan.

mod error;
mod manifest;
mod parquet_io;
mod store;
mod wal;

pub use error::StoreError;
pub use store::{unix_now_ns, Store, StoreOptions, StoreStats, TableSpec};

/// Re-exported so callers build batches and queries with the same versions.
pub use datafusion;

/// A LIKE pattern matching `text` anywhere, its wildcards (`%`, `_`, `\\`)
/// taken literally.
pub fn like_contains(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests;
