//! The embedded event backend: [`EventRecord`]s in a keyed table of the
//! embedded store, sorted by namespace and time, one row per report that
//! advanced an event object (re-deliveries dropped), answered with the newest
//! row per object.

mod filter;
mod table;

pub use table::{event_schema, event_table};

use futures::future::BoxFuture;
use futures::FutureExt;
use periscope_events::{EventFilter, EventRecord};
use periscope_model::{Error, Result};
use periscope_record_search::{
    Chunk, Histogram, Ingested, Page, RecordBackend, Search, Statistics,
};
use periscope_record_store::{KeyedTable, Recent};
use periscope_store::{Store, StoreOptions};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Event objects remembered to drop re-deliveries.
const RECENT_KEYS: usize = 100_000;

/// Events in an embedded store.
pub struct EventStore {
    table: KeyedTable,
    recent: Recent,
}

impl EventStore {
    /// Opens the event table in `options.dir`, replaying its write-ahead log.
    pub fn open(options: StoreOptions) -> Result<EventStore> {
        Ok(EventStore {
            table: KeyedTable::open(event_table(), options, Some("count"), "object")?,
            recent: Recent::new(RECENT_KEYS),
        })
    }

    /// The underlying table (to run its background task, or for statistics).
    pub fn store(&self) -> &Arc<Store> {
        self.table.store()
    }

    /// Stores the reports that advance their event object; returns once
    /// they are durable.
    pub async fn ingest(&self, records: Vec<EventRecord>) -> Result<Ingested> {
        let received = records.len();
        // Reports of one object in the same body fold into one.
        let mut merged: HashMap<String, EventRecord> = HashMap::with_capacity(received);
        for r in records {
            match merged.entry(table::key(&r)) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(r),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(r);
                }
            }
        }
        let fresh: Vec<(String, EventRecord)> = merged
            .into_iter()
            .filter(|(key, r)| self.recent.admit(key, r.last_seen, r.count))
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

impl RecordBackend for EventStore {
    type Record = EventRecord;
    type Filter = EventFilter;

    fn ingest(&self, records: Vec<EventRecord>) -> BoxFuture<'_, Result<Ingested>> {
        EventStore::ingest(self, records).boxed()
    }

    fn query<'a>(
        &'a self,
        filter: &'a EventFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Page>> {
        self.table.query(filter::predicate(filter), search).boxed()
    }

    fn statistics<'a>(
        &'a self,
        filter: &'a EventFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Statistics>> {
        self.table
            .statistics(filter::predicate(filter), search)
            .boxed()
    }

    fn histogram<'a>(
        &'a self,
        filter: &'a EventFilter,
        search: &'a Search,
    ) -> BoxFuture<'a, Result<Histogram>> {
        self.table
            .histogram(filter::predicate(filter), search)
            .boxed()
    }

    fn export<'a>(
        &'a self,
        filter: &'a EventFilter,
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
