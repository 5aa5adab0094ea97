//! A signal's embedded backend from what only the signal knows (its table,
//! how its reports fold into keyed rows, its filter): [`SignalStore`].

use crate::{KeyedTable, Recent};
use futures::future::BoxFuture;
use futures::FutureExt;
use periscope_model::{Error, Result};
use periscope_record_search::{
    Chunk, Histogram, Ingested, Page, RecordBackend, Search, Statistics,
};
use periscope_store::datafusion::arrow::record_batch::RecordBatch;
use periscope_store::datafusion::logical_expr::Expr;
use periscope_store::{Store, StoreOptions, TableSpec};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A report ready to be stored under its key.
pub struct Keyed<R> {
    pub key: String,
    /// Unix ns (the table's `time`).
    pub time: i64,
    /// How far the record had got (an occurrence count; 0 when reports do
    /// not grow): a report is stored only if it is later or higher.
    pub rank: u64,
    pub record: R,
}

/// What a signal's records are and how they are stored and filtered.
pub trait Signal: Send + Sync + 'static {
    type Record: Send + 'static;
    type Filter: Send + Sync + 'static;
    /// The table.
    fn table() -> TableSpec;
    /// Of two rows of a key with the same time, the one higher in this
    /// column is the newer.
    const TIEBREAK: Option<&'static str>;
    /// The column whose distinct values are the statistics' `resources`.
    const RESOURCES: &'static str;
    /// Keys remembered to drop re-deliveries.
    const RECENT_KEYS: usize;
    /// The reports of one request, each under its key (reports of one
    /// record folded into one).
    fn keyed(records: Vec<Self::Record>) -> Vec<Keyed<Self::Record>>;
    /// The rows of keyed records.
    fn to_batch(records: &[Keyed<Self::Record>]) -> RecordBatch;
    /// The predicate for everything but the time range (the scan applies that).
    fn predicate(filter: &Self::Filter) -> Option<Expr>;
}

/// The embedded backend of signal `S`.
pub struct SignalStore<S: Signal> {
    table: KeyedTable,
    recent: Recent,
    signal: std::marker::PhantomData<S>,
}

impl<S: Signal> SignalStore<S> {
    /// Opens the table in `options.dir`, replaying its write-ahead log.
    pub fn open(options: StoreOptions) -> Result<Self> {
        Ok(SignalStore {
            table: KeyedTable::open(S::table(), options, S::TIEBREAK, S::RESOURCES)?,
            recent: Recent::new(S::RECENT_KEYS),
            signal: std::marker::PhantomData,
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        self.table.store()
    }

    /// Stores the reports that advance their record; returns once they are
    /// durable.
    pub async fn ingest(&self, records: Vec<S::Record>) -> Result<Ingested> {
        let received = records.len();
        let fresh: Vec<Keyed<S::Record>> = S::keyed(records)
            .into_iter()
            .filter(|k| self.recent.admit(&k.key, k.time, k.rank))
            .collect();
        let stored = fresh.len();
        if stored > 0 {
            if let Err(e) = self.table.append(S::to_batch(&fresh)).await {
                self.recent.forget(fresh.iter().map(|k| k.key.as_str()));
                return Err(Error::from(e));
            }
        }
        Ok(Ingested {
            stored,
            duplicates: received - stored,
        })
    }
}

impl<S: Signal> RecordBackend for SignalStore<S> {
    type Record = S::Record;
    type Filter = S::Filter;

    fn ingest(&self, records: Vec<S::Record>) -> BoxFuture<'_, Result<Ingested>> {
        SignalStore::ingest(self, records).boxed()
    }

    fn query<'a>(
        &'a self,
        filter: &'a S::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Page>> {
        self.table.query(S::predicate(filter), search).boxed()
    }

    fn statistics<'a>(
        &'a self,
        filter: &'a S::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Statistics>> {
        self.table.statistics(S::predicate(filter), search).boxed()
    }

    fn histogram<'a>(
        &'a self,
        filter: &'a S::Filter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Histogram>> {
        self.table.histogram(S::predicate(filter), search).boxed()
    }

    fn export<'a>(
        &'a self,
        filter: &'a S::Filter,
        search: &'a Search,
        out: mpsc::Sender<Chunk>,
    ) -> BoxFuture<'a, Result<()>> {
        self.table.export(S::predicate(filter), search, out).boxed()
    }
}
