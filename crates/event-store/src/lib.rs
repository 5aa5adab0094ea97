//! The embedded event backend: [`EventRecord`]s in a keyed table of the
//! embedded store (key: cluster and uid), sorted by namespace, reason and
//! time, one row per report that advanced an event object (re-deliveries
//! dropped), answered with the newest row per object.

mod filter;
mod table;

pub use table::{event_schema, event_table};

use periscope_events::{EventFilter, EventRecord};
use periscope_record_store::{Keyed, Signal, SignalStore};
use periscope_store::datafusion::arrow::record_batch::RecordBatch;
use periscope_store::datafusion::logical_expr::Expr;
use periscope_store::TableSpec;
use std::collections::HashMap;

/// Kubernetes events, as the embedded store keeps them.
pub struct Events;

/// Events in an embedded store.
pub type EventStore = SignalStore<Events>;

impl Signal for Events {
    type Record = EventRecord;
    type Filter = EventFilter;
    const TIEBREAK: Option<&'static str> = Some("count");
    const RESOURCES: &'static str = "object";
    const RECENT_KEYS: usize = 100_000;

    fn table() -> TableSpec {
        event_table()
    }

    /// Reports of one event object in the same request fold into one.
    fn keyed(records: Vec<EventRecord>) -> Vec<Keyed<EventRecord>> {
        let mut merged: HashMap<String, EventRecord> = HashMap::with_capacity(records.len());
        for r in records {
            match merged.entry(table::key(&r)) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(r),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(r);
                }
            }
        }
        merged
            .into_iter()
            .map(|(key, record)| Keyed {
                key,
                time: record.last_seen,
                rank: record.count,
                record,
            })
            .collect()
    }

    fn to_batch(records: &[Keyed<EventRecord>]) -> RecordBatch {
        table::to_batch(records)
    }

    fn predicate(filter: &EventFilter) -> Option<Expr> {
        filter::predicate(filter)
    }
}

#[cfg(test)]
mod tests;
