//! The embedded store of keyed records, shared by the events and audit
//! stores: a [`periscope_store::Store`] table whose rows carry `time`,
//! `key` and `raw` (plus the signal's filter columns), answered with one
//! record per key ([`KeyedTable`]), and a bounded memory of recently stored
//! keys that drops re-deliveries before they are written ([`Recent`]).

pub mod filters;
mod keyed;
mod recent;
mod table;

pub use recent::Recent;
pub use table::KeyedTable;

#[cfg(test)]
mod tests;
