//! The configuration's shape. Every struct rejects unknown keys so a typo is an
//! error, not a silently ignored setting.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    #[serde(default)]
    pub workspaces: Vec<WorkspaceConfig>,
    #[serde(default)]
    pub principals: Vec<PrincipalConfig>,
    /// Derive workspace membership from `kube_namespace_labels` in Prometheus.
    #[serde(default)]
    pub workspace_discovery: Option<WorkspaceDiscoveryConfig>,
    /// Default per-principal limits.
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub promql: PromqlConfig,
    #[serde(default)]
    pub monitoring: MonitoringConfig,
    /// The alerting service; absent means no rule evaluation.
    #[serde(default)]
    pub alerting: Option<AlertingConfig>,
    /// Where embedded stores keep their data; absent means no embedded store.
    #[serde(default)]
    pub storage: Option<StorageConfig>,
    /// Log shippers' access to the ingest endpoints.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Metrics generated from the spans Periscope ingests.
    #[serde(default)]
    pub span_metrics: SpanMetricsConfig,
    /// What the audit service stores and shows.
    #[serde(default)]
    pub audit: AuditConfig,
}

/// What the audit service stores of request and response bodies, and shows.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Resources whose request and response bodies are removed before
    /// storage (`secrets` always is).
    #[serde(default = "default_redact_resources")]
    pub redact_resources: Vec<String>,
    /// What of the stored bodies a tenant sees: `none`, `request` or
    /// `request_response`. Cluster admins see all that is stored.
    #[serde(default)]
    pub tenant_bodies: AuditBodies,
    /// Record Periscope's own write operations (rule groups, receivers,
    /// silences, reloads) as audit records.
    #[serde(default = "default_true")]
    pub record_own_writes: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            redact_resources: default_redact_resources(),
            tenant_bodies: AuditBodies::default(),
            record_own_writes: true,
        }
    }
}

fn default_redact_resources() -> Vec<String> {
    vec!["secrets".into()]
}

/// Which stored audit bodies a tenant sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditBodies {
    /// Neither body: metadata only.
    #[default]
    None,
    /// The request body.
    Request,
    /// Request and response bodies.
    RequestResponse,
}

/// Span metrics and service-graph edges generated from ingested spans
/// (Tempo's names), written to each cluster's Prometheus by remote write.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricsConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often the series are written.
    #[serde(default = "default_span_metrics_interval", with = "crate::duration")]
    pub interval: Duration,
    /// How long a client or server span waits for its counterpart.
    #[serde(default = "default_span_metrics_wait", with = "crate::duration")]
    pub wait: Duration,
    /// Most spans waiting for their counterpart; more are dropped.
    #[serde(default = "default_span_metrics_max_pending")]
    pub max_pending: usize,
    /// Most live series per cluster; spans of new label sets beyond are not counted.
    #[serde(default = "default_span_metrics_max_series")]
    pub max_series: usize,
    /// Series not updated for this long are no longer written.
    #[serde(default = "default_span_metrics_stale_after", with = "crate::duration")]
    pub stale_after: Duration,
    /// Secret behind the opaque-peer tokens of cross-namespace edges. Set it
    /// when several Periscope processes share a Prometheus; without it a key
    /// is kept in `<storage.data_dir>/peer-key` (or made per process).
    #[serde(default)]
    pub peer_key: Option<String>,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: default_span_metrics_interval(),
            wait: default_span_metrics_wait(),
            max_pending: default_span_metrics_max_pending(),
            max_series: default_span_metrics_max_series(),
            stale_after: default_span_metrics_stale_after(),
            peer_key: None,
        }
    }
}

fn default_span_metrics_interval() -> Duration {
    Duration::from_secs(15)
}
fn default_span_metrics_wait() -> Duration {
    Duration::from_secs(10)
}
fn default_span_metrics_max_pending() -> usize {
    10_000
}
fn default_span_metrics_max_series() -> usize {
    50_000
}
fn default_span_metrics_stale_after() -> Duration {
    Duration::from_secs(15 * 60)
}

/// The embedded stores' home.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Each cluster's logs go to `<data_dir>/logs/<cluster>` unless configured otherwise.
    pub data_dir: std::path::PathBuf,
}

/// Ingest endpoints (`/_bulk`, `/api/v1/logs/ingest`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted ingest body, in bytes, after decompression.
    #[serde(default = "default_ingest_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Ingest requests handled at once; more are refused (429) so memory
    /// stays bounded (at most this many bodies are held).
    #[serde(default = "default_ingest_max_concurrent")]
    pub max_concurrent_requests: usize,
    /// Longest accepted line of an NDJSON event body, in bytes; a longer
    /// line is refused (with its number), never cut.
    #[serde(default = "default_ingest_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub tokens: Vec<IngestTokenConfig>,
    /// OTLP resource attributes that give a span its namespace, the first
    /// present winning (e.g. add `service.namespace` as a fallback).
    #[serde(default = "default_trace_namespace_attributes")]
    pub trace_namespace_attributes: Vec<String>,
    /// How a shipped line's namespace is checked against its token's cluster.
    #[serde(default)]
    pub namespace_check: NamespaceCheckConfig,
}

/// A shipped log line may only claim a namespace of its ingest token's
/// cluster, as kube-state-metrics lists them in that cluster's Prometheus.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceCheckConfig {
    /// Off accepts any namespace (for clusters without kube-state-metrics).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The metric with one series per namespace.
    #[serde(default = "default_discovery_metric")]
    pub metric: String,
    /// A namespace with a sample in this window counts (lines of a namespace
    /// deleted a moment ago still arrive).
    #[serde(default = "default_namespace_lookback", with = "crate::duration")]
    pub lookback: Duration,
    /// How long a loaded list of namespaces is used.
    #[serde(default = "default_namespace_refresh", with = "crate::duration")]
    pub refresh_interval: Duration,
    /// Shortest time between two loads asked for by unknown namespaces.
    #[serde(default = "default_namespace_requery", with = "crate::duration")]
    pub requery_interval: Duration,
    /// How long an unknown namespace's lines are answered 503 (retry)
    /// before they are refused with 400: time for a new namespace to reach
    /// kube-state-metrics and Prometheus.
    #[serde(default = "default_namespace_grace", with = "crate::duration")]
    pub grace: Duration,
}

impl Default for NamespaceCheckConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            metric: default_discovery_metric(),
            lookback: default_namespace_lookback(),
            refresh_interval: default_namespace_refresh(),
            requery_interval: default_namespace_requery(),
            grace: default_namespace_grace(),
        }
    }
}

fn default_namespace_lookback() -> Duration {
    Duration::from_secs(3600)
}
fn default_namespace_refresh() -> Duration {
    Duration::from_secs(60)
}
fn default_namespace_requery() -> Duration {
    Duration::from_secs(10)
}
fn default_namespace_grace() -> Duration {
    Duration::from_secs(300)
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: default_ingest_max_body_bytes(),
            max_concurrent_requests: default_ingest_max_concurrent(),
            max_line_bytes: default_ingest_max_line_bytes(),
            tokens: Vec::new(),
            trace_namespace_attributes: default_trace_namespace_attributes(),
            namespace_check: NamespaceCheckConfig::default(),
        }
    }
}

fn default_trace_namespace_attributes() -> Vec<String> {
    vec!["k8s.namespace.name".into()]
}

fn default_ingest_max_body_bytes() -> usize {
    32 << 20
}
fn default_ingest_max_line_bytes() -> usize {
    256 << 10
}
fn default_ingest_max_concurrent() -> usize {
    16
}

/// A shipper's credential: its lines go to one cluster's log backend.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestTokenConfig {
    pub name: String,
    /// Lower-case hex SHA-256 of the token (sent as Bearer, or as the Basic password).
    pub token_sha256: String,
    /// The cluster the lines come from (default: the default cluster).
    #[serde(default)]
    pub cluster: Option<String>,
}

/// Where a cluster's logs are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum LogsConfig {
    /// Periscope's own store (write-ahead log, Parquet, DataFusion).
    Embedded(EmbeddedLogsConfig),
    /// An Elasticsearch or OpenSearch cluster, read with the query DSL.
    Elasticsearch(Box<ElasticsearchConfig>),
}

/// An embedded store (of log lines, or of spans).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedLogsConfig {
    /// Default: `<storage.data_dir>/<logs|traces>/<cluster>`.
    #[serde(default)]
    pub dir: Option<std::path::PathBuf>,
    /// Partitions older than this are deleted.
    #[serde(default = "default_log_retention", with = "crate::duration")]
    pub retention: Duration,
    /// Lines wait in memory at most this long before going to Parquet.
    #[serde(default = "default_log_flush_interval", with = "crate::duration")]
    pub flush_interval: Duration,
    /// Ingest is refused (429) while this many bytes wait in memory.
    #[serde(default = "default_log_max_buffered_bytes")]
    pub max_buffered_bytes: usize,
}

impl Default for EmbeddedLogsConfig {
    fn default() -> Self {
        Self {
            dir: None,
            retention: default_log_retention(),
            flush_interval: default_log_flush_interval(),
            max_buffered_bytes: default_log_max_buffered_bytes(),
        }
    }
}

fn default_log_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_log_flush_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_log_max_buffered_bytes() -> usize {
    256 << 20
}

/// An Elasticsearch (7, 8) or OpenSearch (1, 2) cluster holding logs in daily
/// indices `<index_prefix>-YYYY.MM.DD`, with KubeSphere's field names by default.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchConfig {
    pub url: String,
    #[serde(default = "default_es_index_prefix")]
    pub index_prefix: String,
    /// Basic authentication.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// API key authentication (`Authorization: ApiKey <key>`), the base64 form.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default = "default_backend_timeout", with = "crate::duration")]
    pub timeout: Duration,
    /// Field names in the documents.
    #[serde(default)]
    pub fields: ElasticsearchFields,
}

fn default_es_index_prefix() -> String {
    "ks-logstash-log".into()
}

/// Document field names (KubeSphere's Fluent Bit pipeline by default).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ElasticsearchFields {
    pub time: String,
    pub log: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub docker_id: String,
    /// Suffix of the exact-match sub-field of text fields (`.keyword`; empty for keyword mappings).
    pub keyword_suffix: String,
}

impl Default for ElasticsearchFields {
    fn default() -> Self {
        Self {
            time: "time".into(),
            log: "log".into(),
            namespace: "kubernetes.namespace_name".into(),
            pod: "kubernetes.pod_name".into(),
            container: "kubernetes.container_name".into(),
            docker_id: "kubernetes.docker_id".into(),
            keyword_suffix: ".keyword".into(),
        }
    }
}

/// Rule evaluation and sending alerts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Evaluate the rules shipped in the binary (`alert-rules/`).
    #[serde(default = "default_true")]
    pub builtin_rules: bool,
    /// Evaluate kube-events' default event rules (`alert-rules/records/kube-events.yaml`).
    #[serde(default = "default_true")]
    pub builtin_event_rules: bool,
    /// Evaluate the built-in audit rules (`alert-rules/records/audit.yaml`).
    #[serde(default = "default_true")]
    pub builtin_audit_rules: bool,
    /// Most keys (alert label sets) an event or audit rule's threshold
    /// windows hold; the least recently matched are dropped first.
    #[serde(default = "default_record_rule_max_keys")]
    pub record_rule_max_keys: usize,
    /// Operator rule files (Prometheus format).
    #[serde(default)]
    pub rule_files: Vec<std::path::PathBuf>,
    /// Alertmanagers to send alerts to (`POST <url>/api/v2/alerts`).
    #[serde(default)]
    pub alertmanagers: Vec<String>,
    /// The URL Periscope is reached at (`$externalURL`, `generatorURL`).
    #[serde(default)]
    pub external_url: Option<String>,
    /// Labels added to every alert that lacks them.
    #[serde(default)]
    pub external_labels: std::collections::BTreeMap<String, String>,
    /// How often a firing or resolved alert is re-sent.
    #[serde(default = "default_resend_delay", with = "crate::duration")]
    pub resend_delay: Duration,
    /// Where alert state is kept across restarts.
    #[serde(default)]
    pub data_dir: Option<std::path::PathBuf>,
    /// The cluster whose Prometheus evaluates the rules (default: the first).
    #[serde(default)]
    pub cluster: Option<String>,
    /// Write recording rule results back to the cluster's Prometheus through
    /// its remote-write receiver (`/api/v1/write`; Prometheus needs
    /// `--web.enable-remote-write-receiver`).
    #[serde(default)]
    pub remote_write: bool,
    /// Periscope's own notification routing: an Alertmanager-format file
    /// (`route`, `receivers` with `webhook_configs`, `inhibit_rules`).
    #[serde(default)]
    pub notifications: Option<std::path::PathBuf>,
}

fn default_true() -> bool {
    true
}
fn default_record_rule_max_keys() -> usize {
    10_000
}
fn default_resend_delay() -> Duration {
    Duration::from_secs(60)
}

/// The drill-down monitoring API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// A named-metric catalog file replacing the built-in one.
    #[serde(default)]
    pub catalog: Option<std::path::PathBuf>,
    /// Most named metrics evaluated by one Prometheus query.
    #[serde(default = "default_metrics_per_query")]
    pub metrics_per_query: usize,
    /// Most Prometheus queries one drill-down request runs at the same time.
    #[serde(default = "default_parallel_queries")]
    pub parallel_queries: usize,
    /// How long an evaluated drill-down query is shared with viewers asking
    /// the same (after enforcement, so only with the same scope); a page
    /// without `time` may get the latest data of up to this long ago. Zero
    /// shares nothing.
    #[serde(default = "default_shared_results_ttl", with = "crate::duration")]
    pub shared_results_ttl: Duration,
    /// Most evaluated queries kept for sharing.
    #[serde(default = "default_shared_results_capacity")]
    pub shared_results_capacity: usize,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self {
            catalog: None,
            metrics_per_query: default_metrics_per_query(),
            parallel_queries: default_parallel_queries(),
            shared_results_ttl: default_shared_results_ttl(),
            shared_results_capacity: default_shared_results_capacity(),
        }
    }
}

// Measured (docs/benchmarks.md): Prometheus evaluates one query on one core,
// so merging many metrics into one query serialises them; a few per query and
// several queries at once is fastest.
fn default_metrics_per_query() -> usize {
    2
}
fn default_parallel_queries() -> usize {
    8
}
/// A common scrape interval: viewers within it see the same data anyway.
fn default_shared_results_ttl() -> Duration {
    Duration::from_secs(15)
}
fn default_shared_results_capacity() -> usize {
    4096
}

/// Listen addresses and request-size bounds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_http_listen")]
    pub http_listen: String,
    #[serde(default = "default_grpc_listen")]
    pub grpc_listen: String,
    /// Largest accepted request body, in bytes.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// A listener for OTLP/gRPC only (4317 by convention); OTLP is always
    /// served on `grpc_listen` too.
    #[serde(default)]
    pub otlp_grpc_listen: Option<String>,
    /// A listener for OTLP/HTTP only (4318 by convention); OTLP is always
    /// served on `http_listen` too.
    #[serde(default)]
    pub otlp_http_listen: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen: default_http_listen(),
            grpc_listen: default_grpc_listen(),
            max_body_bytes: default_max_body_bytes(),
            otlp_grpc_listen: None,
            otlp_http_listen: None,
        }
    }
}

fn default_http_listen() -> String {
    "127.0.0.1:9480".into()
}
fn default_grpc_listen() -> String {
    "127.0.0.1:9481".into()
}
fn default_max_body_bytes() -> usize {
    1 << 20
}

/// One Kubernetes cluster and the backends that hold its signals.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub name: String,
    pub prometheus: PrometheusConfig,
    /// The cluster's log backend; absent means the embedded store when
    /// `[storage]` is configured, else no logs.
    #[serde(default)]
    pub logs: Option<LogsConfig>,
    /// The cluster's trace backend; absent means the embedded store when
    /// `[storage]` is configured, else no traces.
    #[serde(default)]
    pub traces: Option<TracesConfig>,
    /// The names of the span metrics in its Prometheus, for the drill-down's
    /// service level (default: Tempo's, which Periscope generates).
    #[serde(default)]
    pub span_metrics_names: Option<SpanMetricNamesConfig>,
    /// Where its Kubernetes events are kept; absent means the embedded store
    /// when `[storage]` is configured, else no events service.
    #[serde(default)]
    pub events: Option<RecordsConfig>,
    /// Where its audit records are kept, like `events`.
    #[serde(default)]
    pub audit: Option<RecordsConfig>,
}

/// Where a cluster's events or audit records are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum RecordsConfig {
    /// Periscope's own store, like the embedded log store.
    Embedded(EmbeddedLogsConfig),
    /// An Elasticsearch or OpenSearch cluster, in KubeSphere's layout.
    Elasticsearch(Box<RecordsElasticsearchConfig>),
}

/// Events or audit records in Elasticsearch/OpenSearch: daily indices
/// `<index_prefix>-YYYY.MM.DD` (default KubeSphere's: `ks-logstash-events`,
/// `ks-logstash-auditing`), read and written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsElasticsearchConfig {
    pub url: String,
    #[serde(default)]
    pub index_prefix: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// API key authentication (`Authorization: ApiKey <key>`), the base64 form.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default = "default_backend_timeout", with = "crate::duration")]
    pub timeout: Duration,
}

/// Which names a cluster's span metrics have in its Prometheus: a preset,
/// each name overridable.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpanMetricNamesConfig {
    #[serde(default)]
    pub preset: SpanMetricsPreset,
    /// The calls counter.
    #[serde(default)]
    pub calls: Option<String>,
    /// The latency histogram's `_bucket` series.
    #[serde(default)]
    pub latency_bucket: Option<String>,
    /// The label holding the service name.
    #[serde(default)]
    pub service_label: Option<String>,
    /// The label holding the span (operation) name.
    #[serde(default)]
    pub span_name_label: Option<String>,
    /// The latency histogram's unit.
    #[serde(default)]
    pub latency_unit: Option<LatencyUnit>,
}

/// Where span metrics come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpanMetricsPreset {
    /// Tempo's metrics-generator, and Periscope's own generator:
    /// `traces_spanmetrics_calls_total{service, span_name}`, latency in seconds.
    #[default]
    Tempo,
    /// The OpenTelemetry Collector's spanmetrics connector:
    /// `traces_span_metrics_calls_total{service_name, span_name}`,
    /// `traces_span_metrics_duration_milliseconds_bucket`.
    OtelCollector,
}

/// A latency histogram's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyUnit {
    Seconds,
    Milliseconds,
}

/// Where a cluster's spans are kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum TracesConfig {
    /// Periscope's own store, like the embedded log store.
    Embedded(EmbeddedLogsConfig),
    /// A Jaeger query service, read through its api_v3 HTTP API.
    Jaeger(JaegerConfig),
}

/// A Jaeger query service (v2, or v1.x with api_v3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JaegerConfig {
    /// Its query HTTP address, e.g. `http://jaeger-query:16686`.
    pub url: String,
    /// Upper bound of one request to it.
    #[serde(default = "default_jaeger_timeout", with = "crate::duration")]
    pub timeout: Duration,
    /// Which of its HTTP APIs to read: `v3` (api_v3, Jaeger 1.50+ and v2) or
    /// `v1` (the internal API older versions serve).
    #[serde(default)]
    pub api: JaegerApi,
}

/// A Jaeger query HTTP API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JaegerApi {
    #[default]
    V3,
    V1,
}

fn default_jaeger_timeout() -> Duration {
    Duration::from_secs(30)
}

/// Where a cluster's Prometheus (or Thanos Query) answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    pub url: String,
    /// Upper bound for any single request to this Prometheus.
    #[serde(default = "default_backend_timeout", with = "crate::duration")]
    pub timeout: Duration,
    /// Where generated series are written (recording rules, span metrics);
    /// default `<url>/api/v1/write` (Prometheus needs
    /// `--web.enable-remote-write-receiver`).
    #[serde(default)]
    pub remote_write_url: Option<String>,
}

impl PrometheusConfig {
    /// The remote-write endpoint of this Prometheus.
    pub fn remote_write(&self) -> String {
        self.remote_write_url
            .clone()
            .unwrap_or_else(|| format!("{}/api/v1/write", self.url.trim_end_matches('/')))
    }
}

fn default_backend_timeout() -> Duration {
    Duration::from_secs(30)
}

/// A workspace: a named set of namespaces that tenants are granted together.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceConfig {
    pub name: String,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sees the whole cluster, unrewritten.
    ClusterAdmin,
    /// Sees the namespaces of its workspaces.
    WorkspaceViewer,
    /// Sees the namespaces listed for it.
    NamespaceViewer,
}

/// A user or service account, identified by the SHA-256 of its bearer token.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalConfig {
    pub name: String,
    /// Lower-case hex SHA-256 of the bearer token. The token itself never appears here.
    pub token_sha256: String,
    pub role: Role,
    #[serde(default)]
    pub workspaces: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Overrides of the global `[limits]` for this principal.
    #[serde(default)]
    pub limits: LimitsOverride,
}

/// Live workspace membership read from kube-state-metrics' namespace labels.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceDiscoveryConfig {
    /// Cluster whose Prometheus is asked (default: the default cluster).
    #[serde(default)]
    pub cluster: Option<String>,
    /// The metric carrying namespace labels.
    #[serde(default = "default_discovery_metric")]
    pub metric: String,
    /// The label on that metric naming the workspace (kube-state-metrics turns the
    /// namespace label `kubesphere.io/workspace` into `label_kubesphere_io_workspace`).
    #[serde(default = "default_discovery_label")]
    pub workspace_label: String,
    #[serde(default = "default_discovery_interval", with = "crate::duration")]
    pub refresh_interval: Duration,
}

fn default_discovery_metric() -> String {
    "kube_namespace_labels".into()
}
fn default_discovery_label() -> String {
    "label_kubesphere_io_workspace".into()
}
fn default_discovery_interval() -> Duration {
    Duration::from_secs(60)
}

/// Per-principal query limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Most points one series may have in a range query ((end-start)/step + 1).
    #[serde(default = "default_max_points")]
    pub max_points_per_series: u64,
    /// Longest time range of a range query, a range selector or a subquery.
    #[serde(default = "default_max_range", with = "crate::duration")]
    pub max_range: Duration,
    /// Most points a subquery may evaluate per series (range / step).
    #[serde(default = "default_max_points")]
    pub max_subquery_points: u64,
    /// Upper bound of a query's evaluation time, forwarded to Prometheus.
    #[serde(default = "default_query_timeout", with = "crate::duration")]
    pub query_timeout: Duration,
    /// Queries one principal may have in flight at once.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_queries: u32,
    /// Shortest evaluation interval of a tenant's rule group.
    #[serde(default = "default_min_rule_interval", with = "crate::duration")]
    pub min_rule_interval: Duration,
    /// Most rules in one tenant rule group.
    #[serde(default = "default_max_rules_per_group")]
    pub max_rules_per_group: usize,
    /// Most rule groups one namespace, workspace or the cluster level may hold.
    #[serde(default = "default_max_rule_groups")]
    pub max_rule_groups: usize,
    /// Largest text of one rule group.
    #[serde(default = "default_max_rule_group_bytes")]
    pub max_rule_group_bytes: usize,
    /// Most webhook receivers of one namespace.
    #[serde(default = "default_max_receivers")]
    pub max_receivers: usize,
    /// Largest body of one receiver.
    #[serde(default = "default_max_object_bytes")]
    pub max_receiver_bytes: usize,
    /// Most silences not yet expired that match one namespace.
    #[serde(default = "default_max_silences")]
    pub max_silences: usize,
    /// Largest body of one silence.
    #[serde(default = "default_max_object_bytes")]
    pub max_silence_bytes: usize,
    /// Most lines one LogQL log query returns (its `limit`).
    #[serde(default = "default_max_log_lines")]
    pub max_log_lines: usize,
    /// Most series one LogQL metric query, series or volume answer holds.
    #[serde(default = "default_max_log_series")]
    pub max_log_series: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_points_per_series: default_max_points(),
            max_range: default_max_range(),
            max_subquery_points: default_max_points(),
            query_timeout: default_query_timeout(),
            max_concurrent_queries: default_max_concurrent(),
            min_rule_interval: default_min_rule_interval(),
            max_rules_per_group: default_max_rules_per_group(),
            max_rule_groups: default_max_rule_groups(),
            max_rule_group_bytes: default_max_rule_group_bytes(),
            max_receivers: default_max_receivers(),
            max_receiver_bytes: default_max_object_bytes(),
            max_silences: default_max_silences(),
            max_silence_bytes: default_max_object_bytes(),
            max_log_lines: default_max_log_lines(),
            max_log_series: default_max_log_series(),
        }
    }
}

fn default_max_log_lines() -> usize {
    5000
}
fn default_max_log_series() -> usize {
    500
}

fn default_max_points() -> u64 {
    11_000
}
fn default_max_range() -> Duration {
    Duration::from_secs(32 * 24 * 3600)
}
fn default_query_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_concurrent() -> u32 {
    20
}
fn default_min_rule_interval() -> Duration {
    Duration::from_secs(30)
}
fn default_max_rules_per_group() -> usize {
    100
}
fn default_max_rule_groups() -> usize {
    50
}
fn default_max_rule_group_bytes() -> usize {
    64 << 10
}
fn default_max_receivers() -> usize {
    20
}
fn default_max_silences() -> usize {
    100
}
fn default_max_object_bytes() -> usize {
    4 << 10
}

/// Per-principal overrides; each unset field keeps the global value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    #[serde(default)]
    pub max_points_per_series: Option<u64>,
    #[serde(
        default,
        with = "crate::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_range: Option<Duration>,
    #[serde(default)]
    pub max_subquery_points: Option<u64>,
    #[serde(
        default,
        with = "crate::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub query_timeout: Option<Duration>,
    #[serde(default)]
    pub max_concurrent_queries: Option<u32>,
    #[serde(
        default,
        with = "crate::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_rule_interval: Option<Duration>,
    #[serde(default)]
    pub max_rules_per_group: Option<usize>,
    #[serde(default)]
    pub max_rule_groups: Option<usize>,
    #[serde(default)]
    pub max_rule_group_bytes: Option<usize>,
    #[serde(default)]
    pub max_receivers: Option<usize>,
    #[serde(default)]
    pub max_receiver_bytes: Option<usize>,
    #[serde(default)]
    pub max_silences: Option<usize>,
    #[serde(default)]
    pub max_silence_bytes: Option<usize>,
    #[serde(default)]
    pub max_log_lines: Option<usize>,
    #[serde(default)]
    pub max_log_series: Option<usize>,
}

impl Limits {
    /// These limits with `o`'s set fields taking precedence.
    pub fn with_override(&self, o: &LimitsOverride) -> Limits {
        Limits {
            max_points_per_series: o
                .max_points_per_series
                .unwrap_or(self.max_points_per_series),
            max_range: o.max_range.unwrap_or(self.max_range),
            max_subquery_points: o.max_subquery_points.unwrap_or(self.max_subquery_points),
            query_timeout: o.query_timeout.unwrap_or(self.query_timeout),
            max_concurrent_queries: o
                .max_concurrent_queries
                .unwrap_or(self.max_concurrent_queries),
            min_rule_interval: o.min_rule_interval.unwrap_or(self.min_rule_interval),
            max_rules_per_group: o.max_rules_per_group.unwrap_or(self.max_rules_per_group),
            max_rule_groups: o.max_rule_groups.unwrap_or(self.max_rule_groups),
            max_rule_group_bytes: o.max_rule_group_bytes.unwrap_or(self.max_rule_group_bytes),
            max_receivers: o.max_receivers.unwrap_or(self.max_receivers),
            max_receiver_bytes: o.max_receiver_bytes.unwrap_or(self.max_receiver_bytes),
            max_silences: o.max_silences.unwrap_or(self.max_silences),
            max_silence_bytes: o.max_silence_bytes.unwrap_or(self.max_silence_bytes),
            max_log_lines: o.max_log_lines.unwrap_or(self.max_log_lines),
            max_log_series: o.max_log_series.unwrap_or(self.max_log_series),
        }
    }
}

/// PromQL admission: size bounds, extra functions and the metric policy table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PromqlConfig {
    /// Longest accepted query text, checked before parsing.
    #[serde(default = "default_max_query_bytes")]
    pub max_query_bytes: usize,
    /// Deepest accepted nesting of parentheses, brackets and braces, checked before parsing.
    #[serde(default = "default_max_nesting_depth")]
    pub max_nesting_depth: usize,
    /// Most operators (characters such as `+`, `=`, `!` and keywords such as
    /// `and`) in one query, checked before parsing: the parser recurses per operator.
    #[serde(default = "default_max_operators")]
    pub max_operators: usize,
    /// Functions allowed on top of the built-in list (e.g. experimental ones).
    #[serde(default)]
    pub extra_functions: Vec<String>,
    /// Rules consulted in order before the built-in policy; first match wins.
    #[serde(default)]
    pub metric_policy: Vec<MetricPolicyRule>,
    /// Label that carries a series' namespace unless a policy rule says otherwise.
    #[serde(default = "default_scope_label")]
    pub scope_label: String,
}

impl Default for PromqlConfig {
    fn default() -> Self {
        Self {
            max_query_bytes: default_max_query_bytes(),
            max_nesting_depth: default_max_nesting_depth(),
            max_operators: default_max_operators(),
            extra_functions: Vec::new(),
            metric_policy: Vec::new(),
            scope_label: default_scope_label(),
        }
    }
}

fn default_max_query_bytes() -> usize {
    16 * 1024
}
fn default_max_nesting_depth() -> usize {
    64
}
fn default_max_operators() -> usize {
    256
}
fn default_scope_label() -> String {
    "namespace".into()
}

/// How series of the metrics matching `metric` (an anchored regex over the metric
/// name) are exposed to scoped principals.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricPolicyRule {
    pub metric: String,
    pub access: MetricAccess,
    /// For `scoped`: the label holding the namespace (e.g. `exported_namespace`).
    #[serde(default)]
    pub label: Option<String>,
}

/// Visibility class of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricAccess {
    /// Visible to everyone, unfiltered.
    Public,
    /// Visible only to cluster-wide principals.
    Cluster,
    /// Filtered to the principal's namespaces.
    Scoped,
}
