//! Shared vocabulary of Periscope: what a tenant may see ([`Scope`]), the one
//! error type every crate returns ([`Error`]), classified by [`ErrorKind`], and
//! the panic boundary around third-party parsers ([`guard`]).
//!
//! Mapping an [`ErrorKind`] to an HTTP status or a gRPC code happens in exactly one
//! place, the API crate's `error` module.

mod error;
pub mod guard;
mod scope;

pub use error::{Error, ErrorKind, Result};
pub use scope::Scope;

/// Whether `s` is a Prometheus label or metric-name-safe identifier:
/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
