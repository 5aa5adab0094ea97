//! The store: write-ahead log, memory, Parquet files, and the task that moves
//! rows from one to the next.

use crate::error::StoreError;
use crate::manifest::{FileEntry, Manifest};
use crate::{parquet_io, wal};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::SessionState;
use datafusion::prelude::{col, lit, ParquetReadOptions, SessionConfig, SessionContext};
use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a table holds and how its files are laid out.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Name for messages and metrics.
    pub name: String,
    pub schema: SchemaRef,
    /// A non-null `Int64` column of Unix nanoseconds; files are partitioned by it.
    pub time_column: String,
    /// Rows in a file are sorted by these columns (the usual filters first).
    pub sort_columns: Vec<String>,
    /// Columns written with Parquet bloom filters, so an equality filter on
    /// one (a trace id) skips row groups whatever the sort order.
    pub bloom_filter_columns: Vec<String>,
}

/// Tuning of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The table's directory (log, manifest, Parquet partitions).
    pub dir: PathBuf,
    /// Width of a time partition.
    pub partition: Duration,
    /// Flush memory to Parquet once it holds this many bytes...
    pub flush_bytes: usize,
    /// ...or its oldest row arrived this long ago.
    pub flush_interval: Duration,
    /// Refuse appends (back-pressure) while this many bytes wait in memory.
    pub max_buffered_bytes: usize,
    /// Delete partitions that ended longer ago than this.
    pub retention: Option<Duration>,
    /// Merge a partition's small files once it has this many.
    pub compact_files: usize,
    /// Files with fewer rows than this count as small, and a merge writes
    /// at most this many rows (it holds them in memory to sort them).
    pub compact_rows: u64,
    /// How often retention and compaction run.
    pub maintenance_interval: Duration,
}

impl StoreOptions {
    /// Defaults for a table in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            partition: Duration::from_secs(3600),
            flush_bytes: 64 << 20,
            flush_interval: Duration::from_secs(30),
            max_buffered_bytes: 512 << 20,
            retention: None,
            compact_files: 8,
            compact_rows: 250_000,
            maintenance_interval: Duration::from_secs(60),
        }
    }
}

/// Sizes, for operations and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub files: usize,
    pub file_rows: u64,
    pub file_bytes: u64,
    pub memory_rows: usize,
    pub memory_bytes: usize,
}

/// Rows taken out of the active memory, waiting to be written to Parquet.
/// They stay queryable until their files are in the manifest.
struct Frozen {
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// The log segment that holds them (and every earlier one).
    segment: u64,
}

struct State {
    wal: Arc<File>,
    /// Sealed segments whose last frames may not be on disk yet.
    unsynced: Vec<Arc<File>>,
    /// A segment was created since the log directory was last synced.
    dir_unsynced: bool,
    segment: u64,
    /// Frames written to the log since start.
    written: u64,
    failed: Option<String>,
    active: Vec<RecordBatch>,
    active_bytes: usize,
    active_since: Option<Instant>,
    frozen: Vec<Arc<Frozen>>,
    files: Arc<Vec<FileEntry>>,
}

impl State {
    fn buffered_bytes(&self) -> usize {
        self.active_bytes + self.frozen.iter().map(|f| f.bytes).sum::<usize>()
    }
}

/// One table: see the crate documentation.
pub struct Store {
    spec: TableSpec,
    time_index: usize,
    sort_indices: Vec<usize>,
    options: StoreOptions,
    wal_dir: PathBuf,
    state: Mutex<State>,
    /// Frames known to be on disk.
    synced: AtomicU64,
    sync_lock: tokio::sync::Mutex<()>,
    /// Held by whoever changes the files (flush, retention, compaction).
    manifest: tokio::sync::Mutex<Manifest>,
    flush_wanted: Notify,
    /// Replaced files, deleted once queries that may still read them are done.
    graveyard: Mutex<Vec<(Instant, PathBuf)>>,
    /// Query sessions, set up once (a session's function registry and
    /// options cost more to build than a small query takes): one that
    /// splits scans over the cores, one that does not, for small scans.
    sessions: Sessions,
}

struct Sessions {
    parallel: SessionState,
    single: SessionState,
}

/// Scans of at most this many rows run as one partition: splitting them
/// over threads costs more (repartitioning, merging) than it saves.
const SMALL_SCAN_ROWS: u64 = 250_000;

impl Sessions {
    fn new(runtime: &Arc<RuntimeEnv>) -> Sessions {
        let config = |partitions: Option<usize>| {
            let mut config = SessionConfig::new().with_batch_size(8192);
            if let Some(n) = partitions {
                config = config.with_target_partitions(n);
            }
            let parquet = &mut config.options_mut().execution.parquet;
            parquet.pushdown_filters = true;
            parquet.reorder_filters = true;
            // Memory holds Utf8; reading files as Utf8View would give the two
            // halves of a scan different types.
            parquet.schema_force_view_types = false;
            SessionContext::new_with_config_rt(config, Arc::clone(runtime)).state()
        };
        Sessions {
            parallel: config(None),
            single: config(Some(1)),
        }
    }
}

/// How long a replaced file is kept for queries that started before.
const GRAVE_TIME: Duration = Duration::from_secs(300);

impl Store {
    /// Opens (or creates) the table in `options.dir`, replaying the log.
    pub fn open(spec: TableSpec, options: StoreOptions) -> Result<Store, StoreError> {
        let column = |name: &str| {
            spec.schema.index_of(name).map_err(|_| StoreError::Schema {
                table: spec.name.clone(),
                detail: format!("no column {name}"),
            })
        };
        let time_index = column(&spec.time_column)?;
        if spec.schema.field(time_index).data_type() != &DataType::Int64 {
            return Err(StoreError::Schema {
                table: spec.name.clone(),
                detail: format!("{} must be Int64 nanoseconds", spec.time_column),
            });
        }
        let sort_indices = spec
            .sort_columns
            .iter()
            .map(|c| column(c))
            .collect::<Result<Vec<_>, _>>()?;
        let wal_dir = options.dir.join("wal");
        std::fs::create_dir_all(&wal_dir)
            .map_err(StoreError::io(format!("creating {}", wal_dir.display())))?;
        let manifest = Manifest::load(&options.dir)?;
        remove_orphans(&options.dir, &manifest)?;

        let mut active = Vec::new();
        let mut last_segment = manifest.wal_through;
        for n in wal::segments(&wal_dir)? {
            if n <= manifest.wal_through {
                let _ = std::fs::remove_file(wal::segment_path(&wal_dir, n));
                continue;
            }
            active.extend(wal::read_segment(&wal_dir, n, &spec.schema)?);
            last_segment = last_segment.max(n);
        }
        let replayed: usize = active.iter().map(|b| b.num_rows()).sum();
        if replayed > 0 {
            tracing::info!(table = %spec.name, rows = replayed, "replayed the write-ahead log");
        }
        let segment = last_segment + 1;
        let state = State {
            wal: Arc::new(wal::create_segment(&wal_dir, segment)?),
            unsynced: Vec::new(),
            dir_unsynced: false,
            segment,
            written: 0,
            failed: None,
            active_bytes: active.iter().map(|b| b.get_array_memory_size()).sum(),
            active_since: (!active.is_empty()).then(Instant::now),
            active,
            frozen: Vec::new(),
            files: Arc::new(manifest.files.clone()),
        };
        let runtime = Arc::new(RuntimeEnv::default());
        Ok(Store {
            spec,
            time_index,
            sort_indices,
            options,
            wal_dir,
            state: Mutex::new(state),
            synced: AtomicU64::new(0),
            sync_lock: tokio::sync::Mutex::new(()),
            manifest: tokio::sync::Mutex::new(manifest),
            flush_wanted: Notify::new(),
            graveyard: Mutex::new(Vec::new()),
            sessions: Sessions::new(&runtime),
        })
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.spec.schema
    }

    /// Appends rows; returns once they are in the write-ahead log on disk.
    /// Refused with [`StoreError::Overloaded`] while memory is full.
    pub async fn append(&self, batch: RecordBatch) -> Result<(), StoreError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.schema().fields() != self.spec.schema.fields() {
            return Err(StoreError::Schema {
                table: self.spec.name.clone(),
                detail: "columns differ".into(),
            });
        }
        if batch.column(self.time_index).null_count() > 0 {
            return Err(StoreError::Schema {
                table: self.spec.name.clone(),
                detail: format!("{} has nulls", self.spec.time_column),
            });
        }
        let frame = wal::encode(&batch)?;
        let bytes = batch.get_array_memory_size();
        let written = {
            let mut state = self.state.lock().expect("store state lock");
            if let Some(reason) = &state.failed {
                return Err(StoreError::Failed(reason.clone()));
            }
            let buffered = state.buffered_bytes();
            if buffered + bytes > self.options.max_buffered_bytes {
                self.flush_wanted.notify_one();
                return Err(StoreError::Overloaded {
                    buffered_bytes: buffered,
                });
            }
            if let Err(e) = wal::write_frame(&state.wal, &frame) {
                state.failed = Some(e.to_string());
                return Err(StoreError::io("writing the log")(e));
            }
            state.written += 1;
            state
                .active
                .push(batch.with_schema(self.spec.schema.clone())?);
            state.active_bytes += bytes;
            state.active_since.get_or_insert_with(Instant::now);
            if state.active_bytes >= self.options.flush_bytes {
                // Set aside now, so each flush writes a bounded amount.
                if let Err(e) = self.freeze_locked(&mut state) {
                    // The rows are logged and in memory; the flush sets them aside later.
                    tracing::warn!(table = %self.spec.name, error = %e, "cannot start a new log segment");
                }
                self.flush_wanted.notify_one();
            }
            state.written
        };
        self.sync_through(written).await
    }

    /// Waits until frame `n` is on disk; one fsync covers every frame written
    /// before it started (group commit).
    async fn sync_through(&self, n: u64) -> Result<(), StoreError> {
        if self.synced.load(Ordering::Acquire) >= n {
            return Ok(());
        }
        let _turn = self.sync_lock.lock().await;
        if self.synced.load(Ordering::Acquire) >= n {
            return Ok(());
        }
        let (files, sync_dir, target) = {
            let mut state = self.state.lock().expect("store state lock");
            let mut files: Vec<Arc<File>> = state.unsynced.drain(..).collect();
            files.push(Arc::clone(&state.wal));
            (
                files,
                std::mem::take(&mut state.dir_unsynced),
                state.written,
            )
        };
        let wal_dir = self.wal_dir.clone();
        let result = tokio::task::spawn_blocking(move || {
            for file in &files {
                file.sync_data()
                    .map_err(StoreError::io("syncing the log"))?;
            }
            if sync_dir {
                wal::sync_dir(&wal_dir)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| StoreError::Failed(format!("log sync task: {e}")))?;
        if let Err(e) = result {
            self.state.lock().expect("store state lock").failed = Some(e.to_string());
            return Err(e);
        }
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Moves the active rows aside and starts a new log segment.
    fn freeze(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock().expect("store state lock");
        self.freeze_locked(&mut state)
    }

    /// [`Store::freeze`] with the state locked. The old segment is synced by
    /// the next group commit (writers waiting on it are covered then).
    fn freeze_locked(&self, state: &mut State) -> Result<(), StoreError> {
        if state.active.is_empty() {
            return Ok(());
        }
        let next = state.segment + 1;
        let sealed = std::mem::replace(
            &mut state.wal,
            Arc::new(wal::open_segment(&self.wal_dir, next)?),
        );
        state.unsynced.push(sealed);
        state.dir_unsynced = true;
        let frozen = Frozen {
            batches: std::mem::take(&mut state.active),
            bytes: std::mem::take(&mut state.active_bytes),
            segment: state.segment,
        };
        state.segment = next;
        state.active_since = None;
        state.frozen.push(Arc::new(frozen));
        Ok(())
    }

    /// Writes everything in memory to Parquet, one set-aside part at a time
    /// (each becomes files and a manifest of its own, so memory is freed as
    /// it goes). Returns the rows written.
    pub async fn flush(&self) -> Result<u64, StoreError> {
        let mut manifest = self.manifest.lock().await;
        self.freeze()?;
        let mut rows = 0;
        loop {
            let oldest = self
                .state
                .lock()
                .expect("store state lock")
                .frozen
                .first()
                .cloned();
            let Some(frozen) = oldest else {
                return Ok(rows);
            };
            rows += self.write_frozen(&mut manifest, &frozen).await?;
            self.state
                .lock()
                .expect("store state lock")
                .frozen
                .retain(|f| !Arc::ptr_eq(f, &frozen));
            for n in wal::segments(&self.wal_dir)?
                .into_iter()
                .filter(|&n| n <= frozen.segment)
            {
                let _ = std::fs::remove_file(wal::segment_path(&self.wal_dir, n));
            }
        }
    }

    /// Writes one set-aside part as Parquet files and stores the manifest
    /// listing them (and its log segment as written).
    async fn write_frozen(
        &self,
        manifest: &mut Manifest,
        frozen: &Arc<Frozen>,
    ) -> Result<u64, StoreError> {
        let batches = frozen.batches.clone();
        let (spec, dir) = (self.spec.clone(), self.options.dir.clone());
        let (time_index, sort) = (self.time_index, self.sort_indices.clone());
        let partition_ns = self.options.partition.as_nanos() as i64;
        let first_file = manifest.next_file;
        let entries = tokio::task::spawn_blocking(move || {
            let parts =
                parquet_io::split_by_partition(&spec.schema, &batches, time_index, partition_ns)?;
            drop(batches);
            let mut entries = Vec::new();
            for (i, (partition, rows)) in parts.into_iter().enumerate() {
                let sorted = parquet_io::sort(&rows, &sort)?;
                drop(rows);
                let name = format!(
                    "{}/{:012}.parquet",
                    parquet_io::partition_dir(partition),
                    first_file + i as u64
                );
                entries.push(parquet_io::write_file(
                    &dir,
                    &name,
                    partition,
                    &sorted,
                    time_index,
                    &spec.bloom_filter_columns,
                )?);
            }
            for parent in entries.iter().filter_map(|e| Path::new(&e.path).parent()) {
                wal::sync_dir(&dir.join(parent))?;
            }
            wal::sync_dir(&dir)?;
            Ok::<_, StoreError>(entries)
        })
        .await
        .map_err(|e| StoreError::Engine(format!("flush task: {e}")))??;
        let rows = entries.iter().map(|e| e.rows).sum();
        let mut next = manifest.clone();
        next.next_file += entries.len() as u64;
        next.files.extend(entries);
        next.wal_through = frozen.segment;
        self.commit(manifest, next).await?;
        Ok(rows)
    }

    /// Stores `next` as the manifest on disk, then makes it the current one
    /// (queries see its files from then on).
    async fn commit(&self, manifest: &mut Manifest, next: Manifest) -> Result<(), StoreError> {
        let dir = self.options.dir.clone();
        let stored = next.clone();
        tokio::task::spawn_blocking(move || stored.store(&dir))
            .await
            .map_err(|e| StoreError::Engine(format!("manifest task: {e}")))??;
        *manifest = next;
        self.state.lock().expect("store state lock").files = Arc::new(manifest.files.clone());
        Ok(())
    }

    /// A DataFrame over the rows with time in `[from, to]` (Unix ns): the
    /// Parquet files of that range and the rows in memory.
    pub async fn scan(&self, from: i64, to: i64) -> Result<DataFrame, StoreError> {
        let (memory, all_files) = {
            let state = self.state.lock().expect("store state lock");
            let memory: Vec<RecordBatch> = state
                .frozen
                .iter()
                .flat_map(|f| f.batches.iter().cloned())
                .chain(state.active.iter().cloned())
                .collect();
            (memory, Arc::clone(&state.files))
        };
        let files: Vec<_> = all_files
            .iter()
            .filter(|f| f.max_time >= from && f.min_time <= to)
            .collect();
        let rows = memory.iter().map(|b| b.num_rows() as u64).sum::<u64>()
            + files.iter().map(|f| f.rows).sum::<u64>();
        let ctx = self.session(rows);
        let mut frame = if memory.is_empty() {
            ctx.read_batch(RecordBatch::new_empty(self.spec.schema.clone()))?
        } else {
            ctx.read_batches(memory)?
        };
        let paths: Vec<String> = files
            .iter()
            .map(|f| {
                self.options
                    .dir
                    .join(&f.path)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        if !paths.is_empty() {
            let options = ParquetReadOptions {
                schema: Some(&self.spec.schema),
                ..Default::default()
            };
            frame = ctx.read_parquet(paths, options).await?.union(frame)?;
        }
        let time = col(self.spec.time_column.as_str());
        Ok(frame.filter(time.clone().gt_eq(lit(from)).and(time.lt_eq(lit(to))))?)
    }

    fn session(&self, rows: u64) -> SessionContext {
        let state = if rows <= SMALL_SCAN_ROWS {
            &self.sessions.single
        } else {
            &self.sessions.parallel
        };
        SessionContext::new_with_state(state.clone())
    }

    /// Deletes partitions past the retention and merges small files.
    pub async fn maintain(&self, now_ns: i64) -> Result<(), StoreError> {
        let mut manifest = self.manifest.lock().await;
        let mut next = manifest.clone();
        let mut replaced: Vec<String> = Vec::new();
        let partition_ns = self.options.partition.as_nanos() as i64;
        if let Some(retention) = self.options.retention {
            let cutoff = now_ns - retention.as_nanos() as i64;
            let (expired, kept): (Vec<FileEntry>, Vec<FileEntry>) = next
                .files
                .into_iter()
                .partition(|f| f.partition + partition_ns <= cutoff);
            if !expired.is_empty() {
                tracing::info!(table = %self.spec.name, files = expired.len(), "retention: deleting expired partitions");
            }
            replaced.extend(expired.into_iter().map(|f| f.path));
            next.files = kept;
        }
        let mut by_partition: std::collections::BTreeMap<i64, Vec<FileEntry>> = Default::default();
        for f in next
            .files
            .iter()
            .filter(|f| f.rows < self.options.compact_rows)
        {
            by_partition.entry(f.partition).or_default().push(f.clone());
        }
        for (partition, mut small) in by_partition {
            if small.len() < self.options.compact_files.max(2) {
                continue;
            }
            // Merge as many as fit the size bound, smallest first.
            small.sort_by_key(|f| f.rows);
            let mut total = 0;
            small.retain(|f| {
                total += f.rows;
                total <= self.options.compact_rows
            });
            if small.len() < 2 {
                continue;
            }
            let name = format!(
                "{}/{:012}.parquet",
                parquet_io::partition_dir(partition),
                next.next_file
            );
            next.next_file += 1;
            let (dir, schema) = (self.options.dir.clone(), self.spec.schema.clone());
            let (time_index, sort) = (self.time_index, self.sort_indices.clone());
            let blooms = self.spec.bloom_filter_columns.clone();
            let inputs: Vec<PathBuf> = small.iter().map(|f| dir.join(&f.path)).collect();
            let merged = tokio::task::spawn_blocking(move || {
                let batches = inputs
                    .iter()
                    .map(|p| parquet_io::read_file(p, &schema))
                    .collect::<Result<Vec<_>, _>>()?;
                let all = datafusion::arrow::compute::concat_batches(&schema, batches.iter())?;
                let sorted = parquet_io::sort(&all, &sort)?;
                parquet_io::write_file(&dir, &name, partition, &sorted, time_index, &blooms)
            })
            .await
            .map_err(|e| StoreError::Engine(format!("compaction task: {e}")))??;
            tracing::debug!(table = %self.spec.name, files = small.len(), rows = merged.rows, "compacted a partition");
            next.files.retain(|f| !small.contains(f));
            next.files.push(merged);
            replaced.extend(small.into_iter().map(|f| f.path));
        }
        if !replaced.is_empty() {
            self.commit(&mut manifest, next).await?;
            let mut graveyard = self.graveyard.lock().expect("graveyard lock");
            let now = Instant::now();
            graveyard.extend(
                replaced
                    .into_iter()
                    .map(|p| (now, self.options.dir.join(p))),
            );
        }
        self.bury(GRAVE_TIME);
        Ok(())
    }

    /// Deletes replaced files older than `age`.
    fn bury(&self, age: Duration) {
        let mut graveyard = self.graveyard.lock().expect("graveyard lock");
        graveyard.retain(|(since, path)| {
            if since.elapsed() < age {
                return true;
            }
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot delete a replaced file");
            }
            false
        });
    }

    /// Flushes when memory is full or old, and runs maintenance, until `stop`
    /// resolves; then flushes what is left.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_maintenance = Instant::now();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = self.flush_wanted.notified() => self.flush_logged().await,
                _ = tick.tick() => {
                    let due = self
                        .state
                        .lock()
                        .expect("store state lock")
                        .active_since
                        .is_some_and(|t| t.elapsed() >= self.options.flush_interval);
                    if due {
                        self.flush_logged().await;
                    }
                    if last_maintenance.elapsed() >= self.options.maintenance_interval {
                        last_maintenance = Instant::now();
                        if let Err(e) = self.maintain(unix_now_ns()).await {
                            tracing::error!(table = %self.spec.name, error = %e, "store maintenance failed");
                        }
                    }
                }
            }
        }
        self.flush_logged().await;
    }

    async fn flush_logged(&self) {
        match self.flush().await {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(table = %self.spec.name, rows, "flushed to Parquet"),
            Err(e) => {
                tracing::error!(table = %self.spec.name, error = %e, "flush failed; rows stay in memory and in the log")
            }
        }
    }

    /// The earliest and latest row time in the table (Unix ns), if any.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        let state = self.state.lock().expect("store state lock");
        let files = state.files.iter().map(|f| (f.min_time, f.max_time));
        let memory = state
            .frozen
            .iter()
            .flat_map(|f| f.batches.iter())
            .chain(state.active.iter())
            .filter_map(|b| parquet_io::time_bounds(b, self.time_index));
        files
            .chain(memory)
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)))
    }

    /// The width of a time partition, ns.
    pub fn partition_ns(&self) -> i64 {
        self.options.partition.as_nanos() as i64
    }

    /// Current sizes.
    pub fn stats(&self) -> StoreStats {
        let state = self.state.lock().expect("store state lock");
        let memory = state
            .frozen
            .iter()
            .flat_map(|f| f.batches.iter())
            .chain(state.active.iter());
        let (mut memory_rows, mut memory_bytes) = (0, 0);
        for b in memory {
            memory_rows += b.num_rows();
            memory_bytes += b.get_array_memory_size();
        }
        StoreStats {
            files: state.files.len(),
            file_rows: state.files.iter().map(|f| f.rows).sum(),
            file_bytes: state.files.iter().map(|f| f.bytes).sum(),
            memory_rows,
            memory_bytes,
        }
    }
}

/// Now as Unix nanoseconds.
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Deletes Parquet files the manifest does not list (a flush or compaction
/// that crashed before its manifest was stored).
fn remove_orphans(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let listed: std::collections::HashSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    let Ok(partitions) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for partition in partitions.flatten() {
        let name = partition.file_name().to_string_lossy().into_owned();
        if !name.starts_with('p') || !partition.path().is_dir() {
            continue;
        }
        let files = std::fs::read_dir(partition.path()).map_err(StoreError::io(format!(
            "listing {}",
            partition.path().display()
        )))?;
        for file in files.flatten() {
            let relative = format!("{name}/{}", file.file_name().to_string_lossy());
            if !listed.contains(relative.as_str()) {
                tracing::info!(file = %relative, "removing a file no manifest lists");
                std::fs::remove_file(file.path())
                    .map_err(StoreError::io(format!("removing {relative}")))?;
            }
        }
    }
    Ok(())
}
