//! The embedded store of keyed records, shared by the events and audit
//! stores: a [`periscope_store::Store`] table whose rows carry `time`,
//! `key` and `raw` (plus the signal's filter columns), answered with one
//! record per key ([`KeyedTable`]), a bounded memory of recently stored
//! keys that drops re-deliveries before they are written ([`Recent`]), and a
//! signal's whole backend from its table, keys and filter ([`SignalStore`]).

pub mod filters;
mod keyed;
mod recent;
mod signal;
mod table;

pub use recent::Recent;
pub use signal::{Keyed, Signal, SignalStore};
pub use table::KeyedTable;

#[cfg(test)]
mod tests;
