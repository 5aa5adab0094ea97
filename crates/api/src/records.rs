//! Each cluster's events and audit backends, chosen by configuration (the
//! embedded store by default), and the settings the audit service applies.

use crate::embedded::{open_failed, store_options};
use periscope_audit::{AuditBackend, BodyVisibility, Redaction};
use periscope_audit_store::AuditStore;
use periscope_config::{AuditBodies, Config, RecordsConfig};
use periscope_event_store::EventStore;
use periscope_events::EventBackend;
use periscope_model::Result;
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
            if events {
                if let Some(RecordsConfig::Embedded(e)) = config.events_backend(cluster) {
                    let options = store_options(&e);
                    let store = EventStore::open(options.clone())
                        .map_err(|err| open_failed("event", &cluster.name, &options.dir, &err))?;
                    let store = Arc::new(store);
                    backends.stores.push(Arc::clone(store.store()));
                    backends.events.insert(cluster.name.clone(), store);
                }
            }
            if audit {
                if let Some(RecordsConfig::Embedded(e)) = config.audit_backend(cluster) {
                    let options = store_options(&e);
                    let store = AuditStore::open(options.clone())
                        .map_err(|err| open_failed("audit", &cluster.name, &options.dir, &err))?;
                    let store = Arc::new(store);
                    backends.stores.push(Arc::clone(store.store()));
                    backends.audit.insert(cluster.name.clone(), store);
                }
            }
        }
        Ok(backends)
    }
}
