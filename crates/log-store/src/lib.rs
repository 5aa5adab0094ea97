//! The embedded log backend: log records stored in a [`periscope_store::Store`]
//! table and the log query model ([`periscope_logs::LogRequest`]) answered with
//! DataFusion over it.

mod batch;
mod filter;
mod query;

pub use batch::{log_schema, log_table};
pub use query::LogStore;

#[cfg(test)]
mod tests;
