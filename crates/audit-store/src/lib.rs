//! The embedded audit backend: [`AuditRecord`]s in a keyed table of the
//! embedded store (key: audit id and stage), sorted by namespace and time,
//! re-deliveries dropped on ingest and any left counted once in answers.

mod filter;
mod table;

pub use table::{audit_schema, audit_table};

use futures::future::BoxFuture;
use futures::FutureExt;
use periscope_audit::{AuditFilter, AuditRecord};
use periscope_model::{Error, Result};
use periscope_record_search::{
    Chunk, Histogram, Ingested, Page, RecordBackend, Search, Statistics,
};
use periscope_record_store::{KeyedTable, Recent};
use periscope_store::{Store, StoreOptions};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Request stages remembered to drop re-deliveries (a few minutes of a busy
/// apiserver's records).
const RECENT_KEYS: usize = 1_000_000;

/// Audit records in an embedded store.
pub struct AuditStore {
    table: KeyedTable,
    recent: Recent,
}

impl AuditStore {
    /// Opens the audit table in `options.dir`, replaying its write-ahead log.
    pub fn open(options: StoreOptions) -> Result<AuditStore> {
        Ok(AuditStore {
            table: KeyedTable::open(audit_table(), options, None, "audit_id")?,
            recent: Recent::new(RECENT_KEYS),
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        self.table.store()
    }

    /// Stores the records not stored before; returns once they are durable.
    pub async fn ingest(&self, records: Vec<AuditRecord>) -> Result<Ingested> {
        let received = records.len();
        let mut in_batch = HashSet::with_capacity(received);
        let fresh: Vec<(String, AuditRecord)> = records
            .into_iter()
            .map(|r| (r.key(), r))
            .filter(|(key, r)| {
                in_batch.insert(key.clone()) && self.recent.admit(key, r.received, 0)
            })
            .collect();
        let stored = fresh.len();
        if stored > 0 {
            if let Err(e) = self.table.append(table::to_batch(&fresh)).await {
                self.recent.forget(fresh.iter().map(|(k, _)| k.as_str()));
                return Err(Error::from(e));
            }
        }
        Ok(Ingested {
            stored,
            duplicates: received - stored,
        })
    }
}

impl RecordBackend for AuditStore {
    type Record = AuditRecord;
    type Filter = AuditFilter;

    fn ingest(&self, records: Vec<AuditRecord>) -> BoxFuture<'_, Result<Ingested>> {
        AuditStore::ingest(self, records).boxed()
    }

    fn query<'a>(
        &'a self,
        filter: &'a AuditFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Page>> {
        self.table.query(filter::predicate(filter), search).boxed()
    }

    fn statistics<'a>(
        &'a self,
        filter: &'a AuditFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Statistics>> {
        self.table
            .statistics(filter::predicate(filter), search)
            .boxed()
    }

    fn histogram<'a>(
        &'a self,
        filter: &'a AuditFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Histogram>> {
        self.table
            .histogram(filter::predicate(filter), search)
            .boxed()
    }

    fn export<'a>(
        &'a self,
        filter: &'a AuditFilter,
        search: &'a Search,
        out: mpsc::Sender<Chunk>,
    ) -> BoxFuture<'a, Result<()>> {
        self.table
            .export(filter::predicate(filter), search, out)
            .boxed()
    }
}

#[cfg(test)]
mod tests;
