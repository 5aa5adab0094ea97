//! Alerting: Prometheus rule groups (parsed and validated as Prometheus does),
//! the alert templates they carry, the built-in rules shipped in the binary,
//! the engine that evaluates them with Prometheus' semantics and sends their
//! alerts to Alertmanager, tenants' own rule groups and receivers, and rules
//! over event and audit records evaluated as they arrive ([`records`]).

mod builtin;
mod engine;
pub mod files;
mod format;
pub mod notify;
pub mod records;
mod rules;
mod state;
mod template;
pub mod tenant;

pub use builtin::{
    builtin_groups, builtin_record_groups, BUILTIN_RECORD_RULE_FILES, BUILTIN_RULE_FILES,
};
pub use engine::{Engine, EngineConfig, GroupStatus, Health, QueryFn, RuleStatus};
pub use format::rfc3339_ms;
pub use periscope_backend_prometheus::RemoteWriter;
pub use rules::{
    parse_rule_file, parse_rule_group, AlertingRule, RecordGroupInfo, RecordingRule, Rule,
    RuleErrors, RuleGroup, TenantLevel, DEFAULT_INTERVAL,
};
pub use state::{
    key_of, Alert, AlertState, Candidate, EvalError, Labels, Notification, RuleState,
    RESOLVED_RETENTION_MS,
};
pub use template::{Template, TemplateData};
