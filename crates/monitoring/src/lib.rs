//! Drill-down monitoring: the named-metric catalog (KubeSphere's metric names
//! over a vanilla kube-prometheus stack), its query templates, the request
//! model, and the assembly of a page of resources with their metric values,
//! sorted, paged and linked to their children; the service level's pods and
//! namespace topology; evaluated queries shared between viewers.

mod catalog;
mod level;
mod naming;
mod page;
mod request;
mod services;
mod shared;
mod template;

pub use catalog::{Catalog, CatalogError, MetricDef, BUILTIN_CATALOG};
pub use level::Level;
pub use naming::SpanMetricNames;
pub use page::{
    assemble, format_value, sum_by_workspace, Assembly, Item, MetricInfo, Page, Resource, Series,
    Values, WindowInfo,
};
pub use request::{
    DrillDown, NameFilter, Paging, Selection, SortBy, Window, WorkloadKind, DEFAULT_LIMIT,
    MAX_LIMIT,
};
pub use services::{
    logs_link, topology, topology_of_calls, topology_queries, ServedPod, ServicePage, Topology,
    TopologyEdge, TopologyNode, OPAQUE_NODE,
};
pub use shared::SharedResults;
pub use template::{Filters, Placeholder, Template};
