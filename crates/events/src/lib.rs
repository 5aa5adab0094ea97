//! Kubernetes events as Periscope keeps them: one [`EventRecord`] per event
//! object (cluster, uid), whatever exporter sent it ([`parse`]), its repeats
//! merged into one record with a count and first and last seen times
//! ([`EventRecord::merge`]).

mod parse;
mod record;

pub use parse::{parse_body, LineError, Parsed};
pub use record::{EventKey, EventRecord, ObjectRef};

#[cfg(test)]
mod tests;
