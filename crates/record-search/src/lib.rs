//! What the events and audit searches share, in KubeSphere's terms:
//!
//! - [`params`]: query parameters checked against the names a search knows,
//!   and the common ones (`operation`, unix-second `start_time`/`end_time`,
//!   `interval`, `sort`, `from`/`size`, `cursor`) parsed once;
//! - [`scope`]: a caller's scope, the namespace and workspace filters it asked
//!   for, and workspace membership turned into one namespace set;
//! - [`cursor`]: an opaque position for paging past any depth;
//! - [`response`]: the `query`, `statistics` and `histogram` answers;
//! - [`service`]: the backend interface and how a search is answered.

pub mod cursor;
pub mod params;
pub mod response;
pub mod scope;
pub mod service;

pub use cursor::Cursor;
pub use params::{Operation, Params, Search, SortOrder};
pub use response::{Bucket, Histogram, Page, Statistics};
pub use scope::{NamespaceRequest, Namespaces};
pub use service::{answer, Answer, Chunk, Export, Ingested, RecordBackend};
