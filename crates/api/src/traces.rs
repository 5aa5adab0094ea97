//! Each cluster's trace backend, chosen by configuration (the embedded span
//! store, or a Jaeger query service), behind the trace service that applies
//! tenancy.

use periscope_backend_jaeger::JaegerTraces;
use periscope_config::{Config, TracesConfig};
use periscope_model::{Error, Result};
use periscope_store::{Store, StoreOptions};
use periscope_trace_store::TraceStore;
use periscope_traces::otlp::PlaceAttributes;
use periscope_traces::TraceService;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The trace service of every cluster that has one, and the embedded stores
/// to run in the background.
#[derive(Default)]
pub(crate) struct TraceBackends {
    pub services: BTreeMap<String, TraceService>,
    pub stores: Vec<Arc<Store>>,
}

/// Opens every cluster's trace backend.
pub(crate) fn open_backends(config: &Config) -> Result<TraceBackends> {
    let mut backends = TraceBackends::default();
    for cluster in &config.clusters {
        let e = match config.traces_backend(cluster) {
            None => continue,
            Some(TracesConfig::Jaeger(j)) => {
                let places = PlaceAttributes {
                    namespace: config.ingest.trace_namespace_attributes.clone(),
                    ..Default::default()
                };
                let jaeger = JaegerTraces::new(&j, places)?;
                backends
                    .services
                    .insert(cluster.name.clone(), TraceService::new(Arc::new(jaeger)));
                continue;
            }
            Some(TracesConfig::Embedded(e)) => e,
        };
        let dir = e
            .dir
            .clone()
            .expect("traces_backend resolves the directory");
        let mut options = StoreOptions::new(&dir);
        options.retention = Some(e.retention);
        options.flush_interval = e.flush_interval;
        options.max_buffered_bytes = e.max_buffered_bytes;
        options.flush_bytes = (e.max_buffered_bytes / 8).max(1 << 20);
        let store = TraceStore::open(options).map_err(|err| {
            Error::internal(format!(
                "cannot open the span store of cluster {} in {}: {}",
                cluster.name,
                dir.display(),
                err.message()
            ))
        })?;
        let store = Arc::new(store);
        backends.stores.push(Arc::clone(store.store()));
        backends
            .services
            .insert(cluster.name.clone(), TraceService::new(store));
    }
    Ok(backends)
}
