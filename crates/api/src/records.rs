//! Each cluster's events and audit backends, chosen by configuration (the
//! embedded store by default), and the settings the audit service applies.

use crate::embedded::{open_failed, store_options};
use crate::state::{AppState, Caller};
use periscope_alerting::records::{Evaluated, RecordRules};
use periscope_audit::{AuditBackend, AuditRequest, BodyVisibility, Redaction};
use periscope_audit_store::AuditStore;
use periscope_backend_elasticsearch::{
    AuditLayout, ConnectionConfig, ElasticsearchRecords, EventLayout,
};
use periscope_config::{AuditBodies, Config, RecordsConfig, RecordsElasticsearchConfig};
use periscope_event_store::EventStore;
use periscope_events::{EventBackend, EventRequest};
use periscope_model::Result;
use periscope_model::Scope;
use periscope_record_search::{answer, Answer, Ingested, RecordBackend};
use periscope_store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The events and audit services' backends.
#[derive(Default)]
pub(crate) struct RecordBackends {
    pub events: BTreeMap<String, Arc<EventBackend>>,
    pub audit: BTreeMap<String, Arc<AuditBackend>>,
    /// The embedded stores among them, whose background tasks must run.
    pub stores: Vec<Arc<Store>>,
    /// Bodies removed from audit records before storage.
    pub redaction: Redaction,
    /// What of the stored bodies tenants see.
    pub tenant_bodies: BodyVisibility,
}

impl RecordBackends {
    /// Opens the backends of the services this process runs.
    pub fn open(config: &Config, events: bool, audit: bool) -> Result<RecordBackends> {
        let mut backends = RecordBackends {
            redaction: Redaction {
                resources: config
                    .audit
                    .redact_resources
                    .iter()
                    .cloned()
                    .chain(["secrets".to_string()])
                    .collect(),
            },
            tenant_bodies: match config.audit.tenant_bodies {
                AuditBodies::None => BodyVisibility::None,
                AuditBodies::Request => BodyVisibility::Request,
                AuditBodies::RequestResponse => BodyVisibility::RequestResponse,
            },
            ..Default::default()
        };
        for cluster in &config.clusters {
            if let Some(configured) = config.events_backend(cluster).filter(|_| events) {
                let backend: Arc<EventBackend> = match configured {
                    RecordsConfig::Embedded(e) => {
                        let options = store_options(&e);
                        let store = EventStore::open(options.clone()).map_err(|err| {
                            open_failed("event", &cluster.name, &options.dir, &err)
                        })?;
                        backends.stores.push(Arc::clone(store.store()));
                        Arc::new(store)
                    }
                    RecordsConfig::Elasticsearch(es) => {
                        Arc::new(ElasticsearchRecords::<EventLayout>::new(
                            &connection(&es),
                            es.index_prefix.as_deref(),
                        )?)
                    }
                };
                backends.events.insert(cluster.name.clone(), backend);
            }
            if let Some(configured) = config.audit_backend(cluster).filter(|_| audit) {
                let backend: Arc<AuditBackend> = match configured {
                    RecordsConfig::Embedded(e) => {
                        let options = store_options(&e);
                        let store = AuditStore::open(options.clone()).map_err(|err| {
                            open_failed("audit", &cluster.name, &options.dir, &err)
                        })?;
                        backends.stores.push(Arc::clone(store.store()));
                        Arc::new(store)
                    }
                    RecordsConfig::Elasticsearch(es) => {
                        Arc::new(ElasticsearchRecords::<AuditLayout>::new(
                            &connection(&es),
                            es.index_prefix.as_deref(),
                        )?)
                    }
                };
                backends.audit.insert(cluster.name.clone(), backend);
            }
        }
        Ok(backends)
    }
}

/// The connection settings of an events or audit Elasticsearch.
fn connection(es: &RecordsElasticsearchConfig) -> ConnectionConfig {
    ConnectionConfig {
        url: es.url.clone(),
        username: es.username.clone(),
        password: es.password.clone(),
        api_key: es.api_key.clone(),
        timeout: es.timeout,
    }
}

/// The cluster a search is about: the path's, else KubeSphere 4's `cluster`
/// parameter, else the default.
fn cluster_of<'a>(named: Option<&'a str>, pairs: &'a [(String, String)]) -> Option<&'a str> {
    named.filter(|c| !c.is_empty()).or_else(|| {
        pairs
            .iter()
            .find(|(k, _)| k == "cluster")
            .map(|(_, v)| v.as_str())
    })
}

impl AppState {
    /// Stores events, evaluating the event rules on them when this process
    /// runs the alerting service: what they match counts once the write is
    /// durable (a failed write counts nothing).
    pub(crate) async fn store_events(
        &self,
        backend: &EventBackend,
        records: Vec<periscope_events::EventRecord>,
    ) -> Result<Ingested> {
        self.store_with_rules(backend, records, RecordRules::evaluate_events)
            .await
    }

    /// Stores audit records, evaluating the audit rules on them (as
    /// [`AppState::store_events`]).
    pub(crate) async fn store_audit(
        &self,
        backend: &AuditBackend,
        records: Vec<periscope_audit::AuditRecord>,
    ) -> Result<Ingested> {
        self.store_with_rules(backend, records, RecordRules::evaluate_audit)
            .await
    }

    async fn store_with_rules<B: RecordBackend + ?Sized>(
        &self,
        backend: &B,
        records: Vec<B::Record>,
        evaluate: fn(&RecordRules, &[B::Record]) -> Evaluated,
    ) -> Result<Ingested> {
        let rules = self.alerting.get().map(|a| &a.records);
        let evaluated = rules.map(|r| evaluate(r, &records));
        let stored = backend.ingest(records).await?;
        if let (Some(rules), Some(evaluated)) = (rules, evaluated) {
            rules.commit(evaluated);
        }
        Ok(stored)
    }

    /// Answers an event search given as KubeSphere's parameters.
    pub(crate) async fn event_search(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        pairs: &[(String, String)],
    ) -> Result<Answer> {
        let (slot, timeout) = self.query_slot(caller)?;
        self.event_answer(caller, cluster_of(cluster, pairs), pairs, timeout, slot)
            .await
    }

    /// Answers `GET .../namespaces/{ns}/events?for=kind/name&types=...`.
    pub(crate) async fn object_events(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        namespace: &str,
        pairs: &[(String, String)],
    ) -> Result<Answer> {
        let backend = std::sync::Arc::clone(self.event_backend(cluster)?);
        let request = EventRequest::for_namespace(
            namespace,
            pairs,
            &caller.scope,
            periscope_store::unix_now_ns(),
        )?;
        let (slot, timeout) = self.query_slot(caller)?;
        answer(backend, request.filter, request.search, true, timeout, slot).await
    }

    /// Answers an auditing search given as KubeSphere's parameters, and what
    /// of the records' bodies the caller may see.
    pub(crate) async fn audit_search(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        pairs: &[(String, String)],
    ) -> Result<(Answer, BodyVisibility)> {
        let (slot, timeout) = self.query_slot(caller)?;
        self.audit_answer(caller, cluster_of(cluster, pairs), pairs, timeout, slot)
            .await
    }

    /// An event search (KubeSphere's parameters) scoped to the caller; `slot`
    /// is held until the answer is complete (`()` for a caller that already
    /// holds its query slot, such as a LogQL query reading events).
    pub(crate) async fn event_answer<S: Send + 'static>(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        pairs: &[(String, String)],
        timeout: std::time::Duration,
        slot: S,
    ) -> Result<Answer> {
        let backend = std::sync::Arc::clone(self.event_backend(cluster)?);
        let membership = self.scopes.membership();
        let request = EventRequest::parse(
            pairs,
            &caller.scope,
            &membership,
            periscope_store::unix_now_ns(),
        )?;
        let visible = !request.filter.namespaces.is_empty();
        answer(
            backend,
            request.filter,
            request.search,
            visible,
            timeout,
            slot,
        )
        .await
    }

    /// An auditing search scoped to the caller, and what of the bodies it
    /// may see (`slot` as for [`AppState::event_answer`]).
    pub(crate) async fn audit_answer<S: Send + 'static>(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        pairs: &[(String, String)],
        timeout: std::time::Duration,
        slot: S,
    ) -> Result<(Answer, BodyVisibility)> {
        let backend = std::sync::Arc::clone(self.audit_backend(cluster)?);
        let membership = self.scopes.membership();
        let request = AuditRequest::parse(
            pairs,
            &caller.scope,
            &membership,
            periscope_store::unix_now_ns(),
        )?;
        let visible = !request.filter.namespaces.is_empty();
        let answer = answer(
            backend,
            request.filter,
            request.search,
            visible,
            timeout,
            slot,
        )
        .await?;
        Ok((answer, self.audit_bodies(caller)))
    }

    /// What of audit records' bodies `caller` may see: cluster admins all
    /// that is stored, tenants what is configured.
    fn audit_bodies(&self, caller: &Caller) -> BodyVisibility {
        match caller.scope {
            Scope::ClusterWide => BodyVisibility::RequestResponse,
            Scope::Namespaces(_) => self.records.tenant_bodies,
        }
    }
}
