//! Kubernetes audit records as Periscope keeps them:
//!
//! - [`parse`]: the kube-apiserver audit webhook's `EventList` (camelCase
//!   `audit.k8s.io/v1`) and KubeSphere's `{"Items": [...]}` (PascalCase), one
//!   [`AuditRecord`] per event and stage, stored in KubeSphere's PascalCase
//!   document form, request and response bodies of redacted resources
//!   (`secrets` by default) removed before storage;
//! - [`request`]: the auditing search's parameters (KubeSphere's names) with
//!   the caller's scope applied, and what of the bodies a tenant sees;
//! - [`own`]: Periscope's own write operations as audit records.

pub mod own;
pub mod parse;
mod record;
pub mod request;

pub use parse::{parse_body, ItemError, Parsed, Redaction};
pub use record::AuditRecord;
pub use request::{AuditFilter, AuditRequest, BodyVisibility};

/// Where a cluster's audit records are kept.
pub type AuditBackend =
    dyn periscope_record_search::RecordBackend<Record = AuditRecord, Filter = AuditFilter>;

#[cfg(test)]
mod tests;
