//! Each cluster's trace backend, chosen by configuration (the embedded span
//! store, or a Jaeger query service), behind the trace service that applies
//! tenancy, with the span-metrics generator watching what is ingested.

use periscope_backend_jaeger::JaegerTraces;
use periscope_config::{Config, TracesConfig};
use periscope_model::{Error, Result};
use periscope_span_metrics::{SpanMetrics, SpanMetricsOptions};
use periscope_store::Store;
use periscope_tenancy::PeerKey;
use periscope_trace_store::TraceStore;
use periscope_traces::otlp::PlaceAttributes;
use periscope_traces::{TraceBackend, TraceService};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The trace service of every cluster that has one, and the embedded stores
/// to run in the background.
#[derive(Default)]
pub(crate) struct TraceBackends {
    pub services: BTreeMap<String, TraceService>,
    pub stores: Vec<Arc<Store>>,
    /// Each generator and the remote-write URL of its cluster's Prometheus.
    pub span_metrics: Vec<(SpanMetrics, String)>,
}

/// Opens every cluster's trace backend, with a span-metrics generator on
/// each unless `span_metrics.enabled` is off.
pub(crate) fn open_backends(config: &Config, peer_key: &PeerKey) -> Result<TraceBackends> {
    let mut backends = TraceBackends::default();
    for cluster in &config.clusters {
        let Some(backend) = open_backend(config, cluster, &mut backends.stores)? else {
            continue;
        };
        let mut service = TraceService::new(backend);
        if config.span_metrics.enabled {
            let generator = SpanMetrics::new(span_metrics_options(config), peer_key.clone());
            service = service.with_observer(Arc::new(generator.clone()));
            backends
                .span_metrics
                .push((generator, cluster.prometheus.remote_write()));
        }
        backends.services.insert(cluster.name.clone(), service);
    }
    Ok(backends)
}

fn span_metrics_options(config: &Config) -> SpanMetricsOptions {
    let c = &config.span_metrics;
    SpanMetricsOptions {
        scope_label: config.promql.scope_label.clone(),
        wait: c.wait,
        max_pending: c.max_pending,
        max_series: c.max_series,
        stale_after: c.stale_after,
        interval: c.interval,
    }
}

/// The key behind opaque-peer tokens: configured, else kept in
/// `<storage.data_dir>/peer-key` (made on first start), else per process.
pub(crate) fn peer_key(config: &Config) -> Result<PeerKey> {
    if let Some(secret) = &config.span_metrics.peer_key {
        return Ok(PeerKey::from_secret(secret));
    }
    let Some(storage) = &config.storage else {
        return Ok(PeerKey::random());
    };
    let path = storage.data_dir.join("peer-key");
    let cannot = |e: std::io::Error| {
        Error::internal(format!("span_metrics: peer key {}: {e}", path.display()))
    };
    match std::fs::read_to_string(&path) {
        Ok(secret) => Ok(PeerKey::from_secret(secret.trim())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&storage.data_dir).map_err(cannot)?;
            let secret = PeerKey::random_secret();
            let tmp = path.with_extension("tmp");
            write_private(&tmp, &secret).map_err(cannot)?;
            std::fs::rename(&tmp, &path).map_err(cannot)?;
            Ok(PeerKey::from_secret(&secret))
        }
        Err(e) => Err(cannot(e)),
    }
}

/// Writes `text` to a file only its owner may read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// One cluster's trace backend (`None` without one); embedded stores are
/// added to `stores` to run in the background.
fn open_backend(
    config: &Config,
    cluster: &periscope_config::ClusterConfig,
    stores: &mut Vec<Arc<Store>>,
) -> Result<Option<Arc<dyn TraceBackend>>> {
    let e = match config.traces_backend(cluster) {
        None => return Ok(None),
        Some(TracesConfig::Jaeger(j)) => {
            let places = PlaceAttributes {
                namespace: config.ingest.trace_namespace_attributes.clone(),
                ..Default::default()
            };
            return Ok(Some(Arc::new(JaegerTraces::new(&j, places)?)));
        }
        Some(TracesConfig::Embedded(e)) => e,
    };
    let options = crate::embedded::store_options(&e);
    let store = TraceStore::open(options.clone())
        .map_err(|err| crate::embedded::open_failed("span", &cluster.name, &options.dir, &err))?;
    let store = Arc::new(store);
    stores.push(Arc::clone(store.store()));
    Ok(Some(store))
}
