//! Tenancy: who is asking ([`auth`]), what they may see ([`scope`]) and the
//! rewriting that keeps every PromQL query ([`promql`]) and every LogQL query
//! ([`logql`]) inside that scope; and which namespaces a shipper's lines may
//! claim ([`ingest`]).
//!
//! The tenant is only ever derived from credentials: nothing a client puts in a
//! header or parameter can widen its scope.

pub mod auth;
pub mod ingest;
pub mod logql;
pub mod promql;
pub mod scope;
pub mod service_graph;

pub use auth::{Authenticator, IngestAuthenticator, Principal, Shipper, TokenTable};
pub use ingest::{InventorySettings, NamespaceInventory, Verdict, Verdicts};
pub use promql::Enforcer;
pub use scope::{Membership, ScopeResolver};
pub use service_graph::PeerKey;
