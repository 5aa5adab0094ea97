//! The embedded span store: the span table on Periscope's embedded store
//! ([`table`]) and the trace operations answered with DataFusion ([`TraceStore`]).

mod store;
pub mod table;

pub use store::TraceStore;

#[cfg(test)]
mod tests;
