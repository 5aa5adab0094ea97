//! Periscope's trace model, the same for the embedded span store and Jaeger:
//!
//! - [`id`]: trace and span ids, in Jaeger's hex forms;
//! - [`span`]: a span with its Kubernetes place, tags, events and links;
//! - [`otlp`]: OTLP trace requests (protobuf, OTLP/JSON) turned into spans,
//!   and [`otlp_out`] spans back into OTLP (Jaeger's api_v3 answers);
//! - [`query`]: the parameters of Jaeger's query API, in Jaeger's units;
//! - [`service`]: the backend interface and the trace operations with the
//!   tenancy rules applied once for every backend;
//! - [`jaeger`]: answers in Jaeger's UI model;
//! - [`traceql`]: the TraceQL subset Grafana's Tempo datasource sends, and
//!   [`tempo`] the shapes of Tempo's HTTP API.

pub mod id;
pub mod jaeger;
pub mod otlp;
pub mod otlp_out;
pub mod query;
pub mod service;
pub mod span;
pub mod tempo;
pub mod traceql;

pub use id::{SpanId, TraceId};
pub use query::{SpanQuery, TraceRequest};
pub use service::{
    Edge, FoundTrace, Namespaces, Operation, Placement, RawEdge, ScopedTrace, SpanObserver,
    TraceBackend, TraceService,
};
pub use span::{Event, Link, Place, Span, Tag, TagValue};
