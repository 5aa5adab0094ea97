//! Shared vocabulary of Periscope: what a tenant may see ([`Scope`]) and the one
//! error type every crate returns ([`Error`]), classified by [`ErrorKind`].
//!
//! Mapping an [`ErrorKind`] to an HTTP status or a gRPC code happens in exactly one
//! place, the API crate's `error` module.

mod error;
mod scope;

pub use error::{Error, ErrorKind, Result};
pub use scope::Scope;
