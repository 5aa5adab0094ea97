//! Logs, Kubernetes events and audit records in Elasticsearch (7, 8) or
//! OpenSearch (1, 2), as KubeSphere's Fluent Bit pipeline writes them: daily
//! indices `<prefix>-YYYY.MM.DD` of documents with `log`, `time` and
//! `kubernetes.*` fields (logs), core/v1 events, PascalCase audit events.
//!
//! - [`connection`]: one HTTP connection (timeout, authentication, version);
//! - [`version`]: what `GET /` says, and what that server supports;
//! - [`dsl`]: the log query model as query DSL (pure functions, golden-tested);
//! - [`response`]: reading search responses;
//! - [`client`]: the log backend that puts them together;
//! - [`records`]: the events and audit backends.

pub mod client;
pub mod connection;
pub mod dsl;
pub mod indices;
pub mod records;
pub mod response;
pub mod version;

pub use client::ElasticsearchLogs;
pub use connection::ConnectionConfig;
pub use records::{AuditLayout, ElasticsearchRecords, EventLayout};
