//! The manifest: which Parquet files make up the table and how much of the
//! write-ahead log they already hold. It is replaced atomically (write a
//! temporary file, fsync, rename, fsync the directory), so the table on disk
//! is always one manifest's files plus the log segments after `wal_through`.

use crate::error::StoreError;
use crate::wal::sync_dir;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

const FILE: &str = "manifest.json";

/// One Parquet file of the table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Path relative to the table directory.
    pub path: String,
    /// Start of the time partition (Unix ns).
    pub partition: i64,
    /// Smallest and largest row time in the file (Unix ns).
    pub min_time: i64,
    pub max_time: i64,
    pub rows: u64,
    pub bytes: u64,
}

/// The table's state on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Every log segment numbered up to this one is in the files.
    pub wal_through: u64,
    /// Next number for a file name.
    pub next_file: u64,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Reads the manifest of `dir`, or an empty one for a new table.
    pub fn load(dir: &Path) -> Result<Manifest, StoreError> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                StoreError::Engine(format!("manifest {} is unreadable: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(StoreError::io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Replaces the manifest of `dir` with this one, durably.
    pub fn store(&self, dir: &Path) -> Result<(), StoreError> {
        let tmp = dir.join(format!("{FILE}.tmp"));
        let bytes = serde_json::to_vec(self).expect("a manifest serialises");
        let mut file = std::fs::File::create(&tmp)
            .map_err(StoreError::io(format!("creating {}", tmp.display())))?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(StoreError::io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(FILE)).map_err(StoreError::io("replacing the manifest"))?;
        sync_dir(dir)
    }
}
