//! Each cluster's log backend, chosen by configuration: the embedded store
//! (default) or Elasticsearch/OpenSearch. Handlers see one interface.

mod loki;
mod service;

pub(crate) use loki::Tail;
pub(crate) use service::{LogAnswer, LogExport};

use periscope_backend_elasticsearch::ElasticsearchLogs;
use periscope_config::{Config, LogsConfig};
use periscope_log_store::LogStore;
use periscope_logs::{
    Histogram, LogFilter, LogLine, LogRecord, LogRequest, QueryPage, SortOrder, Statistics,
    StreamVolume,
};
use periscope_model::{Error, ErrorKind, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Where one cluster's logs are.
#[derive(Clone)]
pub(crate) enum LogBackend {
    Embedded(Arc<LogStore>),
    Elasticsearch(Arc<ElasticsearchLogs>),
}

impl LogBackend {
    /// A page of lines and the total.
    pub async fn query(&self, request: &LogRequest) -> Result<QueryPage> {
        match self {
            LogBackend::Embedded(store) => store.query(request).await,
            LogBackend::Elasticsearch(es) => es.query(request).await,
        }
    }

    /// Line and container counts.
    pub async fn statistics(&self, filter: &LogFilter) -> Result<Statistics> {
        match self {
            LogBackend::Embedded(store) => store.statistics(filter).await,
            LogBackend::Elasticsearch(es) => es.statistics(filter).await,
        }
    }

    /// Line counts per bucket.
    pub async fn histogram(&self, filter: &LogFilter, interval: i64) -> Result<Histogram> {
        match self {
            LogBackend::Embedded(store) => store.histogram(filter, interval).await,
            LogBackend::Elasticsearch(es) => es.histogram(filter, interval).await,
        }
    }

    /// Streams every matching line into `out`.
    pub async fn export(
        &self,
        filter: &LogFilter,
        order: SortOrder,
        out: mpsc::Sender<Vec<LogLine>>,
    ) -> Result<()> {
        match self {
            LogBackend::Embedded(store) => store.export(filter, order, out).await,
            LogBackend::Elasticsearch(es) => es.export(filter, order, out).await,
        }
    }

    /// Streams every matching line into `out` in any order (Elasticsearch's
    /// come in time order: its pages need a sort).
    pub async fn scan(&self, filter: &LogFilter, out: mpsc::Sender<Vec<LogLine>>) -> Result<()> {
        match self {
            LogBackend::Embedded(store) => store.scan_lines(filter, out).await,
            LogBackend::Elasticsearch(es) => es.export(filter, SortOrder::Asc, out).await,
        }
    }

    /// Lines (and bytes, where known) per stream and time bucket.
    pub async fn volume(
        &self,
        filter: &LogFilter,
        bucket: Option<i64>,
        bytes: bool,
    ) -> Result<Vec<StreamVolume>> {
        match self {
            LogBackend::Embedded(store) => store.volume(filter, bucket, bytes).await,
            LogBackend::Elasticsearch(es) => es.volume(filter, bucket).await,
        }
    }

    /// Whether a keyword filter matches substrings of lines (case-insensitively),
    /// so that LogQL's `|=` may be pre-filtered by it. Elasticsearch matches
    /// analysed words, which may miss a substring: its lines are filtered here.
    pub fn matches_substrings(&self) -> bool {
        matches!(self, LogBackend::Embedded(_))
    }

    /// Stores shipped lines; returns once they are durable.
    pub async fn ingest(&self, records: &[LogRecord]) -> Result<()> {
        match self {
            LogBackend::Embedded(store) => store.ingest(records).await.map_err(Error::from),
            // Shippers write to Elasticsearch directly; Periscope only reads it.
            LogBackend::Elasticsearch(_) => Err(Error::new(
                ErrorKind::MethodNotAllowed,
                "this cluster's logs are in Elasticsearch; ship them there",
            )),
        }
    }
}

/// Runs the embedded stores' flush and maintenance until `stop` resolves;
/// each store flushes what it holds before its task ends.
pub(crate) fn run_stores(
    backends: &BTreeMap<String, LogBackend>,
    stop: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    backends
        .values()
        .filter_map(|b| match b {
            LogBackend::Embedded(store) => {
                Some(tokio::spawn(Arc::clone(store.store()).run(stop())))
            }
            LogBackend::Elasticsearch(_) => None,
        })
        .collect()
}

/// The log backend of every cluster that has one.
pub(crate) fn open_backends(config: &Config) -> Result<BTreeMap<String, LogBackend>> {
    let mut backends = BTreeMap::new();
    for cluster in &config.clusters {
        let backend = match config.logs_backend(cluster) {
            None => continue,
            Some(LogsConfig::Embedded(e)) => {
                let options = crate::embedded::store_options(&e);
                let store = LogStore::open(options.clone()).map_err(|err| {
                    crate::embedded::open_failed("log", &cluster.name, &options.dir, &err)
                })?;
                LogBackend::Embedded(Arc::new(store))
            }
            Some(LogsConfig::Elasticsearch(es)) => {
                LogBackend::Elasticsearch(Arc::new(ElasticsearchLogs::new(&es)?))
            }
        };
        backends.insert(cluster.name.clone(), backend);
    }
    Ok(backends)
}
