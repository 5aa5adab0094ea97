//! What every request handler shares.

use crate::limiter::ConcurrencyLimiter;
use crate::telemetry::Telemetry;
use periscope_backend_prometheus::PrometheusClient;
use periscope_config::Config;
use periscope_model::{Error, ErrorKind, Result, Scope};
use periscope_monitoring::Catalog;
use periscope_tenancy::{Authenticator, Enforcer, IngestAuthenticator, Principal, ScopeResolver};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One configured cluster and its backends.
pub(crate) struct Cluster {
    pub name: String,
    pub prometheus: PrometheusClient,
    /// The names its span metrics have in its Prometheus.
    pub span_metric_names: periscope_monitoring::SpanMetricNames,
}

/// An authenticated caller and its scope at the time of the request.
#[derive(Clone)]
pub(crate) struct Caller {
    pub principal: Arc<Principal>,
    pub scope: Scope,
}

/// Shared, immutable-after-start state of the API.
pub struct AppState {
    pub(crate) clusters: BTreeMap<String, Cluster>,
    pub(crate) default_cluster: String,
    pub(crate) auth: Authenticator,
    pub(crate) scopes: ScopeResolver,
    pub(crate) enforcer: Enforcer,
    pub(crate) limiter: ConcurrencyLimiter,
    pub(crate) telemetry: Telemetry,
    pub(crate) catalog: Catalog,
    /// The alerting service, when this process runs it (set once at start).
    pub(crate) alerting: std::sync::OnceLock<crate::alerting::AlertingService>,
    /// Each cluster's log backend (clusters without one are absent).
    pub(crate) logs: BTreeMap<String, crate::logs::LogBackend>,
    /// Each cluster's trace service.
    pub(crate) traces: crate::traces::TraceBackends,
    /// Each cluster's events and audit backends (of the services this
    /// process runs).
    pub(crate) records: crate::records::RecordBackends,
    /// Where OTLP resource attributes put a span.
    pub(crate) place_attributes: periscope_traces::otlp::PlaceAttributes,
    /// Log shippers' tokens.
    pub(crate) ingest_auth: IngestAuthenticator,
    /// Ingest requests in flight (bounded, so memory is).
    pub(crate) ingest_slots: Arc<tokio::sync::Semaphore>,
    /// Evaluated drill-down queries shared between viewers.
    pub(crate) shared_results:
        periscope_monitoring::SharedResults<Vec<periscope_monitoring::Series>>,
    /// Each cluster's namespaces, which shipped lines may claim.
    pub(crate) namespaces: periscope_tenancy::NamespaceInventory,
    pub(crate) config: Config,
}

/// A cluster's span-metric names: its preset, with the names it overrides.
fn span_metric_names(
    config: Option<&periscope_config::SpanMetricNamesConfig>,
) -> periscope_monitoring::SpanMetricNames {
    use periscope_config::{LatencyUnit, SpanMetricsPreset};
    use periscope_monitoring::SpanMetricNames;
    let Some(c) = config else {
        return SpanMetricNames::tempo();
    };
    let mut names = match c.preset {
        SpanMetricsPreset::Tempo => SpanMetricNames::tempo(),
        SpanMetricsPreset::OtelCollector => SpanMetricNames::otel_collector(),
    };
    if let Some(calls) = &c.calls {
        names.calls = calls.clone();
    }
    if let Some(bucket) = &c.latency_bucket {
        names.latency_bucket = bucket.clone();
    }
    for (catalog, own) in [
        ("service", &c.service_label),
        ("span_name", &c.span_name_label),
    ] {
        match own {
            Some(own) if own != catalog => {
                names.labels.insert(catalog.to_string(), own.clone());
            }
            Some(_) => {
                names.labels.remove(catalog);
            }
            None => {}
        }
    }
    match c.latency_unit {
        Some(LatencyUnit::Seconds) => names.latency_seconds = 1.0,
        Some(LatencyUnit::Milliseconds) => names.latency_seconds = 0.001,
        None => {}
    }
    names
}

impl AppState {
    /// Builds the state from validated configuration, with the backends of
    /// the given services.
    pub(crate) fn from_config(config: Config, services: crate::Services) -> Result<Self> {
        let mut clusters = BTreeMap::new();
        for c in &config.clusters {
            let prometheus = PrometheusClient::new(&c.prometheus.url, c.prometheus.timeout)?;
            clusters.insert(
                c.name.clone(),
                Cluster {
                    name: c.name.clone(),
                    prometheus,
                    span_metric_names: span_metric_names(c.span_metrics_names.as_ref()),
                },
            );
        }
        let catalog = match &config.monitoring.catalog {
            None => Catalog::builtin(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::bad_request(format!(
                        "monitoring.catalog: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                Catalog::from_toml(&text).map_err(|e| {
                    Error::bad_request(format!("monitoring.catalog {}: {e}", path.display()))
                })?
            }
        };
        let peer_key = crate::traces::peer_key(&config)?;
        Ok(Self {
            clusters,
            catalog,
            alerting: std::sync::OnceLock::new(),
            logs: crate::logs::open_backends(&config)?,
            traces: crate::traces::open_backends(&config, &peer_key)?,
            records: crate::records::RecordBackends::open(
                &config,
                services.events,
                services.audit,
            )?,
            place_attributes: periscope_traces::otlp::PlaceAttributes {
                namespace: config.ingest.trace_namespace_attributes.clone(),
                ..Default::default()
            },
            ingest_auth: IngestAuthenticator::ingest_from_config(&config),
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(
                config.ingest.max_concurrent_requests,
            )),
            shared_results: periscope_monitoring::SharedResults::new(
                config.monitoring.shared_results_ttl,
                config.monitoring.shared_results_capacity,
            ),
            namespaces: periscope_tenancy::NamespaceInventory::new(
                periscope_tenancy::InventorySettings {
                    refresh_interval: config.ingest.namespace_check.refresh_interval,
                    requery_interval: config.ingest.namespace_check.requery_interval,
                    grace: config.ingest.namespace_check.grace,
                },
            ),
            default_cluster: config.default_cluster().name.clone(),
            auth: Authenticator::from_config(&config),
            scopes: ScopeResolver::from_config(&config),
            enforcer: Enforcer::from_config(&config.promql).with_peer_key(peer_key),
            limiter: ConcurrencyLimiter::default(),
            telemetry: Telemetry::new(),
            config,
        })
    }

    /// Authenticates an `Authorization` value and resolves the caller's scope.
    pub(crate) fn caller(&self, authorization: Option<&str>) -> Result<Caller> {
        let principal = self.auth.authenticate(authorization)?;
        let scope = self.scopes.resolve(&principal);
        Ok(Caller { principal, scope })
    }

    /// The log backend of the named cluster (default for `None`/empty).
    pub(crate) fn log_backend(&self, name: Option<&str>) -> Result<&crate::logs::LogBackend> {
        let cluster = self.cluster(name)?;
        self.logs.get(&cluster.name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "cluster {:?} has no log backend (configure [storage] or clusters.logs)",
                    cluster.name
                ),
            )
        })
    }

    /// The events backend of the named cluster (default for `None`/empty).
    pub(crate) fn event_backend(
        &self,
        name: Option<&str>,
    ) -> Result<&Arc<periscope_events::EventBackend>> {
        let cluster = self.cluster(name)?;
        self.records.events.get(&cluster.name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "cluster {:?} has no events service here (run --target events or all, with [storage] or clusters.events)",
                    cluster.name
                ),
            )
        })
    }

    /// The audit backend of the named cluster (default for `None`/empty).
    pub(crate) fn audit_backend(
        &self,
        name: Option<&str>,
    ) -> Result<&Arc<periscope_audit::AuditBackend>> {
        let cluster = self.cluster(name)?;
        self.records.audit.get(&cluster.name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "cluster {:?} has no audit service here (run --target audit or all, with [storage] or clusters.audit)",
                    cluster.name
                ),
            )
        })
    }

    /// One of the caller's query slots (429 when all are in use) and how long
    /// its query may take.
    pub(crate) fn query_slot(
        &self,
        caller: &Caller,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, std::time::Duration)> {
        let limits = &caller.principal.limits;
        let permit = self
            .limiter
            .try_acquire(&caller.principal.name, limits.max_concurrent_queries)?;
        Ok((permit, limits.query_timeout))
    }

    /// The trace service of the named cluster (default for `None`/empty).
    pub(crate) fn trace_service(
        &self,
        name: Option<&str>,
    ) -> Result<&periscope_traces::TraceService> {
        let cluster = self.cluster(name)?;
        self.traces.services.get(&cluster.name).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "cluster {:?} has no trace backend (configure [storage] or clusters.traces)",
                    cluster.name
                ),
            )
        })
    }

    /// The named cluster, or the default one for `None`/empty.
    pub(crate) fn cluster(&self, name: Option<&str>) -> Result<&Cluster> {
        let name = name
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.default_cluster);
        self.clusters
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("unknown cluster {name:?}")))
    }
}

/// `work`, or a 504 naming `what` once `timeout` has passed.
pub(crate) async fn within<T>(
    timeout: std::time::Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        Error::new(
            ErrorKind::Timeout,
            format!("the {what} took longer than {timeout:?}"),
        )
    })?
}
