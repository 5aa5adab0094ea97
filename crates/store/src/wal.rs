//! The write-ahead log: numbered segment files of framed Arrow IPC batches.
//!
//! A frame is `len: u32 LE | crc32(payload): u32 LE | payload`, the payload an
//! Arrow IPC stream holding one batch. Replay stops at the first torn or
//! corrupt frame of a segment (a write that never completed was never
//! acknowledged).

use crate::error::StoreError;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".wal";

/// Encodes one batch as a frame.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, StoreError> {
    let mut payload = Vec::with_capacity(batch.get_array_memory_size() / 2 + 256);
    {
        let mut writer = StreamWriter::try_new(&mut payload, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// The path of segment `n`.
pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:020}{SUFFIX}"))
}

/// Segment numbers present in `dir`, ascending.
pub fn segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut found = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(StoreError::io(format!("listing {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(StoreError::io("listing the log"))?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        {
            found.push(n);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Creates segment `n` for appending; its directory entry is made durable
/// by a later [`sync_dir`].
pub fn open_segment(dir: &Path, n: u64) -> Result<File, StoreError> {
    let path = segment_path(dir, n);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(StoreError::io(format!("creating {}", path.display())))
}

/// Creates segment `n` for appending and makes its directory entry durable.
pub fn create_segment(dir: &Path, n: u64) -> Result<File, StoreError> {
    let file = open_segment(dir, n)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Reads the batches of segment `n`. A torn or corrupt tail ends the segment;
/// it is reported and the valid prefix returned.
pub fn read_segment(
    dir: &Path,
    n: u64,
    schema: &SchemaRef,
) -> Result<Vec<RecordBatch>, StoreError> {
    let path = segment_path(dir, n);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(StoreError::io(format!("reading {}", path.display())))?;
    let mut batches = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(header) = bytes.get(at..at + 8) else {
            tracing::warn!(segment = %path.display(), offset = at, "torn frame header at the end of the log; ignored");
            break;
        };
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            tracing::warn!(segment = %path.display(), offset = at, "torn frame at the end of the log; ignored");
            break;
        };
        if crc32fast::hash(payload) != crc {
            tracing::warn!(segment = %path.display(), offset = at, "corrupt frame in the log; the rest of the segment is ignored");
            break;
        }
        for batch in StreamReader::try_new(payload, None)? {
            let batch = batch?;
            if batch.schema().fields() != schema.fields() {
                return Err(StoreError::Schema {
                    table: path.display().to_string(),
                    detail: "a logged batch has another schema".into(),
                });
            }
            batches.push(batch.with_schema(schema.clone())?);
        }
        at += 8 + len;
    }
    Ok(batches)
}

/// Appends a frame to an open segment.
pub fn write_frame(mut file: &File, frame: &[u8]) -> std::io::Result<()> {
    file.write_all(frame)
}

/// Makes a directory's entries (created, renamed or removed files) durable.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(format!(
            "syncing directory {}",
            dir.display()
        )))
}
