//! The alerting service inside the API: the rule engine (built-in, operator
//! and tenant rule groups, evaluated by the cluster's Prometheus, tenant
//! groups confined to their namespaces by the PromQL enforcement), reloads,
//! and the Prometheus-shaped rules and alerts answers.

mod api_shape;

pub(crate) use api_shape::{alerts_data, rules_data, RuleFilter, Visibility};

use crate::query::decode_query;
use crate::state::AppState;
use periscope_alerting::notify::{Dispatcher, NotificationConfig, Outbox, Silences};
use periscope_alerting::records::{RecordGroupSource, RecordRules};
use periscope_alerting::tenant::{TenantReceiverStore, TenantRuleStore};
use periscope_alerting::{
    builtin_groups, builtin_record_groups, parse_rule_file, Engine, EngineConfig, QueryFn,
    RemoteWriter, RuleGroup, TenantLevel,
};
use periscope_backend_prometheus::{Method, PrometheusClient, QueryData};
use periscope_config::AlertingConfig;
use periscope_model::{Error, Result, Scope};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};

/// How long one rule query may take.
const RULE_QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The running alerting service.
pub(crate) struct AlertingService {
    pub engine: Arc<Engine>,
    /// Periscope's notification pipeline and its durable outbox.
    pub dispatcher: Arc<Dispatcher>,
    pub outbox: Arc<Outbox>,
    pub silences: Arc<Silences>,
    pub receivers: TenantReceiverStore,
    config: AlertingConfig,
    /// Built-in and operator groups (what a reload re-reads).
    static_groups: Mutex<Vec<RuleGroup>>,
    /// The built-in event and audit groups.
    builtin_record_groups: Vec<RecordGroupSource>,
    /// Event and audit rules: what the ingest paths evaluate records against.
    pub records: Arc<RecordRules>,
    pub tenant: TenantRuleStore,
}

impl AlertingService {
    /// The service `state`'s configuration describes (none without an
    /// `[alerting]` section). Rule queries go through `state` weakly, so the
    /// engine never keeps the state alive.
    pub(crate) fn build(state: &Arc<AppState>) -> Result<Option<Self>> {
        let Some(config) = state.config.alerting.clone() else {
            return Ok(None);
        };
        let static_groups = read_static_groups(&config)?;
        let tenant = TenantRuleStore::open(config.data_dir.as_deref())?;
        let cluster = match &config.cluster {
            Some(name) => state.config.clusters.iter().find(|c| &c.name == name),
            None => state.config.clusters.first(),
        }
        .ok_or_else(|| Error::bad_request("alerting: no cluster to evaluate rules against"))?;
        let prometheus = PrometheusClient::new(&cluster.prometheus.url, RULE_QUERY_TIMEOUT)?;
        let external_url = config
            .external_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", state.config.server.http_listen));
        let records = Arc::new(RecordRules::new(
            config.data_dir.clone(),
            config.record_rule_max_keys,
            membership_fn(Arc::downgrade(state)),
        ));
        let builtin_record_groups = builtin_record_groups(|file| match file {
            "kube-events.yaml" => config.builtin_event_rules,
            "audit.yaml" => config.builtin_audit_rules,
            _ => true,
        });
        let mut groups = static_groups.clone();
        groups.extend(tenant.groups());
        groups.extend(install_record_groups(
            &records,
            &builtin_record_groups,
            &tenant,
        ));
        let notifications = match &config.notifications {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::bad_request(format!(
                        "alerting.notifications: cannot read {}: {e}",
                        path.display()
                    ))
                })?;
                Some(NotificationConfig::parse(&text).map_err(|e| {
                    Error::bad_request(format!("alerting.notifications {}: {e}", path.display()))
                })?)
            }
        };
        let outbox = Arc::new(
            Outbox::open(config.data_dir.as_deref())
                .map_err(|e| Error::internal(format!("alerting outbox: {e}")))?,
        );
        let silences = Arc::new(
            Silences::open(config.data_dir.as_deref())
                .map_err(|e| Error::internal(format!("alerting silences: {e}")))?,
        );
        let dispatcher = Arc::new(
            Dispatcher::new(
                notifications,
                Arc::clone(&silences),
                Arc::clone(&outbox),
                external_url.clone(),
                config.data_dir.clone(),
            )
            .map_err(|e| Error::internal(format!("alerting notifications: {e}")))?,
        );
        let receivers = TenantReceiverStore::open(config.data_dir.as_deref())?;
        dispatcher.set_tenant_receivers(receivers.list());
        report_limit_problems(state, &tenant, &receivers, &silences);
        let engine = Engine::new(
            groups,
            EngineConfig {
                resend_delay: config.resend_delay,
                external_url,
                external_labels: config.external_labels.clone(),
                alertmanagers: config.alertmanagers.clone(),
                data_dir: config.data_dir.clone(),
                dispatcher: Some(Arc::clone(&dispatcher)),
                remote_write: if config.remote_write {
                    let url = cluster.prometheus.remote_write();
                    Some(Arc::new(RemoteWriter::new(&url).map_err(Error::internal)?))
                } else {
                    None
                },
            },
            query_fn(Arc::downgrade(state), prometheus),
        )
        .map_err(|e| Error::bad_request(format!("alerting: {e}")))?;
        Ok(Some(Self {
            engine: Arc::new(engine),
            dispatcher,
            outbox,
            silences,
            receivers,
            config,
            static_groups: Mutex::new(static_groups),
            builtin_record_groups,
            records,
            tenant,
        }))
    }

    /// Re-reads the operator's rule files (a bad file leaves the running
    /// rules as they are) and applies them.
    pub(crate) fn reload(&self) -> Result<()> {
        let groups = read_static_groups(&self.config)?;
        *self.static_groups.lock().unwrap_or_else(|e| e.into_inner()) = groups;
        self.apply();
        tracing::info!("alerting rules reloaded");
        Ok(())
    }

    /// Hands the engine the current static and tenant groups.
    pub(crate) fn apply(&self) {
        let mut groups = self
            .static_groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        groups.extend(self.tenant.groups());
        groups.extend(install_record_groups(
            &self.records,
            &self.builtin_record_groups,
            &self.tenant,
        ));
        self.engine.replace_groups(groups);
    }
}

/// Installs the built-in and tenants' event and audit groups; returns them
/// as the engine's groups.
fn install_record_groups(
    records: &RecordRules,
    builtin: &[RecordGroupSource],
    tenant: &TenantRuleStore,
) -> Vec<RuleGroup> {
    let mut groups = builtin.to_vec();
    groups.extend(tenant.record_groups());
    records.install(groups)
}

/// The workspaces' namespaces as the tenancy layer knows them now (empty
/// once the state is gone).
fn membership_fn(state: Weak<AppState>) -> periscope_alerting::records::MembershipFn {
    Arc::new(move || match state.upgrade() {
        Some(state) => state.scopes.membership(),
        None => Arc::new(BTreeMap::new()),
    })
}

/// Logs every stored tenant object that breaks the limits now configured:
/// such objects are kept and used, and the operator is told.
fn report_limit_problems(
    state: &AppState,
    rules: &TenantRuleStore,
    receivers: &TenantReceiverStore,
    silences: &Silences,
) {
    let defaults = &state.config.limits;
    let limits_of = |author: Option<&str>| {
        state
            .config
            .principals
            .iter()
            .find(|p| Some(p.name.as_str()) == author)
            .map_or_else(|| defaults.clone(), |p| defaults.with_override(&p.limits))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let problems = rules
        .limit_problems(limits_of)
        .into_iter()
        .chain(receivers.limit_problems(defaults))
        .chain(silences.limit_problems(now, defaults.max_silences));
    for problem in problems {
        tracing::warn!(%problem, "stored alerting object breaks a configured limit; kept as it is");
    }
}

fn read_static_groups(config: &AlertingConfig) -> Result<Vec<RuleGroup>> {
    let mut groups = if config.builtin_rules {
        builtin_groups()
    } else {
        Vec::new()
    };
    for path in &config.rule_files {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::bad_request(format!(
                "alerting.rule_files: cannot read {}: {e}",
                path.display()
            ))
        })?;
        groups.extend(
            parse_rule_file(&path.display().to_string(), &text)
                .map_err(|e| Error::bad_request(format!("alerting.rule_files: {e}")))?,
        );
    }
    Ok(groups)
}

/// The namespaces a tenant level confines queries to (`None`: cluster-wide).
pub(crate) fn level_scope(state: &AppState, level: &TenantLevel) -> Result<Scope> {
    Ok(match level {
        TenantLevel::Cluster => Scope::ClusterWide,
        TenantLevel::Namespace(ns) => Scope::namespaces([ns.clone()]),
        TenantLevel::Workspace(ws) => {
            let membership = state.scopes.membership();
            let members = membership
                .get(ws)
                .filter(|m| !m.is_empty())
                .ok_or_else(|| Error::bad_request(format!("workspace {ws:?} has no namespaces")))?;
            Scope::namespaces(members.iter().cloned())
        }
    })
}

/// Workspaces whose every namespace is in `scope`.
pub(crate) fn visible_workspaces(state: &AppState, scope: &Scope) -> BTreeSet<String> {
    state
        .scopes
        .membership()
        .iter()
        .filter(|(_, members)| {
            !members.is_empty()
                && match scope {
                    Scope::ClusterWide => true,
                    Scope::Namespaces(set) => members.iter().all(|ns| set.contains(ns)),
                }
        })
        .map(|(ws, _)| ws.clone())
        .collect()
}

/// Rule queries: built-in and operator groups run cluster-wide; a tenant's
/// group runs rewritten into its level's namespaces.
fn query_fn(state: Weak<AppState>, prometheus: PrometheusClient) -> QueryFn {
    Arc::new(
        move |query: String, at_ms: i64, tenant: Option<TenantLevel>| {
            let prometheus = prometheus.clone();
            let state = state.upgrade();
            Box::pin(async move {
                let query = match (&tenant, &state) {
                    (None | Some(TenantLevel::Cluster), _) => query,
                    (Some(level), Some(state)) => {
                        let scope = level_scope(state, level).map_err(|e| e.to_string())?;
                        state
                            .enforcer
                            .enforce_query(&query, &scope, &state.config.limits)
                            .map_err(|e| e.to_string())?
                            .into_owned()
                    }
                    (Some(_), None) => return Err("shutting down".to_string()),
                };
                let params = vec![
                    ("query".to_string(), query),
                    ("time".to_string(), format!("{:.3}", at_ms as f64 / 1000.0)),
                ];
                let response = prometheus
                    .send(Method::Post, "/api/v1/query", &params, None)
                    .await
                    .map_err(|e| e.message().to_string())?;
                let status = response.status;
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| e.message().to_string())?;
                let decoded = decode_query(status, &body).map_err(|e| e.message().to_string())?;
                let parse = |v: &str| v.parse::<f64>().unwrap_or(f64::NAN);
                match decoded.data {
                    Some(QueryData::Vector(v)) => Ok(v
                        .into_iter()
                        .map(|s| (s.metric, parse(&s.value.1)))
                        .collect()),
                    Some(QueryData::Scalar(p)) => Ok(vec![(BTreeMap::new(), parse(&p.1))]),
                    _ => Err("rule result is not a vector or scalar".to_string()),
                }
            })
        },
    )
}
