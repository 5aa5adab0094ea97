//! The embedded audit backend: [`AuditRecord`]s in a keyed table of the
//! embedded store (key: audit id and stage), sorted by namespace, verb and
//! time, re-deliveries dropped on ingest and any left counted once in answers.

mod filter;
mod table;

pub use table::{audit_schema, audit_table};

use periscope_audit::{AuditFilter, AuditRecord};
use periscope_record_store::{Keyed, Signal, SignalStore};
use periscope_store::datafusion::arrow::record_batch::RecordBatch;
use periscope_store::datafusion::logical_expr::Expr;
use periscope_store::TableSpec;
use std::collections::HashSet;

/// Kubernetes audit records, as the embedded store keeps them.
pub struct Audit;

/// Audit records in an embedded store.
pub type AuditStore = SignalStore<Audit>;

impl Signal for Audit {
    type Record = AuditRecord;
    type Filter = AuditFilter;
    const TIEBREAK: Option<&'static str> = None;
    const RESOURCES: &'static str = "audit_id";
    /// A few minutes of a busy apiserver's records.
    const RECENT_KEYS: usize = 1_000_000;

    fn table() -> TableSpec {
        audit_table()
    }

    /// A request stage repeated within a batch is stored once.
    fn keyed(records: Vec<AuditRecord>) -> Vec<Keyed<AuditRecord>> {
        let mut seen = HashSet::with_capacity(records.len());
        records
            .into_iter()
            .filter_map(|record| {
                let key = record.key();
                seen.insert(key.clone()).then_some(Keyed {
                    key,
                    time: record.received,
                    rank: 0,
                    record,
                })
            })
            .collect()
    }

    fn to_batch(records: &[Keyed<AuditRecord>]) -> RecordBatch {
        table::to_batch(records)
    }

    fn predicate(filter: &AuditFilter) -> Option<Expr> {
        filter::predicate(filter)
    }
}

#[cfg(test)]
mod tests;
