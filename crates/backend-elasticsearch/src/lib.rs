//! Logs in Elasticsearch (7, 8) or OpenSearch (1, 2), as KubeSphere's Fluent
//! Bit pipeline writes them: daily indices `<prefix>-YYYY.MM.DD` of documents
//! with `log`, `time` and `kubernetes.*` fields.
//!
//! - [`version`]: what `GET /` says, and what that server supports;
//! - [`dsl`]: the log query model as query DSL (pure functions, golden-tested);
//! - [`response`]: reading search responses;
//! - [`client`]: the HTTP client that puts them together.

pub mod client;
pub mod dsl;
pub mod indices;
pub mod response;
pub mod version;

pub use client::ElasticsearchLogs;
