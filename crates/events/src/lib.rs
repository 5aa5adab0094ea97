//! Kubernetes events as Periscope keeps them: one [`EventRecord`] per event
//! object (cluster, uid), whatever exporter sent it ([`parse_body`]), its
//! repeats merged into one record with a count and first and last seen times
//! ([`EventRecord::merge`]); searches in KubeSphere's terms
//! ([`EventRequest`]) over any [`EventBackend`].

mod otlp;
mod parse;
mod record;
mod request;

pub use otlp::{from_otlp_logs, OtlpEvents};
pub use parse::{parse_body, LineError, Parsed};
pub use record::{EventKey, EventRecord, ObjectRef};
pub use request::{EventFilter, EventRequest};

/// Where a cluster's events are kept.
pub type EventBackend =
    dyn periscope_record_search::RecordBackend<Record = EventRecord, Filter = EventFilter>;

#[cfg(test)]
mod tests;
